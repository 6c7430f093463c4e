"""Bounds on what users may store: text, JSON, instants, durations, queue names.

One rule per kind of value, used by every door (the job spec cleaners, the
alert, channel and compliance services, trigger overrides, API filters), so
no oversized, unstorable or overflowing value reaches the database, the
broker or date arithmetic. Each check raises ValueError with a message that
does not repeat the field name; `field_error` turns it into the domain error
for services. The maxima are settings (JOBS_MAX_*), see config.settings.base.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.conf import settings

from jobs.errors import ValidationError

T = TypeVar("T")

# Instants a user may name (run_at, query windows): far from datetime's ends,
# so adding a grace time or a retry delay, or converting between zones,
# cannot overflow; no run can predate the Unix epoch.
MIN_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(9000, 1, 1, tzinfo=UTC)

_QUEUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Names the broker or Jobwarden keep in the same Redis keyspace as queues:
# Celery's own queues (celery, celeryev.*, celery.pidbox, reply queues),
# kombu's bookkeeping (unacked*, _kombu.*) and Jobwarden's keys (jobwarden:*).
_RESERVED_QUEUE = re.compile(r"^(celery|jobwarden|unacked|kombu)", re.IGNORECASE)


def check_text(value: str, max_length: int | None = None) -> str:
    """A string the database can store: no NUL, no lone surrogate, bounded."""
    limit = settings.JOBS_MAX_TEXT_LENGTH if max_length is None else max_length
    if len(value) > limit:
        raise ValueError(f"at most {limit} characters, got {len(value)}")
    if "\0" in value:
        raise ValueError("may not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode (a lone surrogate)") from None
    return value


def check_json(value: Any, *, max_bytes: int | None = None, max_depth: int | None = None) -> Any:
    """A JSON value within JOBS_MAX_JSON_DEPTH levels and JOBS_MAX_JSON_BYTES
    (UTF-8 encoded), made of storable strings and finite numbers."""
    depth_limit = settings.JOBS_MAX_JSON_DEPTH if max_depth is None else max_depth
    size_limit = settings.JOBS_MAX_JSON_BYTES if max_bytes is None else max_bytes
    if _depth(value, depth_limit) > depth_limit:
        raise ValueError(f"nested deeper than {depth_limit} levels")
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode (a lone surrogate)") from None
    except (TypeError, ValueError) as exc:  # a date from YAML, NaN, a set ...
        raise ValueError(f"is not plain JSON ({exc})") from None
    if size > size_limit:
        raise ValueError(f"at most {size_limit} bytes as JSON, got {size}")
    if "\\u0000" in text:  # PostgreSQL's jsonb cannot hold it
        raise ValueError("may not contain NUL characters")
    return value


def _depth(value: Any, stop_after: int) -> int:
    """Nesting depth of lists/dicts, iteratively (a recursive walk is what an
    attacker's 50,000 levels would break); stops early past `stop_after`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list | tuple):
            deepest = max(deepest, level)
            if deepest > stop_after:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def check_instant(value: datetime) -> datetime:
    """An aware instant between MIN_INSTANT and MAX_INSTANT, in UTC."""
    try:
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:
        utc = None
    if utc is None or not MIN_INSTANT <= utc < MAX_INSTANT:
        raise ValueError(
            f"is out of range (years {MIN_INSTANT.year} to {MAX_INSTANT.year - 1}, UTC)"
        )
    return utc


def check_seconds(value: float, maximum: float, setting: str) -> float:
    if not math.isfinite(value) or value > maximum:
        raise ValueError(f"must be at most {maximum:g}s ({setting}), got {value:g}s")
    return value


def clamp_seconds(value: float, maximum: float | None = None) -> float:
    """`value` forced into [0, maximum] (JOBS_MAX_DURATION by default): for
    arithmetic on rows saved before the bounds, which must not overflow."""
    top = float(settings.JOBS_MAX_DURATION if maximum is None else maximum)
    if math.isnan(value):
        return top
    return min(max(value, 0.0), top)


def queue_name_problem(value: str) -> str | None:
    """Why `value` cannot be a job queue (malformed or reserved), or None."""
    if not _QUEUE.match(value):
        return (
            f"{value[:80]!r} is not a queue name (a letter or digit, then letters, "
            "digits, '_', '.' or '-', at most 64 characters)"
        )
    if _RESERVED_QUEUE.match(value):
        return f"{value!r} is reserved for the broker or Jobwarden"
    return None


def check_queue_name(value: str) -> str:
    """A broker queue a job may publish to ('' is the default queue): one of
    JOBS_QUEUES (themselves checked at start-up, jobs.checks), or when that
    list is empty any well-formed name that is not reserved."""
    if not value:
        return value
    allowed = set(settings.JOBS_QUEUES)
    if allowed:
        allowed.add(settings.JOBS_DEFAULT_QUEUE)
        if value not in allowed:
            raise ValueError(
                f"{value[:80]!r} is not one of JOBS_QUEUES ({', '.join(sorted(allowed))})"
            )
        return value
    problem = queue_name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def field_error(field: str, check: Callable[..., T], value: Any, **kw: Any) -> T:
    """Run one check for a service; a refusal becomes a ValidationError naming `field`."""
    try:
        return check(value, **kw)
    except ValueError as exc:
        raise ValidationError(f"{field}: {exc}", fields={field: str(exc)}) from None
