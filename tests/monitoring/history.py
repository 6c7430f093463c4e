"""Run histories with controlled times, written in one bulk insert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import Group

from jobs.models import Job, JobRun
from tests.factories import JobFactory, UserFactory

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)  # a Monday, far from DST changes


def recurring_job(**kw: Any) -> Job:
    kw.setdefault("schedule_type", "recurring")
    kw.setdefault("cron", "0 * * * *")
    kw.setdefault("created_at", T0 - timedelta(days=60))
    created_at = kw.pop("created_at")
    job = JobFactory(**kw)
    Job.objects.filter(pk=job.pk).update(created_at=created_at)
    job.refresh_from_db()
    return job


def add_runs(job: Job, specs: list[dict[str, Any]]) -> list[JobRun]:
    """Each spec: status, at (queued_at), and optionally duration (s), error,
    trigger, scheduled_for, started_at/heartbeat_at. Finished runs end at
    at + duration."""
    rows = []
    for spec in specs:
        at = spec["at"]
        status = spec.get("status", "succeeded")
        duration = spec.get("duration")
        finished = status not in ("queued", "running")
        rows.append(
            JobRun(
                job=job,
                status=status,
                trigger=spec.get("trigger", "scheduled" if "scheduled_for" in spec else "manual"),
                scheduled_for=spec.get("scheduled_for"),
                queued_at=at,
                started_at=spec.get(
                    "started_at", at if status not in ("queued", "skipped") else None
                ),
                finished_at=(at + timedelta(seconds=duration or 0)) if finished else None,
                duration_ms=int(duration * 1000) if duration is not None else None,
                heartbeat_at=spec.get("heartbeat_at"),
                error=spec.get(
                    "error", "" if status == "succeeded" else ("boom" if finished else "")
                ),
            )
        )
    return JobRun.objects.bulk_create(rows)


def set_live_state(job: Job, runs: list[JobRun]) -> None:
    """What the recording path would have left on the job after `runs`."""
    done = [r for r in runs if r.status not in ("queued", "running", "skipped", "cancelled")]
    done.sort(key=lambda r: r.queued_at)
    streak = 0
    for r in done:
        streak = 0 if r.status == "succeeded" else streak + 1
    last = done[-1] if done else None
    Job.objects.filter(pk=job.pk).update(
        execution_count=len(done),
        success_count=sum(r.status == "succeeded" for r in done),
        failure_count=sum(r.status != "succeeded" for r in done),
        consecutive_failures=streak,
        status=last.status if last else "idle",
        last_run=last,
        last_run_at=last.started_at if last else None,
        last_duration_ms=last.duration_ms if last else None,
    )
    job.refresh_from_db()


def hourly(start: datetime, n: int, **spec: Any) -> list[dict[str, Any]]:
    return [
        {"at": start + timedelta(hours=i), "scheduled_for": start + timedelta(hours=i), **spec}
        for i in range(n)
    ]


def user_with_role(role: str | None, username: str | None = None, **kw: Any):
    user = UserFactory(username=username or f"{role or 'outsider'}-user", **kw)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user
