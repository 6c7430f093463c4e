"""A database that cannot be reached, said in one line instead of Django's
~90-line traceback: which database, where, and what to do about it."""

from __future__ import annotations

import re
import shlex

_MISSING = re.compile(r'database "([^"]+)" does not exist')
# psycopg's words for a connection that never opened (not a failed query).
_CONNECT = ("connection failed", "connection to server", "could not connect", "unable to open")


def database_error_line(exc: BaseException) -> str | None:
    """The one line for a connection failure of the default database, or
    None for any other error (which keeps its traceback: it may be a bug)."""
    from django.db import connections

    text = str(exc)
    db = connections["default"].settings_dict
    where = f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}"
    missing = _MISSING.search(text)
    if missing and "postgresql" in db["ENGINE"]:
        name = missing.group(1)
        create = shlex.join(
            ["createdb", "-h", db.get("HOST") or "localhost", "-p", str(db.get("PORT") or 5432)]
            + (["-U", db["USER"]] if db.get("USER") else [])
            + [name]
        )
        return (
            f"database {name!r} does not exist on the PostgreSQL server at {where} "
            f"(DATABASE_URL); create it with: {create}"
        )
    if any(word in text for word in _CONNECT):
        if "sqlite" in db["ENGINE"]:
            where = str(db.get("NAME"))
        first = text.strip().splitlines()[0].strip()
        return f"cannot connect to the database at {where} (DATABASE_URL): {first}"
    return None
