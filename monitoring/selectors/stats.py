"""Statistics of one job over a window, computed by the database.

Aggregates (counts, min/avg/max, percentiles), gaps-and-islands window
functions (consecutive failures, downtime), GROUP BY on a normalised error
message and on the local day. PostgreSQL computes percentiles with
percentile_cont; SQLite (`make run`) reads them with two ORDER BY/OFFSET
probes each. Nothing loops over run rows in Python.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Aggregate, Avg, Count, FloatField, Max, Min, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from jobs.errors import NotFound, ValidationError
from jobs.limits import check_instant
from jobs.models import Job, JobRun, RunStatus, RunTrigger
from jobs.schedule import ScheduleError, get_zone
from monitoring.fires import count_fires

SUCCEEDED = RunStatus.SUCCEEDED.value
FAILURES = tuple(str(s) for s in RunStatus.failures())
DONE = (SUCCEEDED, *FAILURES)

# Volatile parts of an error message, replaced so that "timeout after 31s on
# id 8f3e…" and "timeout after 29s on id 11ab…" count as one error. Plain
# POSIX-style classes only: the same patterns run in PostgreSQL and in the
# Python regexp_replace registered for SQLite (monitoring.apps).
ERROR_PATTERNS = (
    ("[\r\n].*", ""),  # first line only
    ("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "<id>"),
    ("0x[0-9a-fA-F]+", "<hex>"),
    ("[0-9a-fA-F]{10,}", "<hex>"),
    ("[0-9]+", "<n>"),
)
ERROR_MAX_CHARS = 300


class PercentileCont(Aggregate):
    """PostgreSQL's ordered-set aggregate percentile_cont(p)."""

    function = "percentile_cont"
    template = "%(function)s(%(p)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, p: float, **extra):
        super().__init__(expression, p=float(p), **extra)


def stats_window(
    start: str | date | datetime | None,
    end: str | date | datetime | None,
    *,
    now: datetime | None = None,
) -> tuple[datetime, datetime]:
    """Parse ?from=&to= (ISO date or datetime; naive = UTC). Default: the last
    MONITORING_STATS_DEFAULT_DAYS days. Raises ValidationError naming the field."""
    now = now or timezone.now()
    end_at = _parse_instant(end, "to", end_of_day=True) if end not in (None, "") else now
    start_at = (
        _parse_instant(start, "from", end_of_day=False)
        if start not in (None, "")
        else end_at - timedelta(days=settings.MONITORING_STATS_DEFAULT_DAYS)
    )
    if start_at >= end_at:
        raise ValidationError("'from' must be before 'to'", fields={"from": "not before 'to'"})
    if end_at - start_at > timedelta(days=settings.MONITORING_STATS_MAX_DAYS):
        raise ValidationError(
            f"window longer than {settings.MONITORING_STATS_MAX_DAYS} days",
            fields={"from": f"at most {settings.MONITORING_STATS_MAX_DAYS} days before 'to'"},
        )
    return start_at, end_at


def _parse_instant(value: Any, field: str, *, end_of_day: bool) -> datetime:
    try:
        parsed = _instant_or_none(value, end_of_day)
    except OverflowError:  # the day after 9999-12-31
        parsed = datetime.max
    if parsed is None:
        raise ValidationError(
            f"{field!r}: {str(value)[:60]!r} is not an ISO 8601 date or date-time",
            fields={field: "expected ISO 8601, e.g. 2025-01-31 or 2025-01-31T12:00:00+01:00"},
        )
    try:
        return check_instant(parsed)
    except ValueError as exc:
        message = f"{str(value)[:60]} {exc}"
        raise ValidationError(f"{field!r}: {message}", fields={field: message}) from None


def _instant_or_none(value: Any, end_of_day: bool) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value + timedelta(days=1 if end_of_day else 0), time(0))
    text = str(value).strip().replace(" ", "+") if "T" in str(value) else str(value).strip()
    try:
        # A bare date is a whole day (checked first: parse_datetime would
        # read it as midnight, and ?to=2025-03-01 would exclude that day).
        day = parse_date(text) if len(text) == 10 else None
        if day is not None:
            return datetime.combine(day + timedelta(days=1 if end_of_day else 0), time(0))
        return parse_datetime(text)
    except ValueError:
        return None


