"""Reads of the engine's own rows (runs). Job lists, filters and statistics
live in monitoring.selectors."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q

from jobs import runlog
from jobs.errors import NotFound
from jobs.models import Job, JobRun


def run_get(run_id: Any) -> JobRun:
    """One run with its job; NotFound for an unknown or malformed id."""
    try:
        pk = uuid.UUID(str(run_id))
    except ValueError:
        raise NotFound(f"unknown run {run_id!r}", fields={"run": "not found"}) from None
    run = JobRun.objects.select_related("job").filter(pk=pk).first()
    if run is None and runlog.pending():
        # A run triggered from code moments ago may still be in the run
        # journal: write it out rather than answer "unknown".
        runlog.flush()
        run = JobRun.objects.select_related("job").filter(pk=pk).first()
    if run is None:
        raise NotFound(f"unknown run {run_id!r}", fields={"run": "not found"})
    return run


def run_next_attempt(run: JobRun) -> JobRun | None:
    """The retry that follows `run`, if one was scheduled. It is created in the
    same transaction that ends `run`, so once `run` has finished the answer
    is final."""
    root = run.first_attempt_id or run.pk
    return (
        JobRun.objects.select_related("job")
        .filter(Q(first_attempt_id=root) | Q(pk=root), attempt__gt=run.attempt)
        .order_by("attempt")
        .first()
    )


def job_recent_runs(job: Job, limit: int) -> list[JobRun]:
    return list(
        JobRun.objects.filter(job=job).select_related("job").order_by("-queued_at", "-id")[:limit]
    )


def runs_cancel_requested(run_ids: Any) -> set[str]:
    """Which of these ids are runs whose cancel Jobwarden recorded (the only
    runs a worker lets a remote-control revoke touch); malformed ids are
    none of them."""
    pks = set()
    for run_id in run_ids:
        try:
            pks.add(uuid.UUID(str(run_id)))
        except ValueError:
            continue
    if not pks:
        return set()
    found = JobRun.objects.filter(pk__in=pks, cancel_requested_at__isnull=False)
    return {str(pk) for pk in found.values_list("pk", flat=True)}
