"""Reads for health: the facts the rules need (in bulk) and stored verdicts.

health_facts() gathers HealthFacts for many jobs in a fixed number of
queries whatever the number of jobs:
  1. jobs (+ stored reset time, + latest scheduled fire via an indexed subquery),
  2. window aggregates for all those jobs (one GROUP BY),
  3. medians of recent successful durations (PostgreSQL: LATERAL + percentile_cont;
     elsewhere a window-function query and the median of <= 20 values in Python),
  4. running runs (for the stuck rule).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import (
    Avg,
    Count,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Window,
)
from django.db.models.functions import RowNumber

from jobs.errors import NotFound
from jobs.models import Job, JobRun, RunStatus, RunTrigger, ScheduleType
from monitoring.health import HealthFacts, StuckRun
from monitoring.models import HealthEvent, HealthLevel, JobHealth

SUCCEEDED = RunStatus.SUCCEEDED.value
FAILURES = tuple(str(s) for s in RunStatus.failures())


def health_facts(job_ids: Iterable[int] | None, now: datetime) -> list[HealthFacts]:
    """Facts for the given jobs (all jobs when None), in four queries."""
    ids = list(job_ids) if job_ids is not None else None
    latest_fire = (
        JobRun.objects.filter(
            job=OuterRef("pk"), trigger=RunTrigger.SCHEDULED, scheduled_for__isnull=False
        )
        .order_by("-scheduled_for")
        .values("scheduled_for")[:1]
    )
    base = Job.objects.order_by().annotate(
        reset_at=F("health__reset_at"), latest_scheduled_for=Subquery(latest_fire)
    )
    if ids is not None:
        base = base.filter(pk__in=ids)
    rows = base.values(
        "pk", "name", "enabled", "schedule_type", "cron", "timezone", "created_at",
        "next_run_at", "disabled_by", "disabled_reason", "timeout", "grace_time",
        "expected_max_duration", "min_duration", "consecutive_failures",
        "execution_count", "status", "last_duration_ms", "reset_at",
        "latest_scheduled_for", "last_run_id",
    )  # fmt: skip
    facts: dict[int, HealthFacts] = {}
    for row in rows:
        facts[row["pk"]] = HealthFacts(
            job_id=row["pk"],
            name=row["name"],
            enabled=row["enabled"],
            cron=row["cron"] if row["schedule_type"] == ScheduleType.RECURRING else "",
            timezone=row["timezone"],
            created_at=row["created_at"],
            next_run_at=row["next_run_at"],
            disabled_by=row["disabled_by"],
            disabled_reason=row["disabled_reason"],
            timeout=row["timeout"],
            grace_time=row["grace_time"],
            expected_max_duration=row["expected_max_duration"],
            min_duration=row["min_duration"],
            consecutive_failures=row["consecutive_failures"],
            execution_count=row["execution_count"],
            last_status=row["status"],
            last_duration_ms=row["last_duration_ms"],
            latest_scheduled_for=row["latest_scheduled_for"],
            ran_at_all=row["last_run_id"] is not None or row["execution_count"] > 0,
        )
    if not facts:
        return []
    scope = None if ids is None else list(facts)
    _add_window_aggregates(facts, scope, now)
    _add_medians(facts, scope)
    _add_running(facts, scope)
    return list(facts.values())


def _add_window_aggregates(
    facts: dict[int, HealthFacts], scope: list[int] | None, now: datetime
) -> None:
    since = now - timedelta(seconds=settings.MONITORING_HEALTH_WINDOW)
    runs = JobRun.objects.filter(queued_at__gte=since).filter(
        Q(job__health__reset_at__isnull=True) | Q(queued_at__gt=F("job__health__reset_at"))
    )
    if scope is not None:
        runs = runs.filter(job_id__in=scope)
    rows = (
        runs.order_by()
        .values("job_id")
        .annotate(
            ok=Count("pk", filter=Q(status=SUCCEEDED)),
            bad=Count("pk", filter=Q(status__in=FAILURES)),
            avg_ms=Avg("duration_ms", filter=Q(status__in=(SUCCEEDED, *FAILURES))),
        )
    )
    for row in rows:
        f = facts.get(row["job_id"])
        if f is not None:
            f.window_succeeded, f.window_failed = row["ok"], row["bad"]
            f.window_avg_duration_ms = row["avg_ms"]


def _add_medians(facts: dict[int, HealthFacts], scope: list[int] | None) -> None:
    """Median duration of the SAMPLE successful runs before the latest one, for
    jobs whose latest run succeeded (the only ones the anomaly rule judges)."""
    wanted = [
        f.job_id
        for f in facts.values()
        if f.last_status == SUCCEEDED and f.last_duration_ms is not None
    ]
    if not wanted:
        return
    sample = settings.MONITORING_ANOMALY_SAMPLE
    if connection.vendor == "postgresql":
        sql = """
            SELECT j.id, count(s.duration_ms),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY s.duration_ms)
            FROM jobs_job j
            CROSS JOIN LATERAL (
                SELECT r.duration_ms FROM jobs_jobrun r
                WHERE r.job_id = j.id AND r.status = %s AND r.finished_at IS NOT NULL
                  AND r.duration_ms IS NOT NULL
                ORDER BY r.finished_at DESC OFFSET 1 LIMIT %s
            ) s
            WHERE j.id = ANY(%s)
            GROUP BY j.id
        """
        with connection.cursor() as cur:
            cur.execute(sql, [SUCCEEDED, sample, wanted])
            for job_id, n, median in cur.fetchall():
                facts[job_id].median_samples, facts[job_id].median_ms = n, median
        return
    # Portable path (SQLite under `make run`): number each job's successes
    # newest first and keep ranks 2..SAMPLE+1.
    ranked = (
        JobRun.objects.filter(
            job_id__in=wanted,
            status=SUCCEEDED,
            finished_at__isnull=False,
            duration_ms__isnull=False,
        )
        .annotate(
            rn=Window(RowNumber(), partition_by=[F("job_id")], order_by=F("finished_at").desc())
        )
        .filter(rn__gt=1, rn__lte=sample + 1)
        .values_list("job_id", "duration_ms")
    )
    values: dict[int, list[int]] = defaultdict(list)
    for job_id, ms in ranked:
        if ms is not None:  # always true (filtered above); narrows the type
            values[job_id].append(ms)
    for job_id, durations in values.items():
        facts[job_id].median_samples = len(durations)
        facts[job_id].median_ms = float(statistics.median(durations))


def _add_running(facts: dict[int, HealthFacts], scope: list[int] | None) -> None:
    runs = JobRun.objects.filter(status=RunStatus.RUNNING)
    if scope is not None:
        runs = runs.filter(job_id__in=scope)
    for run_id, job_id, started_at, heartbeat_at in runs.order_by().values_list(
        "pk", "job_id", "started_at", "heartbeat_at"
    ):
        if job_id in facts:
            facts[job_id].stuck.append(StuckRun(str(run_id), started_at, heartbeat_at))


# --- stored verdicts ------------------------------------------------------------


def health_list(level: str | None = None) -> list[dict]:
    """Every job's stored health, worst first (critical, warning, unknown,
    healthy), then by name. Jobs never evaluated show as unknown."""
    rows = (
        Job.objects.order_by()
        .select_related("health")
        .only(
            "name",
            "enabled",
            "health__level",
            "health__issues",
            "health__checked_at",
            "health__level_since",
        )
    )
    if level:
        if level == HealthLevel.UNKNOWN:
            rows = rows.filter(Q(health__isnull=True) | Q(health__level=level))
        else:
            rows = rows.filter(health__level=level)
    items = [_health_dict(job) for job in rows]
    items.sort(key=lambda h: (-HealthLevel.rank(h["level"]), h["job"]))
    return items


def job_health(name: str) -> dict:
    job = Job.objects.select_related("health").filter(name=name).first()
    if job is None:
        raise NotFound(f"unknown job {name!r}", fields={"job": "not found"})
    data = _health_dict(job)
    data["recent_changes"] = [
        {"at": e.at, "previous": e.previous, "current": e.current}
        for e in HealthEvent.objects.filter(job=job)[:10]
    ]
    return data


def _health_dict(job: Job) -> dict:
    health: JobHealth | None = getattr(job, "health", None)
    if health is None:
        return {
            "job": job.name,
            "level": HealthLevel.UNKNOWN.value,
            "is_healthy": False,
            "issues": [],
            "checked_at": None,
            "level_since": None,
        }
    return {
        "job": job.name,
        "level": health.level,
        "is_healthy": health.is_healthy,
        "issues": health.issues,
        "checked_at": health.checked_at,
        "level_since": health.level_since,
    }


def stored_levels(job_ids: Iterable[int] | None = None) -> dict[int, JobHealth]:
    qs: QuerySet[JobHealth] = JobHealth.objects.all()
    if job_ids is not None:
        qs = qs.filter(job_id__in=list(job_ids))
    return {h.pk: h for h in qs}  # the primary key is the job id


__all__ = ["health_facts", "health_list", "job_health", "stored_levels"]
