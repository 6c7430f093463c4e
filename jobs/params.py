"""Run parameters: where they come from and how they fill `{Placeholders}`.

Sources, later wins: built-in macros (`now`, `today`, `yesterday`, `run_id`,
`job_name`, `attempt`, in the job's time zone) < the job's static
`parameters` < its secret parameters (`config.secret_parameters`, encrypted)
< dynamic parameters from `parameter_queries`, run just before the job
< trigger-time overrides (an overridden query is not run).

Placeholders are `{Name}` or `{Name:format}` (strftime for dates,
`format()` otherwise). Only an identifier in braces is a placeholder, so JSON
bodies keep their literal braces; `{{Name}}` writes a literal `{Name}`.

Values are data, never code: each kind renders in a mode that keeps them so —
argv elements stay single elements (process), SQL values are bound (sql), URL
path/query values are percent-encoded, header values may not contain line
breaks, and JSON bodies get string values JSON-escaped (http).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from jobs.errors import JobwardenError, ValidationError
from jobs.execution.context import PermanentFailure

MASK = "********"
MACROS = ("now", "today", "yesterday", "run_id", "job_name", "attempt")

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
IDENTIFIER = re.compile(rf"^{_IDENT}$")
# {{Name}} (escaped) | {Name} | {Name:spec}
_PLACEHOLDER = re.compile(rf"\{{\{{({_IDENT}(?::[^{{}}]*)?)\}}\}}|\{{({_IDENT})(?::([^{{}}]*))?\}}")
# Parameter names whose values are masked wherever a run is stored or shown,
# even when the operator did not mark them secret.
SECRET_NAME = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|credential|auth|private[_-]?key)", re.I
)
_URL_AUTHORITY_VALUE = re.compile(r"^[A-Za-z0-9.\-:\[\]]*$")
_JSON_SCALAR = re.compile(r"^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)$")


class ParameterError(JobwardenError):
    """Parameters could not be resolved: the run fails before anything
    executes. This base class is retried by the job's policy (a parameter
    query may fail transiently); UnresolvedParameter is not."""

    code = "parameter_error"
    http_status = 400


class UnresolvedParameter(ParameterError, PermanentFailure):
    """An unknown placeholder or a value that cannot be rendered safely:
    retrying cannot fix the job's definition."""


# --- rendering ---------------------------------------------------------------


def placeholders(template: str) -> list[str]:
    """Names used as placeholders in `template` (escaped ones excluded)."""
    return [m.group(2) for m in _PLACEHOLDER.finditer(template) if m.group(2)]


