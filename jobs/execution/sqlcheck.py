"""The one rule for "one read-only SELECT" (compliance SQL rules and dynamic
parameter queries), and the connect-time check that a compliance connection
is read-only and unprivileged.

Statements are split by sqlglot's lexer for the target's dialect, so string
literals, quoted identifiers, dollar quotes and (nested) comments are read
the way that database reads them: `SELECT '/*'; COMMIT; CREATE TABLE x();
SELECT '*/'` is four statements, and `SELECT 'a\\'; DROP TABLE x; --'` is
three in PostgreSQL (no backslash escapes) but one in MariaDB. When the
dialect is not known yet (an ODBC string at save time), the query must be
one SELECT in every dialect that can read it; at run time the connection's
own dialect decides. The read-only transaction and the read-only role stay
the guards behind this check; the check keeps a query from leaving them.
"""

from __future__ import annotations

import re
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

# Django / sqlconn vendor → sqlglot dialect.
DIALECTS = {"postgresql": "postgres", "mysql": "mysql", "sqlite": "sqlite", "mssql": "tsql"}
_STARTS = {TokenType.SELECT, TokenType.WITH, TokenType.L_PAREN}
# Anything that writes, locks or leaves the statement, wherever it sits in
# the tree (a data-modifying CTE, SELECT … INTO, FOR UPDATE, a raw command).
_WRITES = tuple(
    getattr(exp, name)
    for name in (
        "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "Command", "Into",
        "Lock", "Copy", "TruncateTable", "Set", "Transaction", "Commit", "Rollback",
    )
    if hasattr(exp, name)
)  # fmt: skip
# Bound-parameter markers of the format paramstyle, read as `?` by the lexer.
_FORMAT_MARKER = re.compile(r"%\([A-Za-z_][A-Za-z0-9_]*\)s|%s|%%")


class UnsafeQuery(ValueError):
    """The query is not exactly one read-only SELECT; the message says why."""


def vendor_of_engine(engine: str) -> str:
    for vendor in ("postgresql", "mysql", "sqlite"):
        if vendor in engine:
            return vendor
    return "other"


def check_select(query: str, *, vendor: str | None = None, markers: str = "format") -> None:
    """Raise UnsafeQuery unless `query` is one SELECT (or WITH … SELECT).

    vendor: the target's (postgresql, mysql, sqlite, mssql); None or another
    value checks every dialect that can read the query. markers: "format"
    (%s, %(name)s, %%), "qmark" (?) or "template" ({name} placeholders)."""
    text = _neutral_markers(query or "", markers)
    if not text.strip():
        raise UnsafeQuery("query is empty")
    known = DIALECTS.get(vendor or "")
    dialects = [known] if known else list(DIALECTS.values())
    read = 0
    for dialect in dialects:
        try:
            tokens = Dialect.get_or_raise(dialect).tokenizer().tokenize(text)
        except SqlglotError as exc:
            if known:
                raise UnsafeQuery(f"query cannot be read as {dialect} SQL: {exc}") from None
            continue  # that database would refuse it as well
        read += 1
        _check_tokens(tokens, dialect)
        _check_tree(text, dialect)
    if not read:
        raise UnsafeQuery("query cannot be read as SQL")


def _neutral_markers(query: str, markers: str) -> str:
    if markers == "format":
        return _FORMAT_MARKER.sub(lambda m: "%" if m.group() == "%%" else "?", query)
    if markers == "template":
        from jobs.params.render import _PLACEHOLDER

        return _PLACEHOLDER.sub(lambda m: "?" if m.group(2) else "{" + m.group(1) + "}", query)
    return query


