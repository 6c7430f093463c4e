"""What of a run's parameters may be stored and shown (see jobs.params)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from jobs.params.render import MASK, SECRET_NAME

# --- storing ---------------------------------------------------------------


def secret_parameter_names(job: Any) -> set[str]:
    # The names only: read straight off the (sealed) config, no copy of it.
    block = (job.config or {}).get("secret_parameters")
    return {str(name) for name in block} if isinstance(block, dict) else set()


@lru_cache(maxsize=4096)  # asked for every parameter of every run; names repeat
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
