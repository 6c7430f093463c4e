"""Evaluating rules: each rule in isolation, never raising, so one broken
rule cannot stop the others. Pure of alerts and audit (see services)."""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings

from compliance import registry
from compliance.models import Rule, RuleKind
from jobs.execution.sqlcheck import UnsafeQuery, check_read_only_role, check_select

log = logging.getLogger(__name__)


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


def check_query(query: str, vendor: str | None = None) -> None:
    """One read statement in the target's dialect (jobs.execution.sqlcheck):
    SELECT or WITH, nothing after it. The read-only role and transaction
    are the guards behind it; this keeps a query inside them."""
    try:
        check_select(query, vendor=vendor, markers="format")
    except UnsafeQuery as exc:
        raise RuleError(str(exc)) from None


def check_alias(alias: str) -> None:
    if alias == "default":
        # Jobwarden's own database holds tokens, password hashes and
        # encrypted secrets: never a compliance target, whatever the list says.
        raise RuleError(
            "database 'default' is Jobwarden's own database and is never a compliance target"
        )
    if alias not in settings.COMPLIANCE_SQL_DATABASES:
        raise RuleError(f"database {alias!r} is not in COMPLIANCE_SQL_DATABASES")
    if alias not in settings.DATABASES:
        raise RuleError(f"database {alias!r} is not a configured database alias")


def alias_vendor(alias: str) -> str:
    from jobs.execution.sqlcheck import vendor_of_engine

    return vendor_of_engine(settings.DATABASES.get(alias, {}).get("ENGINE", ""))


@contextmanager
def _django_cursor(alias: str, timeout: float):
    """A private read-only connection to `alias` (never the worker's own, so
    a rule cannot touch the run's bookkeeping), statement timeout on the
    server, its role checked to be read-only before the rule runs."""
    from django.db import connections

    check_alias(alias)
    wrapper = connections.create_connection(alias)
    try:
        wrapper.ensure_connection()
        wrapper.set_autocommit(False)
        cursor = wrapper.cursor()
        _check_role(cursor, wrapper.vendor)
        if wrapper.vendor == "postgresql":
            cursor.execute("SET TRANSACTION READ ONLY")
            cursor.execute(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
        elif wrapper.vendor == "mysql":
            cursor.execute(f"SET SESSION max_statement_time = {timeout:.3f}")
            cursor.execute("START TRANSACTION READ ONLY")
        elif wrapper.vendor == "sqlite":
            cursor.execute("PRAGMA query_only = ON")
        yield cursor, wrapper.vendor
    finally:
        try:
            wrapper.rollback()
            if wrapper.vendor == "sqlite":
                wrapper.cursor().execute("PRAGMA query_only = OFF")
        except Exception:  # noqa: S110 - closing anyway
            pass
        wrapper.close()


def _check_role(cursor: Any, vendor: str) -> None:
    try:
        check_read_only_role(cursor, vendor)
    except UnsafeQuery as exc:
        raise RuleError(f"connection refused: {exc}") from None


@contextmanager
def _odbc_cursor(connection_string: str, timeout: float):
    from jobs.execution.sqlconn import SqlTarget, open_target

    with open_target(
        SqlTarget(connection=connection_string), timeout=timeout, read_only=True
    ) as conn:
        cursor = conn.cursor()
        _check_role(cursor, conn.vendor)
        yield cursor, conn.vendor


def fetch_sql(rule: Rule) -> tuple[list[dict[str, Any]], bool]:
    """Run a SQL rule; (rows as dicts, truncated). Raises RuleError."""
    from compliance.services import rule_connection_string

    check_query(rule.query, rule_vendor(rule))
    limit = rule.row_limit or settings.COMPLIANCE_DEFAULT_ROW_LIMIT
    timeout = rule.timeout or settings.COMPLIANCE_DEFAULT_TIMEOUT
    params = rule.params or []
    if not isinstance(params, list | dict):
        raise RuleError("params must be a list (or an object for named parameters)")
    opener = (
        _odbc_cursor(rule_connection_string(rule), timeout)
        if rule.uses_odbc
        else _django_cursor(rule.database, timeout)
    )
    with opener as (cursor, vendor):
        check_query(rule.query, vendor)  # in the dialect of the server reached
        # No parameters → none passed, so a literal % in the query is not a
        # placeholder (and pyodbc does not read None as one parameter).
        cursor.execute(rule.query, params) if params else cursor.execute(rule.query)
        if cursor.description is None:
            raise RuleError("query returned no result set")
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchmany(limit + 1)
    truncated = len(rows) > limit
    return [dict(zip(columns, map(jsonable, row), strict=False)) for row in rows[:limit]], truncated


def rule_vendor(rule: Rule) -> str | None:
    """The dialect a rule's query is checked in before connecting: its
    alias's engine; for ODBC, none yet (every dialect that reads it)."""
    return None if rule.uses_odbc else alias_vendor(rule.database)


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