def job_stats(name: str, start: datetime, end: datetime) -> dict[str, Any]:
    """Statistics of job `name` for runs queued in [start, end). Raises NotFound."""
    job = Job.objects.filter(name=name).first()
    if job is None:
        raise NotFound(f"unknown job {name!r}", fields={"job": "not found"})
    runs = JobRun.objects.filter(job=job, queued_at__gte=start, queued_at__lt=end).order_by()
    summary = _summary(runs)
    streaks = _streaks(job.pk, start, end)
    done = summary["succeeded"] + summary["failed"]
    return {
        "job": job.name,
        "from": start,
        "to": end,
        "timezone": job.timezone,
        "total": summary["total"],
        "succeeded": summary["succeeded"],
        "failed": summary["failed"],
        "cancelled": summary["cancelled"],
        "skipped": summary["skipped"],
        "active": summary["active"],
        "success_rate": round(100.0 * summary["succeeded"] / done, 2) if done else None,
        "duration_ms": _durations(runs),
        "consecutive_failures": job.consecutive_failures,
        "max_consecutive_failures": streaks["max_consecutive_failures"],
        "longest_downtime_seconds": streaks["longest_downtime_seconds"],
        "availability": _availability(job, runs, start, end),
        "recent_runs": _recent(runs),
        "common_errors": _common_errors(runs),
        "daily": _daily(runs, job.timezone),
    }


def _summary(runs: QuerySet[JobRun]) -> dict[str, int]:
    return runs.aggregate(
        total=Count("pk"),
        succeeded=Count("pk", filter=Q(status=SUCCEEDED)),
        failed=Count("pk", filter=Q(status__in=FAILURES)),
        cancelled=Count("pk", filter=Q(status=RunStatus.CANCELLED)),
        skipped=Count("pk", filter=Q(status=RunStatus.SKIPPED)),
        active=Count("pk", filter=Q(status__in=RunStatus.active())),
    )


def _durations(runs: QuerySet[JobRun]) -> dict[str, float | None]:
    """min / avg / median / p95 / max of executed runs' durations (ms)."""
    timed = runs.filter(status__in=DONE, duration_ms__isnull=False)
    aggs: dict[str, Any] = {
        "min": Min("duration_ms"),
        "avg": Avg("duration_ms"),
        "max": Max("duration_ms"),
        "n": Count("pk"),
    }
    postgres = connection.vendor == "postgresql"
    if postgres:
        aggs["median"] = PercentileCont("duration_ms", 0.5)
        aggs["p95"] = PercentileCont("duration_ms", 0.95)
    row = timed.aggregate(**aggs)
    if not postgres:
        row["median"] = _percentile_by_offset(timed, row["n"], 0.5)
        row["p95"] = _percentile_by_offset(timed, row["n"], 0.95)
    out = {
        k: (round(float(row[k]), 1) if row[k] is not None else None)
        for k in ("min", "avg", "median", "p95", "max")
    }
    return out