def iter_strings(value: Any, path: str = "config") -> Iterator[tuple[str, str]]:
    """(path, string) for every string inside a JSON-like value."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_strings(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from iter_strings(item, f"{path}[{i}]")


def format_value(value: Any, spec: str | None = None) -> str:
    """The text form of one parameter value."""
    try:
        if spec:
            if isinstance(value, datetime | date | dtime):
                return value.strftime(spec)
            return format(value, spec)
    except (ValueError, TypeError) as exc:
        raise UnresolvedParameter(
            f"bad format spec {spec!r} for value of type {type(value).__name__}: {exc}"
        ) from None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def _lookup(params: dict[str, Any], name: str, where: str) -> Any:
    if name not in params:
        known = ", ".join(sorted(params)) or "none"
        raise UnresolvedParameter(f"unknown parameter {{{name}}} in {where} (known: {known})")
    return params[name]


def render(
    template: Any, params: dict[str, Any], *, mode: str = "text", where: str = "template"
) -> Any:
    """Fill the placeholders of `template` from `params`.

    mode: "text" (as is), "string" (as is, always a string), "header" (no line breaks), "json" (string values
    JSON-escaped inside strings; outside strings only JSON scalars), "url"
    (host values restricted, path/query values percent-encoded). A template
    that is exactly one placeholder in text mode returns the value itself
    with its type (so a SQL int parameter stays an int). Non-strings are
    returned unchanged. Raises ParameterError for an unknown name.
    """
    if not isinstance(template, str):
        return template
    if mode == "url":
        return _render_url(template, params, where)
    whole = _PLACEHOLDER.fullmatch(template)
    if mode == "text" and whole and whole.group(2) and not whole.group(3):
        return _lookup(params, whole.group(2), where)
    out: list[str] = []
    pos = 0
    in_string = False
    for match in _PLACEHOLDER.finditer(template):
        literal = template[pos : match.start()]
        if mode == "json":
            in_string = _json_string_state(literal, in_string)
        out.append(literal)
        pos = match.end()
        if match.group(1):  # escaped {{Name}}
            out.append("{" + match.group(1) + "}")
            continue
        value = _lookup(params, match.group(2), where)
        text = format_value(value, match.group(3))
        if mode == "header" and any(c in text for c in "\r\n\0"):
            raise UnresolvedParameter(
                f"parameter {match.group(2)!r} in {where}: a header value may not contain line breaks"
            )
        if mode == "json":
            text = _json_piece(match.group(2), value, text, in_string, where)
        out.append(text)
    out.append(template[pos:])
    return "".join(out)


def _json_string_state(segment: str, in_string: bool) -> bool:
    escaped = False
    for ch in segment:
        if escaped:
            escaped = False
        elif ch == "\\" and in_string:
            escaped = True
        elif ch == '"':
            in_string = not in_string
    return in_string


def _json_piece(name: str, value: Any, text: str, in_string: bool, where: str) -> str:
    if in_string:
        return json.dumps(text)[1:-1]
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float | Decimal):
        return text
    if _JSON_SCALAR.match(text):
        return text
    raise UnresolvedParameter(
        f"parameter {name!r} in {where} is outside a JSON string and is not a number, "
        f"true, false or null; put the placeholder inside quotes"
    )


def _render_url(template: str, params: dict[str, Any], where: str) -> str:
    # Which part of the URL each placeholder sits in decides its escaping.
    scheme_end = template.find("://")
    authority_start = scheme_end + 3 if scheme_end >= 0 else 0
    authority_end = len(template)
    for ch in "/?#":
        i = template.find(ch, authority_start)
        if i >= 0:
            authority_end = min(authority_end, i)
    out: list[str] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(template):
        out.append(template[pos : match.start()])
        pos = match.end()
        if match.group(1):
            out.append(quote("{" + match.group(1) + "}", safe=""))
            continue
        name = match.group(2)
        text = format_value(_lookup(params, name, where), match.group(3))
        if match.start() < authority_end:
            if not _URL_AUTHORITY_VALUE.match(text):
                raise UnresolvedParameter(
                    f"parameter {name!r} in {where} is in the URL's host part and may only contain "
                    "letters, digits, '.', '-', ':' and brackets"
                )
            out.append(text)
        else:
            out.append(quote(text, safe=""))
    out.append(template[pos:])
    return "".join(out)


def render_all(
    value: Any, params: dict[str, Any], *, where: str = "config", mode: str = "text"
) -> Any:
    """render() applied to every string inside lists/dicts (keys untouched)."""
    if isinstance(value, str):
        return render(value, params, mode=mode, where=where)
    if isinstance(value, dict):
        return {k: render_all(v, params, where=f"{where}.{k}", mode=mode) for k, v in value.items()}
    if isinstance(value, list):
        return [
            render_all(v, params, where=f"{where}[{i}]", mode=mode) for i, v in enumerate(value)
        ]
    return value


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
    from jobs.execution.sqlconn import SqlTarget, open_target

    name = entry.get("name", "?")
    query = entry.get("query") or ""
    shown = query if len(query) <= 200 else query[:197] + "…"
    try:
        target = SqlTarget.for_parameter_query(entry, config)
        with open_target(target, timeout=_query_timeout(job), read_only=True) as conn:
            sql, values = bind_placeholders(query, params, conn.paramstyle)
            row = conn.fetch_first(sql, values)
    except (ParameterError, ValidationError) as exc:  # our own checks: the definition is wrong
        raise UnresolvedParameter(
            f"parameter {name!r} from query {shown!r} failed: {exc.message}"
        ) from None
    except Exception as exc:  # the database's own error, whatever the driver
        message = Redactor.from_config(config).redact(_one_line(exc))
        raise ParameterError(f"parameter {name!r} from query {shown!r} failed: {message}") from None
    if row is None:
        raise UnresolvedParameter(
            f"parameter {name!r} from query {shown!r} failed: the query returned no rows"
        )
    return row[0]


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
    """Save-time checks of `parameters` and `parameter_queries` (any kind)."""
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
        unknown = set(entry) - {"name", "query", "database", "connection"}
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


# --- storing ---------------------------------------------------------------


def secret_parameter_names(job: Any) -> set[str]:
    from jobs.secrets import masked_config

    return set((masked_config(job).get("secret_parameters") or {}).keys())


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return value


def mask_parameters(job: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters as stored on the run and shown anywhere: JSON-able, with
    secret parameters (and names that look secret) replaced by the mask."""
    secret = secret_parameter_names(job)
    return {
        str(k): (
            MASK if (k in secret or is_secret_name(str(k))) and v not in (None, "") else jsonable(v)
        )
        for k, v in params.items()
    }


def secret_values(job: Any, params: dict[str, Any]) -> Iterable[str]:
    """Values that must never appear in clear in run records (for redaction)."""
    secret = secret_parameter_names(job)
    for k, v in params.items():
        if (k in secret or is_secret_name(str(k))) and isinstance(v, str | int) and str(v):
            yield str(v)
