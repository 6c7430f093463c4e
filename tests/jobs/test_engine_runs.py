"""The run path through real worker processes: overlap, timeouts, retries,
auto-disable, cancel, crashes. Each test starts its own worker(s)."""

from __future__ import annotations

import os
import threading
import time

import pytest
from django.conf import settings
from django.db import connection

from jobs.actors import Actor
from jobs.errors import Conflict, NotFound, ValidationError
from jobs.models import AuditEvent, Job, JobRun
from jobs.services.jobs import job_disable
from jobs.services.runs import run_cancel, run_trigger
from tests.conftest import wait_until
from tests.factories import JobFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
CLI = Actor(name="tester", source="cli")


def final(run_id, timeout=30):
    def done():
        run = JobRun.objects.get(pk=run_id)
        return run if run.status not in ("queued", "running") else None

    return wait_until(done, timeout=timeout, message=f"run {run_id} to finish")


def running(run_id, timeout=20):
    return wait_until(
        lambda: JobRun.objects.filter(pk=run_id, status="running").first(),
        timeout=timeout,
        message="run to start",
    )


def trigger(job, **kw):
    kw.setdefault("trigger", "cli")
    return run_trigger(job.name, actor=CLI, **kw)


def test_skip_policy_runs_one_of_two_simultaneous_triggers_and_skips_the_other(start_worker):
    start_worker(concurrency=2)
    job = JobFactory(
        target="tests.jobs.sample_jobs:sleep", parameters={"seconds": 2}, overlap="skip"
    )
    first, second = trigger(job), trigger(job)
    runs = sorted([final(first.pk), final(second.pk)], key=lambda r: r.status)
    assert [r.status for r in runs] == ["skipped", "succeeded"]
    skipped = runs[0]
    assert "already running" in skipped.error and str(runs[1].pk) in skipped.error
    assert skipped.started_at is None


def test_skip_policy_applies_to_manual_triggers_from_other_hosts_too(start_worker):
    # Two separate worker processes (as on two hosts) share the Redis lease.
    start_worker(name="host-a", concurrency=2, extra_args=["--prefetch-multiplier", "1"])
    start_worker(name="host-b", concurrency=2, extra_args=["--prefetch-multiplier", "1"])
    job = JobFactory(
        target="tests.jobs.sample_jobs:sleep", parameters={"seconds": 2}, overlap="skip"
    )
    runs = [final(r.pk) for r in [trigger(job) for _ in range(4)]]
    assert {r.worker.split("-")[0] for r in runs if r.worker} <= {"host"}
    assert sum(r.status == "skipped" for r in runs) >= 2
    done = sorted((r.started_at, r.finished_at) for r in runs if r.status == "succeeded")
    for (_, end), (start, _) in zip(done, done[1:], strict=False):
        assert start >= end  # never two at once, whichever host


def test_queue_policy_lets_one_run_wait_and_skips_a_third(start_worker):
    start_worker(concurrency=3)
    job = JobFactory(
        target="tests.jobs.sample_jobs:sleep", parameters={"seconds": 2}, overlap="queue"
    )
    a = trigger(job)
    running(a.pk)
    b, c = trigger(job), trigger(job)
    a, b, c = final(a.pk), final(b.pk, timeout=40), final(c.pk)
    statuses = sorted([b.status, c.status])
    assert a.status == "succeeded" and statuses == ["skipped", "succeeded"]
    waited = b if b.status == "succeeded" else c
    assert waited.started_at >= a.finished_at


def test_allow_policy_runs_side_by_side(start_worker):
    start_worker(concurrency=2)
    job = JobFactory(
        target="tests.jobs.sample_jobs:sleep", parameters={"seconds": 2}, overlap="allow"
    )
    a, b = trigger(job), trigger(job)
    a, b = final(a.pk), final(b.pk)
    assert a.status == b.status == "succeeded"
    assert a.started_at < b.finished_at and b.started_at < a.finished_at  # overlapped


def test_soft_timeout_is_recorded_as_timed_out(start_worker):
    start_worker()
    job = JobFactory(target="tests.jobs.sample_jobs:sleep", parameters={"seconds": 30}, timeout=1)
    run = final(trigger(job).pk)
    assert run.status == "timed_out"
    assert "timed out after 1s" in run.error
    assert run.duration_ms < 5000
    job.refresh_from_db()
    assert job.failure_count == 1 and job.consecutive_failures == 1


