"""What an ODBC connection string may ask for (SQL jobs, parameter-query
connections, compliance rules): checked at save and again at every connect.

- Keys: only the ones listed in KEYS. Others make the driver manager or the
  driver load or write files, or run SQL before our read-only transaction
  starts (SAVEFILE, FILEDSN, PLUGIN_DIR, INITSTMT, ConnSettings, pqopt,
  OPTION bits such as LOCAL INFILE or multi-statements, SOCKET …).
- DRIVER: a name registered in odbcinst.ini (never a path: `DRIVER=/tmp/x.so`
  loads any shared library), and in JOBS_SQL_ALLOWED_DRIVERS when that is set.
- Host and port: the same guard as HTTP jobs (jobs.execution.netguard), with
  its own allowlist JOBS_SQL_ALLOWED_NETWORKS, since databases usually sit on
  private networks HTTP jobs must not reach. No host means the driver's
  default, localhost, which is judged as such. Unix socket paths are refused.
A DSN's own settings live in odbc.ini on the worker, written by its admin;
any host or driver the string adds on top is still checked.
"""

from __future__ import annotations

from django.conf import settings

from jobs.errors import ValidationError
from jobs.execution import netguard

# Lower-case keys a connection string may carry: where to connect, as whom,
# and transport security. Anything else is refused (see module docstring).
KEYS = frozenset(
    {
        "driver", "dsn", "server", "servername", "host", "address", "port",
        "database", "db", "uid", "user", "username", "pwd", "password",
        "sslmode", "ssl", "sslverify", "encrypt", "trustservercertificate",
        "charset", "applicationname", "app", "readonly",
    }
)  # fmt: skip
_HOST_KEYS = ("server", "servername", "host", "address")


def parse(connection: str, field: str) -> dict[str, str]:
    """`key=value;…` (braced values may hold `;`, `}}` is a `}`) → lower-case
    keys. A repeated key is refused: drivers disagree on which one wins."""
    attrs: dict[str, str] = {}
    i, text = 0, connection or ""
    if any(ord(ch) < 32 for ch in text):
        _fail(field, "may not contain control characters")
    while i < len(text):
        eq = text.find("=", i)
        if eq < 0:
            if text[i:].strip(" ;"):
                _fail(field, f"{text[i:].strip()[:40]!r} is not key=value")
            break
        key = text[i:eq].strip(" ;").lower()
        if not key:
            _fail(field, "an attribute without a key (expected key=value;…)")
        i = eq + 1
        while i < len(text) and text[i] == " ":
            i += 1
        if text[i : i + 1] == "{":
            value, i = _braced(text, i + 1, field, key)
            end = text.find(";", i)
            if text[i : end if end >= 0 else len(text)].strip():
                _fail(field, f"{key}: text after a braced value")
            i = end + 1 if end >= 0 else len(text)
        else:
            end = text.find(";", i)
            end = end if end >= 0 else len(text)
            value, i = text[i:end].strip(), end + 1
        if key in attrs:
            _fail(field, f"{key.upper()} is given twice")
        attrs[key] = value
    return attrs


def _braced(text: str, i: int, field: str, key: str) -> tuple[str, int]:
    out = []
    while i < len(text):
        if text[i] == "}":
            if text[i + 1 : i + 2] == "}":
                out.append("}")
                i += 2
                continue
            return "".join(out), i + 1
        out.append(text[i])
        i += 1
    _fail(field, f"{key}: unterminated {{braced}} value")
    return "", i


def _fail(field: str, message: str) -> None:
    raise ValidationError(f"{field}: {message}", fields={field: message})


def registered_drivers() -> set[str]:
    try:
        import pyodbc
    except ImportError:  # no libodbc.so.2 (Debian's unixodbc): no driver is registered
        return set()
    try:
        return {d.lower() for d in pyodbc.drivers()}
    except pyodbc.Error:
        return set()


def check_connection(connection: str, field: str, *, resolve: bool) -> dict[str, str]:
    """Raise ValidationError (naming `field`) unless the string passes the
    key, driver and network rules. `resolve`: also resolve a host name and
    check every address (at connect; at save only literal addresses)."""
    attrs = parse(connection, field)
    unknown = sorted(set(attrs) - KEYS)
    if unknown:
        _fail(field, f"{unknown[0].upper()} is not an allowed connection string key")
    if not attrs.get("driver") and not attrs.get("dsn"):
        _fail(field, "must be an ODBC connection string with DRIVER= or DSN=")
    if attrs.get("driver"):
        _check_driver(attrs["driver"], field)
    if attrs.get("dsn") and not any(attrs.get(k) for k in _HOST_KEYS):
        return attrs  # host and driver come from the admin's odbc.ini
    _check_address(attrs, field, resolve=resolve)
    return attrs


def _check_driver(driver: str, field: str) -> None:
    name = driver.strip().lower()
    if "/" in name or "\\" in name or name.endswith((".so", ".dll", ".dylib")) or ".so." in name:
        _fail(field, "DRIVER must be a driver name registered in odbcinst.ini, not a file")
    allowed = {d.lower() for d in settings.JOBS_SQL_ALLOWED_DRIVERS}
    if allowed and name not in allowed:
        _fail(field, f"driver {driver!r} is not in JOBS_SQL_ALLOWED_DRIVERS")
    if name not in registered_drivers():
        _fail(field, f"driver {driver!r} is not registered in odbcinst.ini on this host")


def split_host(server: str, port: str | None, field: str) -> tuple[str, int | None]:
    """SERVER forms: host, host:port, host,port, [v6]:port, tcp:host,port."""
    value = server.strip()
    if value.lower().startswith("tcp:"):
        value = value[4:]
    if value.startswith("/") or value.startswith("."):
        _fail(field, "a Unix socket or local pipe is not an allowed server")
    host, found = value, None
    if "," in value:
        host, found = value.rsplit(",", 1)
    elif value.startswith("["):
        host, _, rest = value[1:].partition("]")
        found = rest[1:] if rest.startswith(":") else None
    elif value.count(":") == 1:
        host, found = value.split(":", 1)
    if found and port and found.strip() != port.strip():
        _fail(field, "the server and PORT give different ports")
    return host.strip(), _port(found or port, field)


def _port(value: str | None, field: str) -> int | None:
    if value is None or not value.strip():
        return None
    digits = value.strip()
    if not (digits.isascii() and digits.isdigit()) or not 1 <= int(digits) <= 65535:
        _fail(field, f"port {value!r} is not a number from 1 to 65535")
    return int(digits)


def _check_address(attrs: dict[str, str], field: str, *, resolve: bool) -> None:
    servers = [attrs[k] for k in _HOST_KEYS if attrs.get(k)]
    if len(servers) > 1:
        _fail(field, "give the server once (SERVER, HOST or ADDRESS)")
    host, port = split_host(servers[0] if servers else "localhost", attrs.get("port"), field)
    if not host:
        host = "localhost"
    try:
        bare = netguard.parse_host(host)
        try:
            netguard.check_ip(bare, host=host, setting="JOBS_SQL_ALLOWED_NETWORKS")
        except ValueError:  # a name, not an address
            if resolve:
                for address in netguard.resolve(bare, port or 0):
                    netguard.check_ip(address, host=bare, setting="JOBS_SQL_ALLOWED_NETWORKS")
    except netguard.BlockedAddress as exc:
        _fail(field, str(exc))
    except OSError as exc:
        _fail(field, str(exc))
