"""Beat reads the schedule from the database: fires, edits without restart,
and at most one run per scheduled fire even with two beats."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django_celery_beat.models import PeriodicTask

from jobs.models import Job, JobRun
from jobs.services.runs import run_fire_scheduled
from jobs.services.scheduling import entry_name, schedule_sync
from tests.conftest import wait_until
from tests.factories import JobFactory


def recurring(**kw):
    kw.setdefault("schedule_type", "recurring")
    kw.setdefault("target", "tests.jobs.sample_jobs:noop")
    job = JobFactory(**kw)
    with transaction.atomic():
        schedule_sync(job)
    return job


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_beat_fires_recorded_runs_applies_edits_without_restart_and_two_beats_never_double_run(
    start_worker, start_beat
):
    # Give beat and the edit time to land before the next minute boundary.
    if datetime.now(UTC).second > 45:
        time.sleep(62 - datetime.now(UTC).second)
    every_minute = recurring(name="every-minute", cron="* * * * *")
    yearly = recurring(name="edited-later", cron="0 0 1 1 *")
    start_worker()
    start_beat(name="beat-1")
    start_beat(name="beat-2")  # started by mistake: must not double-run anything

    # An edit while beat runs: from yearly to every minute, no restart.
    yearly.cron = "* * * * *"
    yearly.save(update_fields=["cron"])
    with transaction.atomic():
        schedule_sync(yearly)
    edited_at = time.monotonic()

    boundary = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    for job in (every_minute, yearly):
        run = wait_until(
            lambda job=job: JobRun.objects.filter(
                job=job, scheduled_for=boundary, status="succeeded"
            ).first(),
            timeout=80,
            message=f"{job.name} to fire at {boundary}",
        )
        assert run.trigger == "scheduled" and run.triggered_by == "system"
        assert run.queued_at >= boundary
    assert time.monotonic() - edited_at < 75
    time.sleep(3)  # let a duplicate dispatch from the second beat arrive, if any
    for job in (every_minute, yearly):
        assert JobRun.objects.filter(job=job, scheduled_for=boundary).count() == 1
        job.refresh_from_db()
        assert job.next_run_at == boundary + timedelta(minutes=1)


@pytest.mark.django_db(transaction=True)
def test_duplicate_dispatch_of_one_fire_creates_one_run(redis_client):
    job = recurring(cron="*/5 * * * *")
    now = datetime(2026, 5, 5, 10, 5, 2, tzinfo=UTC)
    Job.objects.filter(pk=job.pk).update(next_run_at=datetime(2026, 5, 5, 10, 5, tzinfo=UTC))
    first = run_fire_scheduled(job.name, now=now)
    second = run_fire_scheduled(job.name, now=now + timedelta(seconds=20))
    assert first is not None and second is None
    assert first.scheduled_for == datetime(2026, 5, 5, 10, 5, tzinfo=UTC)
    assert JobRun.objects.filter(job=job).count() == 1


@pytest.mark.django_db(transaction=True)
def test_disabled_or_deleted_job_does_not_fire(redis_client):
    job = recurring(cron="* * * * *", enabled=False)
    assert run_fire_scheduled(job.name) is None
    assert run_fire_scheduled("no-such-job") is None
    assert JobRun.objects.count() == 0


@pytest.mark.django_db
def test_schedule_sync_mirrors_job_into_a_beat_entry():
    job = recurring(name="nightly", cron="30 2 * * *", timezone="America/New_York")
    entry = PeriodicTask.objects.get(name=entry_name("nightly"))
    assert entry.enabled and entry.task == "jobs.fire_scheduled"
    assert (entry.crontab.minute, entry.crontab.hour, str(entry.crontab.timezone)) == (
        "30",
        "2",
        "America/New_York",
    )
    assert job.next_run_at is not None
    job.enabled = False
    schedule_sync(job)
    entry.refresh_from_db()
    assert not entry.enabled and Job.objects.get(pk=job.pk).next_run_at is None
    job.schedule_type, job.cron = "manual", ""
    schedule_sync(job)
    assert not PeriodicTask.objects.filter(name=entry_name("nightly")).exists()


@pytest.mark.django_db
def test_beat_entry_uses_the_dst_rule():
    from jobs.models import BeatEntry

    recurring(name="dst", cron="30 2 * * *", timezone="America/New_York")
    schedule = BeatEntry.objects.get(name=entry_name("dst")).schedule
    last = datetime(2026, 3, 7, 12, tzinfo=UTC)
    assert schedule.remaining_estimate(last) is not None
    state = schedule.is_due(last)
    assert state.is_due  # 2026-03-08 03:00 EDT is long past
