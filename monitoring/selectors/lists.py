"""Filtered lists for the API and CLI: jobs (with their monitoring keys in
the same query), runs, audit records, and a schedule's next fire times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from jobs.errors import NotFound, ValidationError
from jobs.models import (
    AuditEvent,
    Job,
    JobKind,
    JobRun,
    JobStatus,
    RunStatus,
    RunTrigger,
    ScheduleType,
)
from jobs.schedule import ScheduleError, get_zone, next_fires
from jobs.selectors import run_get  # noqa: F401 - part of this module's reads
from monitoring.models import HealthLevel
from monitoring.selectors.stats import _parse_instant

MAX_SCHEDULE_COUNT = 500


def _choice_list(value: str | None, allowed: list[str], field: str) -> list[str] | None:
    """'a,b' -> ['a', 'b'], each checked against `allowed`."""
    if value in (None, ""):
        return None
    items = [v.strip() for v in str(value).split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise ValidationError(
            f"{field}: unknown value {bad[0]!r} (use {', '.join(allowed)})",
            fields={field: f"one of {', '.join(allowed)}"},
        )
    return items


def parse_bool(value: Any, field: str) -> bool | None:
    if value in (None, ""):
        return None
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValidationError(
        f"{field}: {value!r} is not a boolean (use true or false)",
        fields={field: "expected true or false"},
    )


def job_queryset() -> QuerySet[Job]:
    """Jobs with everything their JSON needs joined or annotated: owner and
    stored health in the same row, `is_running` as an EXISTS on the indexed
    (job, status) prefix — no query per job."""
    running = JobRun.objects.filter(job=OuterRef("pk"), status=RunStatus.RUNNING)
    return Job.objects.select_related("owner", "health").annotate(is_running=Exists(running))


def job_list(
    *,
    enabled: Any = None,
    status: str | None = None,
    health: str | None = None,
    kind: str | None = None,
    tag: str | None = None,
    search: str | None = None,
) -> QuerySet[Job]:
    qs = job_queryset().order_by("name")
    flag = parse_bool(enabled, "enabled")
    if flag is not None:
        qs = qs.filter(enabled=flag)
    statuses = _choice_list(status, list(JobStatus.values), "status")
    if statuses:
        qs = qs.filter(status__in=statuses)
    levels = _choice_list(health, list(HealthLevel.values), "health")
    if levels:
        cond = Q(health__level__in=levels)
        if HealthLevel.UNKNOWN in levels:
            cond |= Q(health__isnull=True)
        qs = qs.filter(cond)
    kinds = _choice_list(kind, list(JobKind.values), "kind")
    if kinds:
        qs = qs.filter(kind__in=kinds)
    if tag:
        if connection.vendor == "postgresql":
            qs = qs.filter(tags__contains=[tag])
        else:  # SQLite has no JSON containment; match the quoted element
            qs = qs.filter(tags__icontains=f'"{tag}"')
    if search:
        term = search.strip()[:200]
        qs = qs.filter(
            Q(name__icontains=term)
            | Q(display_name__icontains=term)
            | Q(description__icontains=term)
        )
    return qs


def job_get(name: str) -> Job:
    job = job_queryset().filter(name=name).first()
    if job is None:
        raise NotFound(f"unknown job {name!r}", fields={"job": "not found"})
    return job


def run_list(
    *,
    job: str | None = None,
    status: str | None = None,
    trigger: str | None = None,
    start: Any = None,
    end: Any = None,
) -> QuerySet[JobRun]:
    """Runs newest first. `job` must exist (404 otherwise)."""
    qs = JobRun.objects.select_related("job")
    if job is not None:
        job_id = Job.objects.filter(name=job).values_list("pk", flat=True).first()
        if job_id is None:
            raise NotFound(f"unknown job {job!r}", fields={"job": "not found"})
        qs = qs.filter(job_id=job_id)
    statuses = _choice_list(status, list(RunStatus.values), "status")
    if statuses:
        qs = qs.filter(status__in=statuses)
    triggers = _choice_list(trigger, list(RunTrigger.values), "trigger")
    if triggers:
        qs = qs.filter(trigger__in=triggers)
    if start not in (None, ""):
        qs = qs.filter(queued_at__gte=_parse_instant(start, "from", end_of_day=False))
    if end not in (None, ""):
        qs = qs.filter(queued_at__lt=_parse_instant(end, "to", end_of_day=True))
    return qs.order_by("-queued_at", "-id")


def audit_list(
    *,
    actor: str | None = None,
    action: str | None = None,
    job: str | None = None,
    date: str | None = None,
    start: Any = None,
    end: Any = None,
    source: str | None = None,
) -> QuerySet[AuditEvent]:
    """Audit records newest first. `action` may be a prefix ending in '.'
    (e.g. 'job.'); `date` is one UTC day (YYYY-MM-DD)."""
    qs = AuditEvent.objects.all()
    if actor:
        qs = qs.filter(actor=actor)
    if action:
        qs = (
            qs.filter(action__startswith=action)
            if action.endswith(".")
            else qs.filter(action=action)
        )
    if job:
        qs = qs.filter(job_name=job)
    if source:
        qs = qs.filter(source=source)
    if date:
        day = _parse_instant(date, "date", end_of_day=False)
        qs = qs.filter(at__gte=day, at__lt=day + timedelta(days=1))
    if start not in (None, ""):
        qs = qs.filter(at__gte=_parse_instant(start, "from", end_of_day=False))
    if end not in (None, ""):
        qs = qs.filter(at__lt=_parse_instant(end, "to", end_of_day=True))
    return qs.order_by("-at", "-id")


def schedule_preview(name: str, count: Any = 10, *, now: datetime | None = None) -> dict[str, Any]:
    """The job's next `count` fire times, each in its zone with the offset
    (DST shows as a changed offset)."""
    try:
        n = int(count)
    except (TypeError, ValueError):
        raise ValidationError(
            f"count: {count!r} is not a whole number", fields={"count": "expected 1..500"}
        ) from None
    if not 1 <= n <= MAX_SCHEDULE_COUNT:
        raise ValidationError(
            f"count must be between 1 and {MAX_SCHEDULE_COUNT}",
            fields={"count": f"expected 1..{MAX_SCHEDULE_COUNT}"},
        )
    job = Job.objects.filter(name=name).first()
    if job is None:
        raise NotFound(f"unknown job {name!r}", fields={"job": "not found"})
    now = now or timezone.now()
    try:
        zone = get_zone(job.timezone)
    except ScheduleError as exc:
        raise ValidationError(str(exc), fields={"timezone": str(exc)}) from None
    if job.schedule_type == ScheduleType.ONCE:
        instants = [job.run_at] if job.run_at and job.run_at > now else []
    elif job.is_recurring:
        try:
            instants = next_fires(job.cron, job.timezone, now, n)
        except ScheduleError as exc:
            raise ValidationError(str(exc), fields={"cron": str(exc)}) from None
    else:
        instants = []
    fires = []
    for instant in instants:
        local = instant.astimezone(zone)
        offset = local.strftime("%z")
        fires.append(
            {
                "at": local.isoformat(),
                "utc": instant.astimezone(UTC).isoformat(),
                "utc_offset": f"{offset[:3]}:{offset[3:]}",
                "zone_abbreviation": local.tzname(),
            }
        )
    return {
        "job": job.name,
        "cron": job.cron or None,
        "timezone": job.timezone,
        "enabled": job.enabled,
        "count": len(fires),
        "fires": fires,
    }
