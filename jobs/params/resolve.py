"""Resolving a run's parameters: macros, static, secret, query and override
values (see jobs.params), and save-time checks of the parameter spec."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any

from jobs.errors import ValidationError
from jobs.params.mask import jsonable
from jobs.params.render import (
    _PLACEHOLDER,
    IDENTIFIER,
    ParameterError,
    UnresolvedParameter,
    _lookup,
    format_value,
    iter_strings,
    placeholders,
)

# --- resolving ---------------------------------------------------------------


def macros(job: Any, *, run_id: Any, attempt: int, now: datetime | None) -> dict[str, Any]:
    from django.utils import timezone

    from jobs.schedule import ScheduleError, get_zone

    try:
        zone = get_zone(job.timezone or "UTC")
    except ScheduleError as exc:
        raise UnresolvedParameter(f"job time zone: {exc}") from None
    local_now = (now or timezone.now()).astimezone(zone).replace(microsecond=0)
    return {
        "now": local_now,
        "today": local_now.date(),
        "yesterday": local_now.date() - timedelta(days=1),
        "run_id": str(run_id),
        "job_name": job.name,
        "attempt": attempt,
    }


def resolve_parameters(
    job: Any,
    overrides: dict[str, Any] | None = None,
    *,
    run_id: Any,
    attempt: int = 1,
    now: datetime | None = None,
) -> dict[str, Any]:
    """All parameter values for one attempt of `job` (see module docstring for
    the precedence). Runs the job's parameter queries (read-only, bounded by
    JOBS_PARAMETER_QUERY_TIMEOUT) and checks that every placeholder in the
    job's config has a value. Raises ParameterError — nothing has executed
    yet — naming the parameter and query that failed. Values may contain
    secrets: store `mask_parameters(job, params)`, never this dict."""
    from jobs.secrets import open_config

    overrides = dict(overrides or {})
    config = open_config(job)
    params = macros(job, run_id=run_id, attempt=attempt, now=now)
    params.update(job.parameters or {})
    params.update(config.get("secret_parameters") or {})
    for entry in job.parameter_queries or []:
        name = entry.get("name")
        if name in overrides:
            continue  # an explicit value beats a lookup; the query is not run
        params[name] = run_parameter_query(job, entry, params, config)
    params.update(overrides)
    for where, text in iter_strings({k: v for k, v in config.items() if k not in _NOT_TEMPLATES}):
        for name in placeholders(text):
            _lookup(params, name, where)
    return params


# Config keys whose strings are never templates (secrets store, connections).
_NOT_TEMPLATES = ("secret_parameters", "connections", "connection")


def run_parameter_query(
    job: Any, entry: dict[str, Any], params: dict[str, Any], config: dict[str, Any]
) -> Any:
    """The first column of the first row of one parameter query. Placeholders
    in the query are bound as query parameters, never spliced into SQL. The
    query runs in a transaction that is rolled back (a lookup changes nothing)."""
    from jobs.execution.redact import Redactor
    from jobs.execution.sqlcheck import UnsafeQuery, check_select
    from jobs.execution.sqlconn import SqlTarget, open_target

    name = entry.get("name", "?")
    query = entry.get("query") or ""
    shown = query if len(query) <= 200 else query[:197] + "…"
    cache_key = _cache_key(job, entry, params) if entry.get("cache") else None
    if cache_key:
        hit = _cache_get(cache_key)
        if hit is not _MISS:
            return hit
    try:
        target = SqlTarget.for_parameter_query(entry, config)
        with open_target(target, timeout=_query_timeout(job), read_only=True) as conn:
            # One SELECT in the dialect of the server reached: a second
            # statement (`SELECT 1; COMMIT; …`) would leave the read-only transaction.
            check_select(query, vendor=conn.vendor, markers="template")
            sql, values = bind_placeholders(query, params, conn.paramstyle)
            row = conn.fetch_first(sql, values)
    except (ParameterError, ValidationError, UnsafeQuery) as exc:  # the definition is wrong
        reason = getattr(exc, "message", None) or str(exc)
        raise UnresolvedParameter(
            f"parameter {name!r} from query {shown!r} failed: {reason}"
        ) from None
    except Exception as exc:  # the database's own error, whatever the driver
        message = Redactor.from_config(config).redact(_one_line(exc))
        raise ParameterError(f"parameter {name!r} from query {shown!r} failed: {message}") from None
    if row is None:
        raise UnresolvedParameter(
            f"parameter {name!r} from query {shown!r} failed: the query returned no rows"
        )
    if cache_key:
        _cache_set(cache_key, row[0], int(entry["cache"]))
    return row[0]


# Parameter-query results may be cached (`cache: seconds` on the entry) so a
# frequent job does not re-run the same lookup each time. The key covers the
# job, the query, its target name and the bound values; never a secret.
_MISS = object()
_CACHE_PREFIX = "jobwarden:paramq:"


def _cache_key(job: Any, entry: dict[str, Any], params: dict[str, Any]) -> str | None:
    import hashlib

    try:
        _, values = bind_placeholders(entry.get("query") or "", params, "qmark")
    except ParameterError:
        return None  # the real run reports it
    material = json.dumps(
        [
            job.name,
            entry.get("query"),
            entry.get("database"),
            entry.get("connection"),
            jsonable(values),
        ],
        sort_keys=True,
        default=str,
    )
    return _CACHE_PREFIX + hashlib.sha256(material.encode()).hexdigest()


def _redis():
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def _cache_get(key: str) -> Any:
    import redis

    try:
        raw = _redis().get(key)
    except redis.RedisError:
        return _MISS  # a cache outage only costs the lookup
    if raw is None:
        return _MISS
    kind, value = json.loads(raw)
    restore = {
        "datetime": datetime.fromisoformat,
        "date": date.fromisoformat,
        "time": dtime.fromisoformat,
        "decimal": Decimal,
    }
    return restore[kind](value) if kind in restore else value


def _cache_set(key: str, value: Any, seconds: int) -> None:
    import redis

    for kind, cls in (
        ("datetime", datetime),
        ("date", date),
        ("time", dtime),
        ("decimal", Decimal),
    ):
        if isinstance(value, cls):
            encoded = [kind, str(value) if kind == "decimal" else value.isoformat()]
            break
    else:
        encoded = ["json", jsonable(value)]
    with contextlib.suppress(redis.RedisError):
        _redis().set(key, json.dumps(encoded, default=str), ex=max(1, seconds))


def _query_timeout(job: Any) -> float:
    from django.conf import settings

    return max(1.0, min(float(settings.JOBS_PARAMETER_QUERY_TIMEOUT), float(job.timeout or 60)))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def bind_placeholders(query: str, params: dict[str, Any], paramstyle: str) -> tuple[str, list[Any]]:
    """`{Name}` → a bound parameter (`?` or `%s`), values in order."""
    token = "?" if paramstyle == "qmark" else "%s"
    values: list[Any] = []

    def sub(match: re.Match[str]) -> str:
        if match.group(1):
            return "{" + match.group(1) + "}"
        if match.group(3):
            values.append(format_value(_lookup(params, match.group(2), "query"), match.group(3)))
        else:
            values.append(_lookup(params, match.group(2), "query"))
        return token

    if paramstyle != "qmark":
        query = query.replace("%", "%%")
    return _PLACEHOLDER.sub(sub, query), values


def validate_parameter_spec(spec: dict[str, Any]) -> None:
    """Save-time checks of `parameters`, `parameter_queries` and
    `overridable_parameters` (any kind)."""
    parameters = spec.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ValidationError(
            "parameters must be an object of name: value", fields={"parameters": "not an object"}
        )
    for key in parameters:
        if not IDENTIFIER.match(str(key)):
            raise ValidationError(
                f"parameters: {key!r} is not a valid name (letters, digits, _)",
                fields={"parameters": key},
            )
    queries = spec.get("parameter_queries") or []
    if not isinstance(queries, list):
        raise ValidationError(
            "parameter_queries must be a list", fields={"parameter_queries": "not a list"}
        )
    connections = ((spec.get("config") or {}).get("connections")) or {}
    seen: set[str] = set()
    for i, entry in enumerate(queries):
        field = f"parameter_queries[{i}]"
        if not isinstance(entry, dict):
            raise ValidationError(
                f"{field} must be an object {{name, query, database|connection}}",
                fields={field: "not an object"},
            )
        unknown = set(entry) - {"name", "query", "database", "connection", "cache"}
        if unknown:
            raise ValidationError(
                f"{field}: unknown key(s) {', '.join(sorted(unknown))}",
                fields={field: "unknown key"},
            )
        name = entry.get("name")
        if not isinstance(name, str) or not IDENTIFIER.match(name) or name in seen:
            raise ValidationError(
                f"{field}.name: {name!r} must be a unique identifier",
                fields={f"{field}.name": "invalid"},
            )
        seen.add(name)
        if not isinstance(entry.get("query"), str) or not entry["query"].strip():
            raise ValidationError(
                f"{field}.query is required", fields={f"{field}.query": "required"}
            )
        _check_query_text(entry, field)
        cache = entry.get("cache")
        if cache is not None and (
            isinstance(cache, bool) or not isinstance(cache, int) or not 0 <= cache <= 86400
        ):
            raise ValidationError(
                f"{field}.cache: seconds to reuse the result, 0..86400",
                fields={f"{field}.cache": "invalid"},
            )
        if bool(entry.get("database")) == bool(entry.get("connection")):
            raise ValidationError(
                f"{field}: give exactly one of database (a Django alias) or connection "
                "(a name in config.connections)",
                fields={field: "database or connection"},
            )
        if entry.get("database"):
            from jobs.execution.sqlconn import check_database_alias

            check_database_alias(entry["database"], f"{field}.database")
        elif entry["connection"] not in connections:
            raise ValidationError(
                f"{field}.connection: {entry['connection']!r} is not in config.connections "
                "(ODBC connection strings are stored there, encrypted)",
                fields={f"{field}.connection": "unknown connection"},
            )
    from jobs.params.overrides import validate_overridable

    validate_overridable(spec)


def _check_query_text(entry: dict[str, Any], field: str) -> None:
    """One SELECT (jobs.execution.sqlcheck), in the alias's dialect when the
    entry names one; an ODBC connection's dialect is known at run time."""
    from django.conf import settings

    from jobs.execution.sqlcheck import UnsafeQuery, check_select, vendor_of_engine

    alias = settings.DATABASES.get(entry.get("database") or "")
    vendor = vendor_of_engine(alias["ENGINE"]) if alias else None
    try:
        check_select(entry["query"], vendor=vendor, markers="template")
    except UnsafeQuery as exc:
        raise ValidationError(
            f"{field}.query: {exc}", fields={f"{field}.query": str(exc)}
        ) from None
