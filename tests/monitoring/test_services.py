"""Retention, retry, and the cheap per-run health path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.actors import Actor
from jobs.errors import Conflict, ValidationError
from jobs.models import AuditEvent, Job, JobRun
from monitoring import receivers
from monitoring.models import JobHealth
from monitoring.services import health_refresh, run_retry_last_failed, runs_cleanup
from tests.monitoring.history import add_runs, recurring_job, set_live_state

pytestmark = pytest.mark.django_db
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def test_cleanup_deletes_old_finished_runs_in_batches_and_keeps_active_ones():
    job = recurring_job(cron="", schedule_type="manual")
    old = add_runs(
        job, [{"at": NOW - timedelta(days=100, hours=i), "duration": 1} for i in range(7)]
    )
    add_runs(job, [{"at": NOW - timedelta(days=100), "status": "running"}])  # never deleted
    recent = add_runs(job, [{"at": NOW - timedelta(days=10), "duration": 1}])
    Job.objects.filter(pk=job.pk).update(last_run=old[0])  # a reference the delete must clear
    batches = []
    deleted = runs_cleanup(90, actor=Actor.system(), batch_size=3, on_batch=batches.append, now=NOW)
    assert deleted == 7
    assert batches == [3, 6, 7]
    assert set(JobRun.objects.values_list("status", flat=True)) == {"running", "succeeded"}
    assert JobRun.objects.filter(pk=recent[0].pk).exists()
    assert Job.objects.get(pk=job.pk).last_run_id is None
    event = AuditEvent.objects.get(action="runs.cleanup")
    assert (event.actor, event.source, event.changes["deleted"]) == ("system", "system", [None, 7])


@pytest.mark.parametrize("days", [0, -1, "x", None, 10**9])
def test_cleanup_refuses_a_bad_age(days):
    with pytest.raises(ValidationError):
        runs_cleanup(days, actor=Actor.system())
    assert not AuditEvent.objects.exists()


def test_retry_reruns_the_last_failed_run_parameters():
    job = recurring_job(cron="", schedule_type="manual", parameters={"region": "eu"})
    failed = add_runs(job, [{"at": NOW - timedelta(hours=2), "status": "failed", "duration": 1}])[0]
    # What the failed run was triggered with (its resolved parameters, with
    # macros such as {now}, are not re-sent: they resolve afresh).
    JobRun.objects.filter(pk=failed.pk).update(
        parameters={"region": "us", "day": 3, "now": "2026-01-01T00:00:00+00:00"},
        metadata={"overrides": {"region": "us", "day": 3}},
    )
    add_runs(job, [{"at": NOW - timedelta(hours=1), "duration": 1}])
    run = run_retry_last_failed(
        job.name, actor=Actor(name="op", source="api"), trigger="api", reason="flaky DNS"
    )
    assert run.status == "queued" and run.trigger == "api"
    assert run.parameters == {"region": "us", "day": 3}
    assert run.reason == f"retry of run {failed.pk}: flaky DNS"
    assert AuditEvent.objects.filter(action="run.trigger", target=str(run.pk)).exists()


def test_retry_without_a_failed_run_is_a_conflict():
    job = recurring_job(cron="", schedule_type="manual")
    add_runs(job, [{"at": NOW, "duration": 1}])
    with pytest.raises(Conflict):
        run_retry_last_failed(job.name, actor=Actor.system(), trigger="api")


class TestPerRunPath:
    def setup_method(self):
        receivers._healthy_until.clear()

    def _job_with_history(self, **kw):
        job = recurring_job(cron="", schedule_type="manual", **kw)
        runs = add_runs(
            job, [{"at": NOW - timedelta(hours=10 - i), "duration": 10} for i in range(8)]
        )
        set_live_state(job, runs)
        Job.objects.filter(pk=job.pk).update(avg_duration_ms=10_000)
        job.refresh_from_db()
        health_refresh([job.name])
        return job, runs[-1]

    def test_success_of_a_healthy_job_costs_at_most_one_query_then_none(self):
        job, run = self._job_with_history()
        with CaptureQueriesContext(connection) as first:
            receivers.on_run_finished(None, run=run, job=job, previous_consecutive_failures=0)
        with CaptureQueriesContext(connection) as second:
            receivers.on_run_finished(None, run=run, job=job, previous_consecutive_failures=0)
        assert len(first) == 1
        assert len(second) == 0

    def test_failure_re_evaluates_the_job(self):
        job, _ = self._job_with_history()
        failures = add_runs(
            job,
            [
                {"at": NOW - timedelta(minutes=5 - i), "status": "failed", "duration": 1}
                for i in range(3)
            ],
        )
        set_live_state(job, list(JobRun.objects.filter(job=job)))
        receivers.on_run_finished(None, run=failures[-1], job=job, previous_consecutive_failures=2)
        assert JobHealth.objects.get(job=job).level == "warning"

    def test_a_suspiciously_long_success_is_re_evaluated(self):
        job, _ = self._job_with_history()
        slow = add_runs(job, [{"at": NOW - timedelta(minutes=1), "duration": 100}])[0]
        set_live_state(job, list(JobRun.objects.filter(job=job)))
        job.avg_duration_ms = 10_000
        receivers.on_run_finished(None, run=slow, job=job, previous_consecutive_failures=0)
        health = JobHealth.objects.get(job=job)
        assert [i["type"] for i in health.issues] == ["duration_anomaly"]
