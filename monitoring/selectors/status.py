"""System status: one screen's worth of numbers, each from one aggregate."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, Q
from django.utils import timezone

from jobs.models import Job, JobRun, RunStatus
from monitoring.models import HealthLevel, JobHealth

log = logging.getLogger(__name__)

SUCCEEDED = RunStatus.SUCCEEDED.value
FAILURES = tuple(str(s) for s in RunStatus.failures())
PROBLEMATIC_LIMIT = 50


def system_status(now: datetime | None = None, *, ping_workers: bool = True) -> dict[str, Any]:
    now = now or timezone.now()
    jobs = Job.objects.order_by().aggregate(
        total=Count("pk"), enabled=Count("pk", filter=Q(enabled=True))
    )
    levels = dict.fromkeys(HealthLevel.values, 0)
    for row in JobHealth.objects.order_by().values("level").annotate(n=Count("pk")):
        levels[row["level"]] = row["n"]
    levels[HealthLevel.UNKNOWN] += jobs["total"] - sum(levels.values())  # never evaluated

    active = (
        JobRun.objects.filter(status__in=RunStatus.active())
        .order_by()
        .aggregate(
            running=Count("pk", filter=Q(status=RunStatus.RUNNING)),
            queued=Count("pk", filter=Q(status=RunStatus.QUEUED)),
        )
    )
    day = (
        JobRun.objects.filter(queued_at__gte=now - timedelta(hours=24))
        .order_by()
        .aggregate(
            runs=Count("pk"),
            ok=Count("pk", filter=Q(status=SUCCEEDED)),
            bad=Count("pk", filter=Q(status__in=FAILURES)),
            avg_ms=Avg("duration_ms", filter=Q(status__in=(SUCCEEDED, *FAILURES))),
        )
    )
    done = day["ok"] + day["bad"]
    problematic = (
        JobHealth.objects.filter(level__in=(HealthLevel.CRITICAL, HealthLevel.WARNING))
        .select_related("job")
        .only("level", "issues", "level_since", "job__name", "job__enabled")
    )
    worst_first = sorted(
        problematic[: PROBLEMATIC_LIMIT * 2],
        key=lambda h: (-HealthLevel.rank(h.level), h.job.name),
    )[:PROBLEMATIC_LIMIT]
    problem_list = [
        {
            "job": h.job.name,
            "level": h.level,
            "enabled": h.job.enabled,
            "since": h.level_since,
            "issues": [i.get("message", "") for i in h.issues],
        }
        for h in worst_first
    ]
    return {
        "checked_at": now,
        "jobs": {
            "total": jobs["total"],
            "enabled": jobs["enabled"],
            "disabled": jobs["total"] - jobs["enabled"],
            "healthy": levels[HealthLevel.HEALTHY],
            "warning": levels[HealthLevel.WARNING],
            "critical": levels[HealthLevel.CRITICAL],
            "unknown": levels[HealthLevel.UNKNOWN],
        },
        "runs": {"running": active["running"], "queued": active["queued"]},
        "workers": workers_alive() if ping_workers else None,
        "last_24h": {
            "runs": day["runs"],
            "succeeded": day["ok"],
            "failed": day["bad"],
            "success_rate": round(100.0 * day["ok"] / done, 2) if done else None,
            "avg_duration_ms": round(day["avg_ms"], 1) if day["avg_ms"] is not None else None,
            "runs_per_hour": round(day["runs"] / 24.0, 2),
        },
        "problematic_jobs": problem_list,
        "active_alerts": active_alerts(),
    }


def workers_alive() -> dict[str, Any]:
    """Workers that answer a Celery ping within MONITORING_WORKER_PING_TIMEOUT."""
    from config.celery import app

    try:
        replies = app.control.ping(timeout=settings.MONITORING_WORKER_PING_TIMEOUT) or []
    except Exception as exc:  # broker down: the status page must still render
        log.warning("worker ping failed: %s", exc)
        return {
            "count": None,
            "names": [],
            "error": f"broker unreachable: {exc.__class__.__name__}",
        }
    names = sorted(name for reply in replies for name in reply)
    return {"count": len(names), "names": names, "error": None}


def active_alerts() -> dict[str, int] | None:
    """Open alerts by severity, once the alerts app provides them; None before."""
    try:
        from alerts.selectors import alert_counts_by_severity
    except ImportError:
        return None
    return alert_counts_by_severity()
