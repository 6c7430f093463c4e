"""Recovery of runs whose process can no longer speak for itself.

A worker killed with -9 cannot record anything: its runs stay `running` with
a heartbeat that stops. The sweeper (a periodic system task) and each worker
at start-up find such runs and end them as orphaned (or timed_out, if they
had overrun), which applies the retry policy like any other failure.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from jobs import runlog
from jobs.execution import lease
from jobs.models import JobRun, RunStatus
from jobs.redis import get_redis
from jobs.services.runs import Outcome, run_record_end, run_requeue

logger = logging.getLogger(__name__)

_BATCH = 200  # bounded work per sweep; the next sweep takes the rest


def run_mark_lost(run_id: str, status: str, error: str) -> JobRun | None:
    """End a running run whose process died or was killed (by the parent
    after a hard time limit, by a terminate, by a crash)."""
    runlog.flush()  # its start may still be in the journal
    run = JobRun.objects.select_related("job").filter(pk=run_id).first()
    if run is None or run.status != RunStatus.RUNNING:
        return None
    ended = run_record_end(
        run, Outcome(status=status, error=error, output=run.output, stderr=run.stderr)
    )
    if run.job.overlap != "allow":
        lease.release(lease.lease_key(run.job_id), str(run.pk))
    return ended


def runs_sweep(now=None) -> dict[str, int]:
    """One sweep: orphaned/overrun runs, ignored cancels, lost queued messages.

    Idempotent and safe to run from several places at once (a Redis lock
    keeps it to one at a time). Returns counts of what it did.
    """
    client = get_redis()
    if not client.set(
        "jobwarden:sweep:lock", "1", nx=True, ex=max(int(settings.JOBS_SWEEP_INTERVAL), 5)
    ):
        return {"skipped": 1}
    try:
        runlog.flush()
        now = now or timezone.now()
        counts = {"orphaned": 0, "timed_out": 0, "cancelled": 0, "requeued": 0}
        stale_before = now - timedelta(seconds=settings.JOBS_ORPHAN_AFTER)
        for run in JobRun.objects.stale(stale_before).select_related("job")[:_BATCH]:
            limit = run.job.timeout + settings.JOBS_TIMEOUT_GRACE
            overran = run.started_at and (now - run.started_at).total_seconds() > limit
            if overran:
                status, error = (
                    RunStatus.TIMED_OUT,
                    f"timed out after {run.job.timeout:g}s (worker killed it or died)",
                )
            else:
                last = run.heartbeat_at or run.started_at
                status, error = (
                    RunStatus.ORPHANED,
                    (
                        f"worker {run.worker or '?'} stopped sending heartbeats at {last:%Y-%m-%d %H:%M:%S%z}; "
                        "presumed dead"
                    ),
                )
            if run_mark_lost(str(run.pk), status, error):
                counts[status] += 1

        cancel_before = now - timedelta(
            seconds=3 * settings.JOBS_CANCEL_GRACE + settings.JOBS_HEARTBEAT_INTERVAL
        )
        for run in JobRun.objects.running().filter(cancel_requested_at__lt=cancel_before)[:_BATCH]:
            _terminate(run)
            if run_mark_lost(
                str(run.pk), RunStatus.CANCELLED, "cancelled; worker terminated the run"
            ):
                counts["cancelled"] += 1

        requeue_before = now - timedelta(seconds=settings.JOBS_REQUEUE_AFTER)
        for run in (
            JobRun.objects.filter(status=RunStatus.QUEUED, queued_at__lt=requeue_before)
            .exclude(scheduled_for__gt=requeue_before)
            .select_related("job")[:_BATCH]
        ):
            requeued = (run.metadata or {}).get("requeued", 0)
            if requeued >= 3:
                continue
            JobRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
                metadata={**(run.metadata or {}), "requeued": requeued + 1}, queued_at=now
            )
            run_requeue(run, countdown=0)
            counts["requeued"] += 1
        if any(counts.values()):
            logger.warning("sweep: %s", counts)
        return counts
    finally:
        client.delete("jobwarden:sweep:lock")


def runs_recover_worker(worker: str) -> int:
    """At worker start-up: runs this worker (same node name) left running
    cannot be running any more; end them as orphaned now."""
    count = 0
    runlog.flush()
    for run in JobRun.objects.running().filter(worker=worker)[:_BATCH]:
        if run_mark_lost(
            str(run.pk),
            RunStatus.ORPHANED,
            f"worker {worker} restarted while the run was in progress",
        ):
            count += 1
    if count:
        logger.warning("recovered %d run(s) left running by %s", count, worker)
    return count


def _terminate(run: JobRun) -> None:
    from config.celery import app

    app.control.revoke(str(run.pk), terminate=True, signal="SIGKILL")
