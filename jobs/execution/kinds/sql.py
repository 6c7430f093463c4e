"""SQL stored procedures (and functions) through ODBC or a Django alias.

config: connection (ODBC connection string, a secret) or database (Django
alias), procedure (`schema.name`, or a name matching
JOBS_SQL_ALLOWED_PROCEDURES; never a system function: see procedure_refusal), params (list of {name, type, value,
direction: in|out|inout}; types int, bigint, string, text, datetime, date,
decimal, bool; value null = NULL), capture_rows (default 100), call
(procedure | function), autocommit (default false: the call runs in one
transaction, committed on success, rolled back on failure).

Values are always bound, never formatted into SQL; the procedure name is a
validated identifier. How each dialect returns OUT values:
- PostgreSQL: `CALL p(?::int, NULL::int)` returns one row with the OUT/INOUT
  values; procedures return no result sets, so rows come from functions
  (`call: function` → `SELECT * FROM f(?)`).
- MariaDB/MySQL: OUT/INOUT go through session variables
  (`SET @jw_2 = ?; CALL p(?, @jw_2); SELECT @jw_2`); the first result set the
  procedure selects is captured. A function is `SELECT f(?)`.
The command timeout is the job's remaining time, enforced by the server
(statement_timeout / max_statement_time) and by a watchdog that aborts the
call from a second connection at the deadline or on cancel.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from jobs.errors import ValidationError
from jobs.execution.configcheck import MASK, ConfigCheck, fail
from jobs.execution.context import PermanentFailure, RunCancelled, RunContext
from jobs.execution.kinds.sql_rules import PG_TYPES, convert, procedure_refusal
from jobs.execution.redact import Redactor
from jobs.execution.sqlconn import (
    Connection,
    SqlTarget,
    check_database_alias,
    check_odbc_connection,
    open_target,
)
from jobs.params import jsonable, placeholders, render, validate_parameter_spec
from jobs.secrets import open_config

KEYS = {"connection", "database", "procedure", "params", "capture_rows", "call", "autocommit"}
_IDENT = r"[A-Za-z_][A-Za-z0-9_$]{0,127}"
PROCEDURE = re.compile(rf"^{_IDENT}(\.{_IDENT})?$")
PARAM_NAME = re.compile(rf"^{_IDENT}$")
DIRECTIONS = ("in", "out", "inout")
DEFAULT_ROWS = 100


class SqlError(Exception):
    """The database reported an error (transient unless it is a definition
    error, which is raised as PermanentFailure)."""


def _connection_secrets(connection: str | None) -> list[str]:
    """Password values inside an ODBC string, to redact them even alone."""
    found = []
    for part in (connection or "").split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() in ("pwd", "password") and value.strip():
            found.append(value.strip().strip("{}"))
    return found


class SqlKind:
    name = "sql"

    def validate(self, spec: dict[str, Any]) -> None:
        check = ConfigCheck(spec, KEYS)
        connection = check.string("connection")
        database = check.string("database")
        if bool(connection) == bool(database):
            fail(
                "config.connection",
                "give exactly one of connection (ODBC string) or database (Django alias)",
            )
        if database:
            check_database_alias(database, "config.database")
        if connection and connection != MASK:
            check_odbc_connection(connection, "config.connection", resolve=False)
        procedure = check.string("procedure", required=True)
        if not PROCEDURE.match(procedure):
            fail("config.procedure", f"{procedure!r} is not an identifier (name or schema.name)")
        refusal = procedure_refusal(procedure)
        if refusal:
            fail("config.procedure", refusal)
        call = check.get("call", "procedure")
        if call not in ("procedure", "function"):
            fail("config.call", "must be procedure or function")
        check.number("capture_rows", minimum=0, maximum=settings.JOBS_SQL_MAX_ROWS, integer=True)
        check.boolean("autocommit", False)
        params = check.get("params") or []
        if not isinstance(params, list):
            fail("config.params", "must be a list of {name, type, value, direction}")
        seen: set[str] = set()
        for i, param in enumerate(params):
            field = f"config.params[{i}]"
            if not isinstance(param, dict):
                fail(field, "must be an object {name, type, value, direction}")
            extra = set(param) - {"name", "type", "value", "direction"}
            if extra:
                fail(f"{field}.{sorted(extra)[0]}", "unknown key")
            name = param.get("name")
            if not isinstance(name, str) or not PARAM_NAME.match(name) or name.lower() in seen:
                fail(f"{field}.name", f"{name!r} must be a unique identifier")
            seen.add(name.lower())
            if param.get("type") not in PG_TYPES:
                fail(f"{field}.type", f"{param.get('type')!r} is not one of {', '.join(PG_TYPES)}")
            direction = param.get("direction", "in")
            if direction not in DIRECTIONS:
                fail(f"{field}.direction", f"{direction!r} is not one of in, out, inout")
            if direction == "out" and param.get("value") is not None:
                fail(f"{field}.value", "an out parameter takes no value")
            if call == "function" and direction != "in":
                fail(
                    f"{field}.direction",
                    "a function takes only in parameters (its result is the return value)",
                )
            value = param.get("value")
            if not (isinstance(value, str) and placeholders(value)):
                try:
                    convert(param["type"], value, f"{field}.value")
                except ValueError as exc:
                    fail(f"{field}.value", str(exc).split(": ", 1)[-1])
        validate_parameter_spec(spec)

    # --- run time --------------------------------------------------------------

    def execute(self, ctx: RunContext) -> Any:
        config = open_config(ctx.job)
        procedure = config["procedure"]
        refusal = (
            procedure_refusal(procedure) if PROCEDURE.match(procedure) else "not an identifier"
        )
        if refusal:
            raise PermanentFailure(
                f"config.procedure: {procedure!r} is not an allowed procedure ({refusal})"
            )
        bound = self._bind(ctx, config)  # all rendering before anything runs
        redactor = Redactor.for_run(
            ctx.job, config, ctx.parameters, _connection_secrets(config.get("connection"))
        )
        target = SqlTarget(
            connection=config.get("connection") or None, database=config.get("database") or None
        )
        margin = min(1.0, ctx.timeout * 0.05)
        timeout = ctx.time_remaining - margin
        if timeout <= 0:
            raise SoftTimeLimitExceeded("no time left for the procedure call")
        limit = int(config.get("capture_rows", DEFAULT_ROWS))
        watchdog: _Watchdog | None = None
        try:
            with open_target(
                target, timeout=timeout, autocommit=bool(config.get("autocommit"))
            ) as conn:
                ctx.metadata["sql"] = {
                    "vendor": conn.vendor,
                    "procedure": procedure,
                    "server_id": conn.server_id,
                }
                watchdog = _Watchdog(ctx, conn, time.monotonic() + timeout)
                watchdog.start()
                try:
                    result = _call(conn, procedure, config.get("call", "procedure"), bound, limit)
                finally:
                    watchdog.stop()
        except (PermanentFailure, RunCancelled, SoftTimeLimitExceeded):
            raise
        except ValidationError as exc:  # the connection string's guard
            raise PermanentFailure(redactor.redact(exc.message)) from None
        except Exception as exc:
            if watchdog is not None and watchdog.fired == "cancelled":
                raise RunCancelled("cancelled; the procedure call was aborted") from None
            if (watchdog is not None and watchdog.fired == "timeout") or _sqlstate(exc) in (
                "57014",
                "70100",
                "HYT00",
            ):
                raise SoftTimeLimitExceeded(
                    f"procedure {procedure} exceeded the job timeout ({ctx.timeout:g}s); the call was aborted"
                ) from None
            raise _classify(exc, procedure, redactor) from None
        ctx.output.write(redactor.redact(_summary(procedure, result)))
        return redactor.redact_obj(result)

    def _bind(self, ctx: RunContext, config: dict[str, Any]) -> list[tuple[dict[str, Any], Any]]:
        bound = []
        for i, param in enumerate(config.get("params") or []):
            value = None
            if param.get("direction", "in") != "out":
                field = f"config.params[{i}].value"
                raw = render(param.get("value"), ctx.parameters, mode="text", where=field)
                try:
                    value = convert(param["type"], raw, field)
                except ValueError as exc:
                    raise PermanentFailure(str(exc)) from None
            bound.append((param, value))
        return bound


class _Watchdog(threading.Thread):
    """Aborts the call at the deadline or when the run is cancelled."""

    def __init__(self, ctx: RunContext, conn: Connection, deadline: float):
        super().__init__(daemon=True, name="sql-watchdog")
        self.ctx, self.conn, self.deadline = ctx, conn, deadline
        self.fired: str | None = None
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.2):
            if self.ctx.is_cancelled():
                self.fired = "cancelled"
            elif time.monotonic() >= self.deadline:
                self.fired = "timeout"
            else:
                self.ctx.heartbeat()
                continue
            self.conn.abort()
            return

    def stop(self) -> None:
        self._done.set()
        self.join(5)


def _sqlstate(exc: BaseException) -> str:
    node: BaseException | None = exc
    while node is not None:
        state = getattr(node, "sqlstate", None)
        if isinstance(state, str):
            return state
        args = getattr(node, "args", ())
        if args and isinstance(args[0], str) and re.fullmatch(r"[0-9A-Z]{5}", args[0]):
            return args[0]
        node = node.__cause__
    return ""


def _classify(exc: Exception, procedure: str, redactor: Redactor) -> Exception:
    state = _sqlstate(exc)
    message = " ".join(str(exc.args[1] if len(getattr(exc, "args", ())) > 1 else exc).split())[
        :1000
    ]
    text = redactor.redact(
        f"procedure {procedure} failed" + (f" [{state}]" if state else "") + f": {message}"
    )
    # Syntax/undefined object (42), data errors (22), bad call (07) do not
    # heal on retry; connection errors (08) and raised errors may.
    if state[:2] in ("42", "22", "07", "0A", "3F", "3D", "28", "IM"):
        return PermanentFailure(text)
    return SqlError(text)


def _call(
    conn: Connection, procedure: str, call: str, bound: list[tuple[dict[str, Any], Any]], limit: int
) -> dict[str, Any]:
    cur = conn.cursor()
    tok = conn.token
    outs = [p for p, _ in bound if p.get("direction", "in") in ("out", "inout")]
    result: dict[str, Any] = {
        "procedure": procedure,
        "output": {},
        "return_value": None,
        "columns": [],
        "rows": [],
        "row_count": 0,
        "rows_truncated": False,
    }
    if conn.vendor == "postgresql":
        args, values = [], []
        for param, value in bound:
            cast = PG_TYPES[param["type"]]
            if param.get("direction", "in") == "out":
                args.append(f"NULL::{cast}")
            else:
                args.append(f"{tok}::{cast}")
                values.append(value)
        if call == "function":
            cur.execute(f"SELECT * FROM {procedure}({', '.join(args)})", values)
            _capture(cur, limit, result)
            if len(result["columns"]) == 1 and result["row_count"] == 1:
                result["return_value"] = result["rows"][0][result["columns"][0]]
        else:
            cur.execute(f"CALL {procedure}({', '.join(args)})", values)
            if outs and cur.description:
                row = cur.fetchone()
                result["output"] = (
                    {p["name"]: jsonable(row[i]) for i, p in enumerate(outs)} if row else {}
                )
    elif conn.vendor == "mysql":
        args, values = [], []
        for i, (param, value) in enumerate(bound, 1):
            direction = param.get("direction", "in")
            if direction == "in":
                args.append(tok)
                values.append(value)
            else:
                # Session variables carry OUT values; names are ours (@jw_N),
                # values bound.
                if direction == "inout":
                    cur.execute(f"SET @jw_{i} = {tok}", [value])
                else:
                    cur.execute(f"SET @jw_{i} = NULL")
                args.append(f"@jw_{i}")
        if call == "function":
            cur.execute(f"SELECT {procedure}({', '.join(args)}) AS return_value", values)
            row = cur.fetchone()
            result["return_value"] = jsonable(row[0]) if row else None
        else:
            cur.execute(f"CALL {procedure}({', '.join(args)})", values)
            captured = False
            while True:
                if cur.description and not captured:
                    _capture(cur, limit, result)
                    captured = True
                if not cur.nextset():
                    break
            out_vars = [
                f"@jw_{i}" for i, (p, _) in enumerate(bound, 1) if p.get("direction", "in") != "in"
            ]
            if out_vars:
                cur.execute(f"SELECT {', '.join(out_vars)}")
                row = cur.fetchone()
                result["output"] = {p["name"]: jsonable(row[i]) for i, p in enumerate(outs)}
    else:
        raise PermanentFailure(
            f"SQL jobs support PostgreSQL and MariaDB/MySQL targets; this connection is {conn.vendor!r}"
        )
    return result


def _capture(cur: Any, limit: int, result: dict[str, Any]) -> None:
    if not cur.description:
        return
    columns = [d[0] for d in cur.description]
    rows = cur.fetchmany(limit + 1) if limit else []
    result["rows_truncated"] = len(rows) > limit
    rows = rows[:limit]
    result["columns"] = columns
    result["rows"] = [dict(zip(columns, (jsonable(v) for v in row), strict=False)) for row in rows]
    result["row_count"] = len(rows)


def _summary(procedure: str, result: dict[str, Any]) -> str:
    parts = [
        f"{procedure}: {result['row_count']} row(s)"
        + (" (truncated)" if result["rows_truncated"] else "")
    ]
    if result["output"]:
        parts.append("output " + ", ".join(f"{k}={v!r}" for k, v in result["output"].items()))
    if result["return_value"] is not None:
        parts.append(f"return value {result['return_value']!r}")
    return "; ".join(parts) + "\n"


handler = SqlKind()
