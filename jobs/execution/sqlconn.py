"""One way to open a SQL target (an ODBC connection string through pyodbc,
or a Django database alias) for SQL jobs and parameter queries, with a
command timeout enforced on the server and a cancel() another thread may call.

A Django alias gets its own fresh connection (never the worker's shared
one): the job's transaction and a cancel cannot touch the run's bookkeeping.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from jobs.errors import ValidationError


def check_database_alias(alias: Any, field: str) -> None:
    """A Django alias SQL may run against: configured, and allowed
    (JOBS_SQL_ALLOWED_DATABASES, or any but "default" when that is empty)."""
    if not isinstance(alias, str) or alias not in settings.DATABASES:
        raise ValidationError(
            f"{field}: {alias!r} is not a configured database alias",
            fields={field: "unknown alias"},
        )
    allowed = settings.JOBS_SQL_ALLOWED_DATABASES
    if (allowed and alias not in allowed) or (not allowed and alias == "default"):
        raise ValidationError(
            f"{field}: database {alias!r} is not in JOBS_SQL_ALLOWED_DATABASES",
            fields={field: "not allowed"},
        )


@dataclass(frozen=True)
class SqlTarget:
    connection: str | None = None  # ODBC connection string (a secret)
    database: str | None = None  # Django alias

    @classmethod
    def for_parameter_query(cls, entry: dict[str, Any], config: dict[str, Any]) -> SqlTarget:
        if entry.get("database"):
            check_database_alias(entry["database"], "database")
            return cls(database=entry["database"])
        name = entry.get("connection")
        conn = (config.get("connections") or {}).get(name)
        if not conn:
            raise ValidationError(f"connection {name!r} is not in config.connections")
        return cls(connection=conn)

    def describe(self) -> str:
        return f"database {self.database!r}" if self.database else "ODBC connection"


class Connection:
    """A thin facade over a DB-API connection: the SQL dialect it speaks,
    its parameter style, and cancel()."""

    def __init__(
        self,
        raw: Any,
        *,
        vendor: str,
        paramstyle: str,
        cancel: Any,
        closer: Any,
        target: SqlTarget | None = None,
    ):
        self.raw = raw
        self.target = target
        self.server_id: int | None = None  # backend pid (PostgreSQL) / connection id (MariaDB)
        self.vendor = vendor  # postgresql | mysql | mssql | sqlite | other
        self.paramstyle = paramstyle  # qmark (?) | format (%s)
        self._cancel = cancel
        self._close = closer
        self.cursor_obj: Any = None

    @property
    def token(self) -> str:
        return "?" if self.paramstyle == "qmark" else "%s"

    def cursor(self) -> Any:
        self.cursor_obj = self.raw.cursor()
        return self.cursor_obj

    def fetch_first(self, sql: str, values: Sequence[Any]) -> tuple | None:
        cur = self.cursor()
        cur.execute(sql, list(values))
        row = cur.fetchone()
        return tuple(row) if row is not None else None

    def abort(self) -> None:
        """Stop the running statement from another thread, through a second
        connection: PostgreSQL cancels the backend's statement; MariaDB must
        kill the connection, because KILL QUERY and max_statement_time stop
        only the current statement inside a procedure, not the CALL."""
        if (
            self.server_id is None
            or self.target is None
            or self.vendor not in ("postgresql", "mysql")
        ):
            self.cancel()
            return
        statement = (
            "SELECT pg_cancel_backend({})" if self.vendor == "postgresql" else "KILL CONNECTION {}"
        )
        with suppress(Exception):
            helper = _connect(self.target, 10, autocommit=True)
            try:
                cur = helper.raw.cursor()
                cur.execute(statement.format(int(self.server_id)))
            finally:
                helper._close()
        self.cancel()

    def cancel(self) -> None:
        """Abort the running statement (callable from another thread)."""
        # Best effort: the server-side timeout still holds if this fails.
        with suppress(Exception):
            self._cancel(self)


def _vendor_from_dbms(name: str) -> str:
    low = (name or "").lower()
    if "postgres" in low:
        return "postgresql"
    if "mariadb" in low or "mysql" in low:
        return "mysql"
    if "sql server" in low:
        return "mssql"
    return "other"


def _server_timeout_statements(vendor: str, seconds: float) -> list[str]:
    # The server aborts the statement itself: the timeout holds even if the
    # client thread is stuck inside the driver.
    if vendor == "postgresql":
        return [f"SET statement_timeout = {int(seconds * 1000)}"]
    if vendor == "mysql":
        return [f"SET SESSION max_statement_time = {seconds:.3f}"]
    return []


@contextmanager
def open_target(
    target: SqlTarget, *, timeout: float, read_only: bool = False, autocommit: bool = False
) -> Iterator[Connection]:
    """Open `target`; on leaving, commit (unless read_only: roll back) or roll
    back on error, and close. `timeout` bounds each statement."""
    conn = _connect(target, timeout, autocommit)
    try:
        if conn.vendor in ("postgresql", "mysql"):
            cur = conn.raw.cursor()
            cur.execute(
                "SELECT pg_backend_pid()"
                if conn.vendor == "postgresql"
                else "SELECT CONNECTION_ID()"
            )
            conn.server_id = int(cur.fetchone()[0])
            cur.close()
        setup = []
        if read_only:
            setup.append(
                "START TRANSACTION READ ONLY"
                if conn.vendor == "mysql"
                else "SET TRANSACTION READ ONLY"
            )
        setup += _server_timeout_statements(conn.vendor, timeout)
        if setup and conn.vendor in ("postgresql", "mysql"):
            cur = conn.raw.cursor()
            for statement in setup:
                cur.execute(statement)
            cur.close()
        yield conn
        if read_only or autocommit:
            _quiet(conn.raw.rollback)
        else:
            conn.raw.commit()
    except BaseException:
        _quiet(conn.raw.rollback)
        raise
    finally:
        _quiet(conn._close)


def _connect(target: SqlTarget, timeout: float, autocommit: bool) -> Connection:
    if target.connection:
        conn = _open_odbc(target.connection, timeout, autocommit)
    else:
        conn = _open_django(target.database or "", timeout, autocommit)
    conn.target = target
    return conn


def _quiet(fn: Any) -> None:
    with suppress(Exception):
        fn()


def check_odbc_connection(connection: str, field: str, *, resolve: bool = True) -> None:
    """Keys, driver and network of an ODBC string (jobs.execution.odbcguard);
    ValidationError naming `field`."""
    from jobs.execution.odbcguard import check_connection

    check_connection(connection, field, resolve=resolve)


def _open_odbc(connection_string: str, timeout: float, autocommit: bool) -> Connection:
    import pyodbc

    # Checked again at every connect: the save-time check saw no DNS answer,
    # and settings (drivers, networks) may have been tightened since.
    check_odbc_connection(connection_string, "connection")

    # Login timeout bounded too: an unreachable server must not eat the run.
    raw = pyodbc.connect(
        connection_string, autocommit=autocommit, timeout=max(1, min(15, math.ceil(timeout)))
    )
    with suppress(pyodbc.Error):  # a driver-side timeout where supported (psqlodbc refuses it)
        raw.timeout = max(1, math.ceil(timeout))
    vendor = _vendor_from_dbms(raw.getinfo(pyodbc.SQL_DBMS_NAME))

    def cancel(c: Connection) -> None:
        if c.cursor_obj is not None:
            c.cursor_obj.cancel()

    return Connection(raw, vendor=vendor, paramstyle="qmark", cancel=cancel, closer=raw.close)


def _open_django(alias: str, timeout: float, autocommit: bool) -> Connection:
    from django.db import connections

    check_database_alias(alias, "database")
    wrapper = connections.create_connection(alias)  # private to this run
    wrapper.ensure_connection()
    wrapper.set_autocommit(autocommit)
    raw = wrapper.connection
    vendor = wrapper.vendor if wrapper.vendor in ("postgresql", "mysql", "sqlite") else "other"

    def cancel(c: Connection) -> None:
        if vendor == "postgresql":
            raw.cancel()

    class _Raw:  # commit/rollback/cursor through Django's wrapper (paramstyle %s everywhere)
        cursor = wrapper.cursor
        commit = wrapper.commit
        rollback = wrapper.rollback

    return Connection(
        _Raw(), vendor=vendor, paramstyle="format", cancel=cancel, closer=wrapper.close
    )
