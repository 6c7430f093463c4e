"""What a SQL job may call (procedure_refusal) and how its parameter values
become the Python types bound for their declared SQL types (convert)."""

from __future__ import annotations

import fnmatch
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings

PG_TYPES = {
    "int": "integer", "bigint": "bigint", "string": "varchar", "text": "text",
    "datetime": "timestamp", "date": "date", "decimal": "numeric", "bool": "boolean",
}  # fmt: skip
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

# Schemas and name prefixes of the databases' own functions: file access
# (pg_read_file, lo_import, LOAD_FILE), running SQL given as text (dblink,
# sys.execute_prepared_stmt), server control. Never callable by a job.
SYSTEM_SCHEMAS = frozenset(
    {"pg_catalog", "information_schema", "mysql", "sys", "performance_schema"}
)
SYSTEM_PREFIXES = ("pg_", "lo_", "dblink")


def procedure_refusal(name: str) -> str | None:
    """Why `name` may not be called, or None. System schemas and prefixes
    are refused always; with JOBS_SQL_ALLOWED_PROCEDURES set the name must
    match it; with it empty the name must be schema-qualified, because a bare
    name resolves to built-ins first (PostgreSQL searches pg_catalog before
    the search_path; MariaDB's LOAD_FILE, SLEEP … are unqualified) and a
    qualified one never does."""
    schema, _, proc = name.lower().rpartition(".")
    if schema in SYSTEM_SCHEMAS or schema.startswith("pg_") or proc.startswith(SYSTEM_PREFIXES):
        return f"{name!r} is a system function or procedure"
    allowed = settings.JOBS_SQL_ALLOWED_PROCEDURES
    if allowed:
        if not any(fnmatch.fnmatchcase(name.lower(), entry.lower()) for entry in allowed):
            return f"{name!r} is not in JOBS_SQL_ALLOWED_PROCEDURES"
    elif not schema:
        return (
            f"{name!r} must be schema-qualified (schema.name) unless listed in "
            "JOBS_SQL_ALLOWED_PROCEDURES (a bare name can resolve to a built-in function)"
        )
    return None


def convert(kind: str, value: Any, field: str) -> Any:
    """A parameter value as the Python type bound for `kind` (ValueError names the field)."""
    if value is None:
        return None
    try:
        if kind in ("int", "bigint"):
            if isinstance(value, bool):
                raise ValueError("a boolean is not an integer")
            if isinstance(value, float) and not value.is_integer():
                raise ValueError("has a fraction")
            number = int(value) if not isinstance(value, str) else int(value.strip())
            limit = 2**31 if kind == "int" else 2**63
            if not -limit <= number < limit:
                raise ValueError(f"out of range for {kind}")
            return number
        if kind in ("string", "text"):
            return value.isoformat() if isinstance(value, datetime | date) else str(value)
        if kind == "datetime":
            if isinstance(value, datetime):
                return value.replace(tzinfo=None)  # wall time in the job's zone
            if isinstance(value, date):
                return datetime(value.year, value.month, value.day)
            return datetime.fromisoformat(str(value).strip()).replace(tzinfo=None)
        if kind == "date":
            if isinstance(value, datetime):
                return value.date()
            if isinstance(value, date):
                return value
            return date.fromisoformat(str(value).strip()[:10])
        if kind == "decimal":
            if isinstance(value, bool):
                raise ValueError("a boolean is not a decimal")
            return Decimal(str(value).strip())
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError("expected true/false/1/0")
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise ValueError(f"{field}: {value!r} is not a valid {kind} ({exc})") from None
    raise ValueError(f"{field}: unknown type {kind!r}")