def test_hard_killed_run_is_recorded_as_timed_out_by_the_parent(start_worker):
    worker = start_worker()
    job = JobFactory(
        target="tests.jobs.sample_jobs:sleep_ignoring_cancel", parameters={"seconds": 60}, timeout=1
    )
    run = final(trigger(job).pk, timeout=30)
    assert run.status == "timed_out"
    assert "hard time limit" in run.error
    # The pool replaced the killed child and keeps working.
    assert final(trigger(JobFactory()).pk).status == "succeeded"
    assert "Hard time limit" in worker.text()


def test_retries_follow_exponential_backoff_within_jitter_bounds(start_worker):
    start_worker()
    job = JobFactory(
        target="tests.jobs.sample_jobs:fail",
        max_retries=3,
        retry_delay=0.5,
        retry_backoff=2,
        retry_jitter=0.2,
        auto_disable_after=0,
    )
    first = trigger(job)

    def all_attempts():
        runs = list(JobRun.objects.filter(job=job).order_by("attempt"))
        return runs if len(runs) == 4 and all(r.finished_at for r in runs) else None

    runs = wait_until(all_attempts, timeout=40)
    assert [r.attempt for r in runs] == [1, 2, 3, 4]
    assert [r.status for r in runs] == ["retrying", "retrying", "retrying", "failed"]
    assert all(r.first_attempt_id == first.pk for r in runs[1:])
    assert all(r.trigger == "retry" for r in runs[1:])
    for previous, retry, base in zip(runs, runs[1:], [0.5, 1.0, 2.0], strict=False):
        recorded = retry.metadata["retry_delay"]
        assert base * 0.8 <= recorded <= base * 1.2
        gap = (retry.started_at - previous.finished_at).total_seconds()
        assert base * 0.8 - 0.05 <= gap <= base * 1.2 + 1.5, gap
    job.refresh_from_db()
    # Attempts count as executions; only the final failure counts towards auto-disable.
    assert job.execution_count == 4 and job.failure_count == 4 and job.consecutive_failures == 1


def test_retry_succeeds_and_resets_consecutive_failures(start_worker):
    start_worker()
    job = JobFactory(
        target="tests.jobs.sample_jobs:fail_until",
        parameters={"succeed_on": 2},
        max_retries=2,
        retry_delay=0,
    )
    trigger(job)
    run = wait_until(lambda: JobRun.objects.filter(job=job, status="succeeded").first(), timeout=30)
    assert run.attempt == 2 and run.result == {"attempt": 2}
    job.refresh_from_db()
    assert job.consecutive_failures == 0 and job.success_count == 1


def test_auto_disable_after_consecutive_failures_keeps_the_reason(start_worker):
    start_worker()
    job = JobFactory(target="tests.jobs.sample_jobs:fail", auto_disable_after=2, max_retries=0)
    final(trigger(job).pk)
    job.refresh_from_db()
    assert job.enabled and job.consecutive_failures == 1
    final(trigger(job).pk)
    job.refresh_from_db()
    assert not job.enabled
    assert "auto-disabled after 2 consecutive failures" in job.disabled_reason
    assert "boom" in job.disabled_reason
    event = AuditEvent.objects.get(action="job.auto_disable", job_name=job.name)
    assert event.actor == "system" and event.source == "system"
    with pytest.raises(Conflict, match="disabled"):
        trigger(job)


def test_disabled_jobs_queued_run_is_skipped_but_a_forced_run_executes(start_worker):
    job = JobFactory(target="tests.jobs.sample_jobs:succeed")
    queued = trigger(job)  # no worker yet: stays queued
    job_disable(job.name, actor=CLI, reason="maintenance")
    forced = trigger(job, force=True)
    assert forced.trigger == "forced"
    start_worker()
    queued, forced = final(queued.pk), final(forced.pk)
    assert queued.status == "skipped" and queued.error == "job is disabled"
    assert forced.status == "succeeded"


def test_cancel_queued_run_is_recorded_and_never_executes(start_worker):
    job = JobFactory(target="tests.jobs.sample_jobs:succeed")
    run = trigger(job)
    cancelled = run_cancel(run.pk, actor=CLI, reason="not needed")
    assert cancelled.status == "cancelled" and "not needed" in cancelled.error
    start_worker()
    time.sleep(1.5)
    run.refresh_from_db()
    assert run.status == "cancelled" and run.started_at is None
    with pytest.raises(Conflict, match="already finished"):
        run_cancel(run.pk, actor=CLI)
    assert AuditEvent.objects.filter(action="run.cancel", target=str(run.pk)).count() == 1


