"""Skip markers for tests that need something outside the virtualenv.

The ODBC packages come from Debian (`scripts/system-deps`, run by `make test`,
installs them when it runs as root); MariaDB is an optional service. A test
that needs one skips with a reason naming what to install or start, instead of
failing at import: `pyodbc` links libodbc.so.2 when imported, so it is only
imported here, guarded, or inside the tests that are skipped without it.
"""

from __future__ import annotations

import socket
from functools import cache
from typing import Any

import pytest

ODBC_PACKAGES = {"postgresql unicode": "odbc-postgresql", "mariadb unicode": "odbc-mariadb"}
MARIADB_ADDRESS = ("127.0.0.1", 3306)


@cache
def odbc_drivers() -> frozenset[str] | None:
    """Installed ODBC driver names (lower case); None without unixodbc's libodbc."""
    try:
        import pyodbc
    except ImportError:
        return None
    try:
        return frozenset(d.lower() for d in pyodbc.drivers())
    except pyodbc.Error:
        return frozenset()


def odbc_missing(driver: str) -> str | None:
    """Why the ODBC `driver` cannot be used, or None if it can."""
    drivers = odbc_drivers()
    if drivers is None:
        return f"libodbc missing: apt-get install unixodbc {ODBC_PACKAGES[driver]} (make test does it as root)"
    if driver not in drivers:
        return f"ODBC driver {driver!r} missing: apt-get install {ODBC_PACKAGES[driver]} (make test does it as root)"
    return None


@cache
def _reachable(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=1).close()
    except OSError:
        return False
    return True


def _mariadb_missing() -> str | None:
    if reason := odbc_missing("mariadb unicode"):
        return reason
    if not _reachable(MARIADB_ADDRESS):
        host, port = MARIADB_ADDRESS
        return f"MariaDB not running at {host}:{port} (root, no password, database test)"
    return None


def odbc_connect(connection_string: str, **kwargs: Any) -> Any:
    """pyodbc.connect, imported only by tests that passed their skip marker."""
    import pyodbc

    return pyodbc.connect(connection_string, **kwargs)


_drivers_reason = odbc_missing("postgresql unicode") or odbc_missing("mariadb unicode")
# Both drivers registered (odbcinst.ini): specs naming them pass the ODBC guard.
needs_odbc_drivers = pytest.mark.skipif(_drivers_reason is not None, reason=_drivers_reason or "")
_pg_reason = odbc_missing("postgresql unicode")
needs_postgres_odbc = pytest.mark.skipif(_pg_reason is not None, reason=_pg_reason or "")
_maria_reason = _mariadb_missing()
needs_mariadb = pytest.mark.skipif(_maria_reason is not None, reason=_maria_reason or "")
