"""Evaluating rules: each rule in isolation, never raising, so one broken
rule cannot stop the others. Pure of alerts and audit (see services)."""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import re
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings

from compliance import registry
from compliance.models import Rule, RuleKind

log = logging.getLogger(__name__)

_COMMENT = re.compile(r"(--[^\n]*\n?)|(/\*.*?\*/)", re.S)


class RuleError(Exception):
    """The rule could not be evaluated (bad query, timeout, missing check)."""


def severity_for(violations: int) -> str | None:
    """Seed 001: more than 10 critical, more than 5 high, any medium."""
    if violations > 10:
        return "critical"
    if violations > 5:
        return "high"
    if violations > 0:
        return "medium"
    return None


@dataclass
class RuleResult:
    rule: str
    area: str
    kind: str
    status: str  # passed | violations | error
    violations: int = 0
    truncated: bool = False  # the row limit was reached: there may be more
    sample: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    duration_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return (
            float(value) if value == value.to_integral_value() or abs(value) < 1e15 else str(value)
        )
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def check_query(query: str) -> None:
    """One read statement: SELECT or WITH, no statement separator. The
    read-only transaction is the real guard; this gives a clear error early."""
    text = _COMMENT.sub(" ", query or "").strip().rstrip(";").strip()
    if not text:
        raise RuleError("query is empty")
    if ";" in text:
        raise RuleError("query must be a single statement")
    if not re.match(r"(?is)^(select|with)\b", text):
        raise RuleError("query must be a SELECT (or WITH ... SELECT)")


def check_alias(alias: str) -> None:
    if alias not in settings.DATABASES:
        raise RuleError(f"database {alias!r} is not a configured database alias")
    if alias not in settings.COMPLIANCE_SQL_DATABASES:
        raise RuleError(f"database {alias!r} is not in COMPLIANCE_SQL_DATABASES")


@contextmanager
def _django_cursor(alias: str, timeout: float):
    """A private read-only connection to `alias` (never the worker's own, so
    a rule cannot touch the run's bookkeeping), statement timeout on the server."""
    from django.db import connections

    check_alias(alias)
    wrapper = connections.create_connection(alias)
    try:
        wrapper.ensure_connection()
        wrapper.set_autocommit(False)
        cursor = wrapper.cursor()
        if wrapper.vendor == "postgresql":
            cursor.execute("SET TRANSACTION READ ONLY")
            cursor.execute(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
        elif wrapper.vendor == "sqlite":
            cursor.execute("PRAGMA query_only = ON")
        yield cursor
    finally:
        try:
            wrapper.rollback()
            if wrapper.vendor == "sqlite":
                wrapper.cursor().execute("PRAGMA query_only = OFF")
        except Exception:  # noqa: S110 - closing anyway
            pass
        wrapper.close()


@contextmanager
def _odbc_cursor(connection_string: str, timeout: float):
    from jobs.execution.sqlconn import SqlTarget, open_target

    with open_target(
        SqlTarget(connection=connection_string), timeout=timeout, read_only=True
    ) as conn:
        yield conn.cursor()


def fetch_sql(rule: Rule) -> tuple[list[dict[str, Any]], bool]:
    """Run a SQL rule; (rows as dicts, truncated). Raises RuleError."""
    from compliance.services import rule_connection_string

    check_query(rule.query)
    limit = rule.row_limit or settings.COMPLIANCE_DEFAULT_ROW_LIMIT
    timeout = rule.timeout or settings.COMPLIANCE_DEFAULT_TIMEOUT
    params = rule.params or []
    if not isinstance(params, list | dict):
        raise RuleError("params must be a list (or an object for named parameters)")
    opener = (
        _odbc_cursor(rule_connection_string(rule), timeout)
        if rule.uses_odbc
        else _django_cursor(rule.database or "default", timeout)
    )
    with opener as cursor:
        # No parameters → None, so a literal % in the query is not a placeholder.
        cursor.execute(rule.query, params or None)
        if cursor.description is None:
            raise RuleError("query returned no result set")
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchmany(limit + 1)
    truncated = len(rows) > limit
    return [dict(zip(columns, map(jsonable, row), strict=False)) for row in rows[:limit]], truncated


def fetch_python(rule: Rule, ctx: Any) -> tuple[list[dict[str, Any]], bool]:
    check = registry.get(rule.name)
    if check is None:
        raise RuleError(f"no Python check named {rule.name!r} is registered in code")
    limit = rule.row_limit or settings.COMPLIANCE_DEFAULT_ROW_LIMIT
    rows: list[dict[str, Any]] = []
    truncated = False
    for row in check.func(ctx) or []:
        if len(rows) >= limit:
            truncated = True
            break
        rows.append(jsonable(row if isinstance(row, dict) else {"value": row}))
    return rows, truncated


def evaluate(rule: Rule, ctx: Any = None) -> RuleResult:
    """Evaluate one rule; never raises (errors become status=error)."""
    started = time.monotonic()
    result = RuleResult(rule=rule.name, area=rule.area, kind=rule.kind, status="passed")
    try:
        rows, truncated = (
            fetch_python(rule, ctx) if rule.kind == RuleKind.PYTHON else fetch_sql(rule)
        )
        result.violations, result.truncated = len(rows), truncated
        result.sample = rows[: settings.COMPLIANCE_SAMPLE_ROWS]
        result.status = "violations" if rows else "passed"
    except Exception as exc:
        # Any failure of a rule (driver error, timeout, bug in a check) is
        # that rule's result; the others still run.
        log.warning("compliance rule %s failed: %s", rule.name, exc)
        result.status, result.error = "error", f"{type(exc).__name__}: {exc}"[:2000]
    result.duration_ms = int((time.monotonic() - started) * 1000)
    return result