def test_cancel_running_run_that_cooperates(start_worker):
    start_worker()
    job = JobFactory(target="tests.jobs.sample_jobs:sleep", parameters={"seconds": 60})
    run = trigger(job)
    running(run.pk)
    run_cancel(run.pk, actor=CLI)
    run = final(run.pk, timeout=15)
    assert run.status == "cancelled"
    assert run.result == {"stopped": "cancelled"}


def test_cancel_running_run_that_ignores_it_is_terminated_after_the_grace(start_worker):
    worker = start_worker(concurrency=1)
    job = JobFactory(
        target="tests.jobs.sample_jobs:sleep_ignoring_cancel",
        parameters={"seconds": 120},
        timeout=300,
    )
    run = trigger(job)
    running(run.pk)
    children_before = set(worker.child_pids())
    started = time.monotonic()
    run_cancel(run.pk, actor=CLI)
    run = final(run.pk, timeout=30)
    assert run.status == "cancelled" and "terminated" in run.error
    assert time.monotonic() - started < 20
    # The worker replaced the killed process and still runs jobs.
    assert final(trigger(JobFactory()).pk).status == "succeeded"
    assert set(worker.child_pids()) != children_before


def test_worker_killed_mid_run_gives_orphaned_run_within_bound_and_retry_runs(
    start_worker, start_beat
):
    victim = start_worker(name="victim", concurrency=1)
    job = JobFactory(
        target="tests.jobs.sample_jobs:sleep",
        parameters={"seconds": 4},
        overlap="skip",
        max_retries=1,
        retry_delay=0,
    )
    run = trigger(job)
    running(run.pk)
    victim.kill9()
    killed_at = time.monotonic()
    start_worker(name="rescuer")
    start_beat()  # runs the sweeper every JOBS_SWEEP_INTERVAL
    orphaned = wait_until(
        lambda: JobRun.objects.filter(pk=run.pk, status="orphaned").first(), timeout=30
    )
    bound = settings.JOBS_ORPHAN_AFTER + settings.JOBS_SWEEP_INTERVAL + 10
    assert time.monotonic() - killed_at < bound
    assert "stopped sending heartbeats" in orphaned.error
    # The retry acquires the lease the dead worker held (it expired) and runs.
    retry = wait_until(
        lambda: JobRun.objects.filter(first_attempt=run.pk, status="succeeded").first(), timeout=40
    )
    assert retry.attempt == 2 and retry.trigger == "retry"


def test_worker_restart_recovers_runs_it_left_running(start_worker):
    node = f"fixed-{os.getpid()}@localhost"
    victim = start_worker(nodename=node, concurrency=1)
    job = JobFactory(target="tests.jobs.sample_jobs:sleep", parameters={"seconds": 30})
    run = trigger(job)
    running(run.pk)
    victim.kill9()
    start_worker(nodename=node)  # same node name, long before the heartbeat goes stale
    run = wait_until(
        lambda: JobRun.objects.filter(pk=run.pk, status="orphaned").first(), timeout=10
    )
    assert "restarted" in run.error


def test_concurrent_finishes_lose_no_count(start_worker):
    start_worker(concurrency=4)
    job = JobFactory(target="tests.jobs.sample_jobs:noop", overlap="allow")
    runs = [trigger(job) for _ in range(40)]
    for run in runs:
        final(run.pk)
    job.refresh_from_db()
    assert job.execution_count == 40 and job.success_count == 40
    assert job.avg_duration_ms is not None and job.last_run_id is not None


def test_progress_and_output_stream_while_running(start_worker):
    start_worker()
    job = JobFactory(target="tests.jobs.examples_for_tests:streaming", timeout=60)
    run = trigger(job)
    running(run.pk)
    seen = wait_until(
        lambda: JobRun.objects.filter(
            pk=run.pk, progress__gte=30, output__contains="line 3"
        ).first(),
        timeout=15,
    )
    assert seen.status == "running"
    assert final(run.pk).status == "succeeded"