def _check_tokens(tokens: list[Any], dialect: str) -> None:
    statements: list[list[Any]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
        if dialect == "mysql" and any(c.lstrip().startswith(("!", "M!")) for c in token.comments):
            # /*! … */ is not a comment to MariaDB/MySQL: it runs its contents.
            raise UnsafeQuery("query must not contain executable comments (/*! … */)")
    statements = [s for s in statements if s]
    if len(statements) != 1:
        raise UnsafeQuery(
            f"query must be a single statement (found {len(statements)} in {dialect} SQL)"
        )
    if statements[0][0].token_type not in _STARTS:
        raise UnsafeQuery("query must be a SELECT (or WITH ... SELECT)")


def _check_tree(text: str, dialect: str) -> None:
    try:
        tree = sqlglot.parse_one(text, read=dialect)
    except RecursionError:
        raise UnsafeQuery("query is nested too deeply to check") from None
    except SqlglotError:
        # Syntax sqlglot does not model (the lexer above already proved one
        # SELECT statement); the database parses it inside a read-only
        # transaction on a read-only role.
        return
    node = tree.find(*_WRITES) if tree is not None else None
    if node is not None:
        raise UnsafeQuery(f"query must only read ({node.key.upper()} found in {dialect} SQL)")


# --- the connect-time role check -------------------------------------------------

_PG_ROLE = """
SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls,
  current_setting('default_transaction_read_only') = 'on',
  EXISTS (SELECT 1 FROM pg_roles s
          WHERE s.rolname IN ('pg_execute_server_program', 'pg_write_server_files',
                              'pg_read_server_files', 'pg_write_all_data')
            AND pg_has_role(current_user, s.oid, 'MEMBER')),
  EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
            AND n.nspname NOT IN ('pg_catalog', 'information_schema')
            AND n.nspname NOT LIKE 'pg\\_%'
            AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')),
  has_database_privilege(current_database(), 'CREATE')
  OR EXISTS (SELECT 1 FROM pg_namespace n
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg\\_%'
               AND has_schema_privilege(n.oid, 'CREATE')),
  current_user
FROM pg_roles r WHERE r.rolname = current_user
"""
_PG_REASONS = (
    "is a superuser",
    "may create roles",
    "may create databases",
    "is a replication role",
    "bypasses row-level security",
    None,  # default_transaction_read_only: judged below
    "may read/write server files or run server programs",
    "may write to tables (INSERT/UPDATE/DELETE/TRUNCATE)",
    "may create objects",
)
_MYSQL_READ_PRIVILEGES = {"SELECT", "USAGE", "SHOW VIEW"}
_GRANT = re.compile(r"^GRANT (?P<privs>.+?) ON (?P<on>.+?) TO ", re.S)


def check_read_only_role(cursor: Any, vendor: str) -> None:
    """Raise UnsafeQuery unless the session's role can only read: PostgreSQL
    not superuser (nor any role attribute or server-file role), no write or
    create privilege, default_transaction_read_only on; MariaDB/MySQL no
    privilege beyond SELECT/SHOW VIEW and no role grants. SQLite has no roles
    (the caller sets PRAGMA query_only); any other database is refused,
    since its role cannot be verified."""
    if vendor == "postgresql":
        cursor.execute(_PG_ROLE)
        row = cursor.fetchone()
        if row is None:
            raise UnsafeQuery("cannot read the session's role")
        name, flags = row[-1], [_truthy(v) for v in row[:-1]]
        for flag, reason in zip(flags, _PG_REASONS, strict=False):
            if reason and flag:
                raise UnsafeQuery(f"role {name!r} {reason}: use a read-only role")
        if not flags[5]:
            raise UnsafeQuery(
                f"role {name!r} is not read-only "
                f"(ALTER ROLE {name} SET default_transaction_read_only = on)"
            )
    elif vendor == "mysql":
        cursor.execute("SHOW GRANTS FOR CURRENT_USER()")
        for (grant,) in cursor.fetchall():
            _check_mysql_grant(str(grant))
    elif vendor != "sqlite":
        raise UnsafeQuery(
            f"cannot verify that a {vendor} connection is read-only; "
            "compliance SQL rules need PostgreSQL or MariaDB/MySQL"
        )


def _truthy(value: Any) -> bool:
    # psqlodbc returns booleans as '1'/'0' text (BoolsAsChar), psycopg as bool.
    return str(value).strip().lower() in ("1", "t", "true", "on")


def _check_mysql_grant(grant: str) -> None:
    match = _GRANT.match(grant)
    if match is None:
        raise UnsafeQuery(
            f"the account holds a role or proxy grant ({grant[:80]}): use a plain read-only account"
        )
    if "WITH GRANT OPTION" in grant.upper() or "WITH ADMIN OPTION" in grant.upper():
        raise UnsafeQuery("the account may grant privileges: use a read-only account")
    privileges = re.sub(r"\([^)]*\)", "", match.group("privs"))  # column lists
    extra = {p.strip().upper() for p in privileges.split(",")} - _MYSQL_READ_PRIVILEGES
    if extra:
        raise UnsafeQuery(
            f"the account holds {', '.join(sorted(extra))} on {match.group('on')}: "
            "use an account with SELECT only"
        )