def _percentile_by_offset(timed: QuerySet[JobRun], n: int, p: float) -> float | None:
    """percentile_cont semantics (linear interpolation) with two indexed probes."""
    if not n:
        return None
    pos = p * (n - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    ordered = timed.order_by("duration_ms").values_list("duration_ms", flat=True)
    a = ordered[lo]
    b = ordered[hi] if hi != lo else a
    if a is None or b is None:  # cannot happen: `timed` excludes NULL durations
        return None
    return a + (b - a) * (pos - lo)


def _epoch(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM {column})"
    return f"(julianday({column}) * 86400.0)"


def _streaks(job_id: int, start: datetime, end: datetime) -> dict[str, Any]:
    """Longest failure streak, and the longest span from a failure to the
    next success (closed spans: an ongoing outage shows as current
    consecutive failures). Gaps-and-islands: each success starts a group;
    the failures of group g are followed by the success that opens g + 1."""
    failures = ", ".join(["%s"] * len(FAILURES))
    sql = f"""
        WITH r AS (
            SELECT CASE WHEN status = %s THEN 0 ELSE 1 END AS failed,
                   COALESCE(finished_at, queued_at) AS t,
                   SUM(CASE WHEN status = %s THEN 1 ELSE 0 END)
                       OVER (ORDER BY queued_at, id ROWS UNBOUNDED PRECEDING) AS grp
            FROM jobs_jobrun
            WHERE job_id = %s AND queued_at >= %s AND queued_at < %s
              AND status IN (%s, {failures})
        ),
        streaks AS (
            SELECT grp, COUNT(*) AS n, MIN(t) AS down_since FROM r WHERE failed = 1 GROUP BY grp
        ),
        ups AS (SELECT grp, t AS up_at FROM r WHERE failed = 0)
        SELECT (SELECT MAX(n) FROM streaks),
               (SELECT MAX({_epoch("ups.up_at")} - {_epoch("streaks.down_since")})
                FROM streaks JOIN ups ON ups.grp = streaks.grp + 1)
    """  # noqa: S608 - only fixed fragments are interpolated; values are parameters
    params: list[Any] = [SUCCEEDED, SUCCEEDED, job_id, start, end, SUCCEEDED, *FAILURES]
    with connection.cursor() as cur:
        cur.execute(sql, params)
        max_streak, downtime = cur.fetchone()
    return {
        "max_consecutive_failures": int(max_streak or 0),
        "longest_downtime_seconds": round(float(downtime), 3) if downtime is not None else None,
    }


def _availability(
    job: Job, runs: QuerySet[JobRun], start: datetime, end: datetime
) -> dict[str, Any]:
    """Successful scheduled runs / fires the schedule expected in the window
    (from the job's creation at the earliest; the current schedule is
    assumed to have held over the whole window)."""
    expected = 0
    if job.is_recurring:
        since = max(start, job.created_at) if job.created_at else start
        try:
            expected = count_fires(job.cron, job.timezone, since, min(end, timezone.now()))
        except (ScheduleError, ValueError):
            expected = 0
    succeeded = runs.filter(status=SUCCEEDED)
    # Two counts, not one OR: with the OR, PostgreSQL joined every run of the
    # table to find first attempts (300 ms on 1M runs); this way the join
    # only sees the retries.
    ok = succeeded.filter(trigger=RunTrigger.SCHEDULED).count() + (
        succeeded.filter(
            trigger=RunTrigger.RETRY, first_attempt__trigger=RunTrigger.SCHEDULED
        ).count()
    )
    percent = round(min(100.0, 100.0 * ok / expected), 2) if expected else None
    return {"percent": percent, "successful_scheduled_runs": ok, "expected_runs": expected}


def _recent(runs: QuerySet[JobRun]) -> list[dict[str, Any]]:
    rows = runs.order_by("-queued_at", "-id").values(
        "id",
        "status",
        "trigger",
        "attempt",
        "queued_at",
        "started_at",
        "finished_at",
        "duration_ms",
        "error",
    )[:10]
    return [
        {
            **row,
            "id": str(row["id"]),
            "error": (row["error"] or "").split("\n", 1)[0][:200],
        }
        for row in rows
    ]


def _normalised_error_sql(column: str) -> tuple[str, list[str]]:
    expr = f"SUBSTR({column}, 1, {ERROR_MAX_CHARS * 4})"
    params: list[str] = []
    for pattern, replacement in ERROR_PATTERNS:
        expr = f"regexp_replace({expr}, %s, %s, 'g')"
        params += [pattern, replacement]
    return f"SUBSTR(TRIM({expr}), 1, {ERROR_MAX_CHARS})", params


def _common_errors(runs: QuerySet[JobRun], limit: int = 5) -> list[dict[str, Any]]:
    failed = runs.filter(status__in=FAILURES).exclude(error="")
    inner_sql, inner_params = failed.values("error", "queued_at").query.sql_with_params()
    norm, norm_params = _normalised_error_sql("e.error")
    sql = f"""
        SELECT {norm} AS message, COUNT(*) AS n, MAX(e.queued_at) AS last_seen, MIN(e.error) AS example
        FROM ({inner_sql}) e
        GROUP BY 1 ORDER BY n DESC, message LIMIT %s
    """  # noqa: S608 - fixed fragments; values are parameters
    with connection.cursor() as cur:
        cur.execute(sql, [*norm_params, *inner_params, limit])
        rows = cur.fetchall()
    return [
        {
            "message": message,
            "count": n,
            "last_seen": _as_aware(last_seen),
            "example": (example or "").split("\n", 1)[0][:ERROR_MAX_CHARS],
        }
        for message, n, last_seen, example in rows
    ]


def _as_aware(value: Any) -> Any:
    if isinstance(value, str):  # SQLite returns text from raw SQL
        value = parse_datetime(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _daily(runs: QuerySet[JobRun], tz: str) -> list[dict[str, Any]]:
    """Runs per day of the job's own calendar (its time zone)."""
    try:
        zone = get_zone(tz)
    except ScheduleError:
        zone = get_zone("UTC")
    rows = (
        runs.annotate(day=TruncDate("queued_at", tzinfo=zone))
        .values("day")
        .annotate(
            runs=Count("pk"),
            successes=Count("pk", filter=Q(status=SUCCEEDED)),
            failures=Count("pk", filter=Q(status__in=FAILURES)),
            avg_duration_ms=Avg("duration_ms", filter=Q(status__in=DONE)),
        )
        .order_by("day")
    )
    return [
        {
            "date": row["day"].isoformat(),
            "runs": row["runs"],
            "successes": row["successes"],
            "failures": row["failures"],
            "avg_duration_ms": round(row["avg_duration_ms"], 1)
            if row["avg_duration_ms"] is not None
            else None,
        }
        for row in rows
    ]