def test_trigger_errors_are_clear_and_write_nothing(db):
    job = JobFactory()
    with pytest.raises(NotFound, match="unknown job 'nope'"):
        run_trigger("nope", actor=CLI, trigger="cli")
    with pytest.raises(ValidationError, match="parameters must be an object"):
        run_trigger(job.name, actor=CLI, trigger="cli", parameters=["x"])
    with pytest.raises(NotFound, match="unknown run"):
        run_cancel("not-a-uuid", actor=CLI)
    assert JobRun.objects.count() == 0 and AuditEvent.objects.count() == 0


def test_redelivered_message_does_not_run_twice(start_worker):
    start_worker(concurrency=2)
    job = JobFactory(
        target="tests.jobs.sample_jobs:sleep", parameters={"seconds": 1}, overlap="allow"
    )
    run = trigger(job)
    # Deliver the same run a second time, as Redis would after a visibility timeout.
    from jobs.services.runs import run_requeue

    run_requeue(Job.objects.get(pk=job.pk).runs.get(pk=run.pk), countdown=0)
    final(run.pk)
    time.sleep(1)
    job.refresh_from_db()
    assert job.execution_count == 1


def test_many_simultaneous_triggers_under_skip_execute_at_most_one_at_a_time(start_worker):
    start_worker(concurrency=4)
    job = JobFactory(
        target="tests.jobs.sample_jobs:sleep", parameters={"seconds": 1}, overlap="skip"
    )
    barrier = threading.Barrier(4)
    ids = []

    def fire():
        barrier.wait()
        ids.append(trigger(job).pk)
        connection.close()

    threads = [threading.Thread(target=fire) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runs = [final(i) for i in ids]
    done = sorted((r.started_at, r.finished_at) for r in runs if r.status == "succeeded")
    assert len(done) >= 1
    for (_, end), (start, _) in zip(done, done[1:], strict=False):
        assert start >= end  # never two at once
    assert sum(r.status == "skipped" for r in runs) >= 1  # four at once cannot all have run


def test_secret_override_is_masked_everywhere_but_reaches_the_job(start_worker):
    start_worker()
    job = JobFactory(target="tests.jobs.sample_jobs:succeed", max_retries=0)
    secret = "s3cr3t-override-value"
    run = trigger(job, parameters={"api_token": secret, "region": "eu"})
    run = final(run.pk)
    assert run.status == "succeeded"
    assert run.parameters["api_token"] == "********" and run.parameters["region"] == "eu"
    assert run.metadata["overrides"] == {"api_token": "********", "region": "eu"}
    # The job saw the real value (it echoes its parameters), yet the stored result is masked.
    assert run.result["params"]["api_token"] == "********"
    event = AuditEvent.objects.get(action="run.trigger", target=str(run.pk))
    assert secret not in str(event.changes)
    with connection.cursor() as cursor:
        cursor.execute("SELECT CAST(r AS text) FROM jobs_jobrun r WHERE id = %s", [run.pk])
        assert secret not in cursor.fetchone()[0]
        cursor.execute("SELECT CAST(a AS text) FROM jobs_auditevent a")
        assert all(secret not in row[0] for row in cursor.fetchall())


def test_secret_override_survives_into_retries_sealed(start_worker):
    start_worker()
    job = JobFactory(
        target="tests.jobs.examples_for_tests:needs_token", max_retries=1, retry_delay=0
    )
    trigger(job, parameters={"api_token": "tok-123456"})
    retry = wait_until(
        lambda: (
            JobRun.objects.filter(job=job, attempt=2)
            .exclude(status__in=["queued", "running"])
            .first()
        )
    )
    assert retry.status == "succeeded", retry.error
    assert retry.result == {"token_length": 10}
    assert retry.metadata["overrides"] == {"api_token": "********"}


def test_a_queued_run_whose_message_was_lost_is_sent_again_by_the_sweeper(start_worker):
    from datetime import timedelta

    from django.utils import timezone

    from jobs.services.sweeping import runs_sweep
    from tests.factories import JobRunFactory

    start_worker()
    job = JobFactory(target="tests.jobs.sample_jobs:succeed")
    # As if the producer died between committing the run and publishing it.
    lost = JobRunFactory(job=job, status="queued", queued_at=timezone.now() - timedelta(minutes=11))
    fresh = JobRunFactory(job=job, status="queued")  # may still be in a busy queue: left alone
    counts = runs_sweep()
    assert counts["requeued"] == 1
    assert final(lost.pk).status == "succeeded"
    fresh.refresh_from_db()
    assert fresh.status == "queued"
