"""Cron schedules in a job's time zone: validation, descriptions, fire times.

Pure functions, no I/O. The one DST rule, used by beat and by every reader of
next run times:

* A wall-clock time that does not exist (spring forward, e.g. 02:30 in
  America/New_York) fires once, at the instant the clock jumps (03:00 EDT).
* A wall-clock time that happens twice (fall back, e.g. 01:30) fires once, at
  its first occurrence -- unless the hour field is a wildcard (``*``,
  ``*/N``): such a schedule means "every hour", and the repeated hour is a
  different real hour, so it fires at both.
* Two wall times that map to the same instant fire once.

So a daily 02:30 job runs exactly once on both transition days, and an hourly
job never runs twice in one real hour.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import CroniterBadDateError, croniter

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# DST shifts are at most 2 hours anywhere; 3 keeps fire times ordered.
_MAX_SHIFT = timedelta(hours=3)


class ScheduleError(ValueError):
    """A cron expression or time zone that cannot be used; message says why."""


def normalize_cron(expr: str) -> str:
    """Expand macros and validate; returns the 5-field expression."""
    if not isinstance(expr, str) or not expr.strip():
        raise ScheduleError("cron expression is empty")
    text = " ".join(expr.split())
    text = MACROS.get(text.lower(), text)
    if text.startswith("@"):
        raise ScheduleError(f"unknown cron macro {expr!r} (use one of {', '.join(sorted(MACROS))})")
    fields = text.split(" ")
    if len(fields) != 5:
        raise ScheduleError(
            f"cron expression {expr!r} has {len(fields)} fields; expected 5 "
            "(minute hour day-of-month month day-of-week)"
        )
    try:
        croniter(text, datetime(2000, 1, 1))
    except (ValueError, KeyError, TypeError) as exc:  # croniter raises subclasses of ValueError
        raise ScheduleError(f"invalid cron expression {expr!r}: {exc}") from None
    return text


def check_cron_fires(expr: str) -> str:
    """normalize_cron, and refuse an expression that never fires (Feb 30th):
    saving it would leave the job without a next fire time. Validation only;
    the hot paths call normalize_cron."""
    text = normalize_cron(expr)
    try:
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        raise ScheduleError(f"cron expression {expr!r} never fires (no such date)") from None
    return text


@lru_cache(maxsize=1024)
def get_zone(name: str) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ScheduleError("time zone is empty")
    if name not in _zone_names():
        raise ScheduleError(f"unknown time zone {name!r} (use an IANA name such as Europe/Prague)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r}") from None


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


@lru_cache(maxsize=1024)
def describe(expr: str) -> str:
    """Human-readable description, e.g. 'At 02:00 AM'. Cached: cron-descriptor
    re-reads its translation file on every call, which dominated a job list
    (jobs share a few crons)."""
    from cron_descriptor import ExpressionDescriptor, Options

    text = normalize_cron(expr)
    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    try:
        return str(ExpressionDescriptor(text, options).get_description())
    except Exception:  # descriptor gaps must never break a listing
        return text


def _hour_is_wildcard(expr: str) -> bool:
    return expr.split(" ")[1].startswith("*")


def _instants(wall: datetime, zone: ZoneInfo, every_hour: bool) -> list[datetime]:
    """The UTC instants a local wall time fires at under the DST rule."""
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    u0, u1 = first.astimezone(UTC), second.astimezone(UTC)
    if u0 == u1:
        return [u0]
    if u0.astimezone(zone).replace(tzinfo=None) != wall:
        # Does not exist: fire when the clock jumps over it.
        return [_transition_between(min(u0, u1), max(u0, u1), zone)]
    # Happens twice: first occurrence only, both for every-hour schedules.
    return sorted([u0, u1]) if every_hour else [min(u0, u1)]


def _transition_between(lo: datetime, hi: datetime, zone: ZoneInfo) -> datetime:
    """First instant in (lo, hi] whose UTC offset differs from lo's."""
    before = lo.astimezone(zone).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return hi.replace(microsecond=0)


def iter_fires(expr: str, tz: str, after: datetime) -> Iterator[datetime]:
    """Fire instants (aware, UTC) strictly after `after`, in order."""
    text = normalize_cron(expr)
    zone = get_zone(tz)
    every_hour = _hour_is_wildcard(text)
    if after.tzinfo is None:
        raise ValueError("`after` must be timezone-aware")
    start_wall = (after.astimezone(zone) - _MAX_SHIFT).replace(tzinfo=None)
    walls = croniter(text, start_wall, ret_type=datetime)
    heap: list[datetime] = []
    last: datetime | None = None
    while True:
        wall = walls.get_next(datetime)
        for instant in _instants(wall, zone, every_hour):
            heapq.heappush(heap, instant)
        horizon = wall.replace(tzinfo=zone).astimezone(UTC) - _MAX_SHIFT
        while heap and heap[0] <= horizon:
            instant = heapq.heappop(heap)
            if instant > after and instant != last:
                last = instant
                yield instant


def next_fire(expr: str, tz: str, after: datetime) -> datetime:
    return next(iter_fires(expr, tz, after))


def next_fires(expr: str, tz: str, after: datetime, count: int) -> list[datetime]:
    fires: list[datetime] = []
    for instant in iter_fires(expr, tz, after):
        fires.append(instant)
        if len(fires) >= count:
            break
    return fires


def previous_fire(expr: str, tz: str, at: datetime, within: timedelta) -> datetime | None:
    """The latest fire instant in (at - within, at], or None.

    Used by the fire task to name which scheduled fire it is executing, so a
    duplicate dispatch of the same fire maps to the same (job, scheduled_for).
    """
    latest = None
    for instant in iter_fires(expr, tz, at - within):
        if instant > at:
            break
        latest = instant
    return latest


def fires_between(expr: str, tz: str, start: datetime, end: datetime, limit: int = 100_000) -> int:
    """How many fires fall in (start, end]; bounded by `limit`."""
    n = 0
    for instant in iter_fires(expr, tz, start):
        if instant > end or n >= limit:
            break
        n += 1
    return n
