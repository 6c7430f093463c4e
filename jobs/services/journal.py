"""Applies the run journal (jobs.runlog) to the database, a batch at a time.

This is where a run's end becomes final: its row, the job's live state
(counts, streaks, durations, last error), the retry it earns, an
auto-disable, and afterwards the run_finished signal. It runs in one
transaction per batch with the affected runs and jobs locked, evaluating
the events in journal order exactly as if they were applied one by one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from jobs import runlog, runstore
from jobs.models import Job, JobRun, RunStatus

_STARTED = ("started_at", "heartbeat_at", "worker", "pid")
# What an end writes on a row that already exists; cancel_requested_at and
# heartbeat output written meanwhile by others are left as they are.
_ENDED = (
    "status",
    "finished_at",
    "duration_ms",
    "error",
    "traceback",
    "output",
    "stderr",
    "output_truncated",
    "result",
    "exit_code",
    "progress",
    "progress_message",
    "parameters",
    "metadata",
    *_STARTED,
)
_LIVE = (
    "status",
    "last_run_id",
    "last_run_at",
    "execution_count",
    "last_duration_ms",
    "avg_duration_ms",
    "success_count",
    "last_success_at",
    "failure_count",
    "last_failure_at",
    "last_error",
    "consecutive_failures",
)


@dataclass
class Ended:
    run: JobRun
    job: Job
    previous_failures: int
    will_retry: bool
    event: dict[str, Any]


def runs_apply(raw: list[bytes]) -> list[Ended]:
    """Apply raw journal events; returns the runs that ended with them."""
    events = [runlog.decode(r) for r in raw]
    by_run: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_run.setdefault(event["id"], []).append(event)
    ended: list[Ended] = []
    with transaction.atomic():
        status_of = runstore.runs_lock_status(list(by_run))
        job_ids = {e["v"]["job_id"] for e in events if e["k"] in ("q", "e")}
        # Locked: live state is computed here from the row as it stands.
        jobs = Job.objects.select_for_update().in_bulk(sorted(job_ids)) if job_ids else {}
        inserts: list[dict[str, Any]] = []
        starts: list[dict[str, Any]] = []
        finals: list[dict[str, Any]] = []
        dirty: set[int] = set()
        for run_id, run_events in by_run.items():
            status = status_of.get(run_id)
            new = status is None
            row: dict[str, Any] = {}
            started = final = False
            for event in run_events:
                kind, values = event["k"], event["v"]
                if kind == "q" and status is None:
                    if values["job_id"] not in jobs:  # the job was deleted meanwhile
                        break
                    row, status = {**values, "id": run_id}, RunStatus.QUEUED
                elif kind == "s" and status == RunStatus.QUEUED:
                    row.update(values, id=run_id)
                    row["status"] = status = RunStatus.RUNNING
                    started = True
                elif kind == "e" and (status is None or status in event["x"]):
                    job = jobs.get(values["job_id"])
                    if job is None:  # the job was deleted meanwhile
                        continue
                    row = {**row, **values, "id": run_id}
                    done = _end(row, job, event)
                    ended.append(done)
                    status, final = row["status"], True
                    if event.get("live", True) and _live_state(job, row, done.will_retry):
                        dirty.add(job.pk)
                    if done.will_retry or (
                        row["status"] in RunStatus.failures() and job.auto_disable_after
                    ):
                        # follow-ups read and write the job row: write its
                        # state so far first
                        _write_jobs(jobs, dirty)
                        dirty.clear()
                        _follow_up(done)
                    done.job = copy.copy(job)  # as it stood after this run
            if not row:
                continue
            if new:
                inserts.append(row)
            elif final:
                finals.append(row)
            elif started:
                starts.append(row)
        runstore.runs_insert(inserts)
        runstore.runs_update(_STARTED + ("status",), starts)
        runstore.runs_update(_ENDED, finals)
        _write_jobs(jobs, dirty)
        transaction.on_commit(lambda: _announce(ended))
    return ended


def _end(row: dict[str, Any], job: Job, event: dict[str, Any]) -> Ended:
    """The run's final status, given the job as it is now (retry policy)."""
    status = row["status"]
    is_failure = status in (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.ORPHANED)
    will_retry = bool(
        is_failure
        and not event.get("permanent")
        and job.enabled
        and row.get("attempt", 1) <= job.max_retries
    )
    if will_retry and status == RunStatus.FAILED:
        # timed_out / orphaned keep their more specific status; the retry
        # run links back to them all the same.
        row["status"] = RunStatus.RETRYING
    run = runlog.make_run(row)
    run.job = job
    return Ended(run, job, job.consecutive_failures, will_retry, event)


def _live_state(job: Job, row: dict[str, Any], will_retry: bool) -> bool:
    """Fold one run's end into the job's live state (in memory)."""
    status = row["status"]
    if status == RunStatus.SKIPPED:
        return False
    job.status, job.last_run_id = status, row["id"]
    started, finished = row.get("started_at"), row.get("finished_at")
    if started is not None:
        duration = int(row.get("duration_ms") or 0)
        count = job.execution_count
        job.avg_duration_ms = (
            float(duration)
            if job.avg_duration_ms is None
            else (job.avg_duration_ms * count + duration) / (count + 1.0)
        )
        job.last_run_at, job.execution_count, job.last_duration_ms = started, count + 1, duration
    if status == RunStatus.SUCCEEDED:
        job.success_count += 1
        job.last_success_at = finished
        job.consecutive_failures = 0
    elif status in RunStatus.failures():
        job.failure_count += 1
        job.last_failure_at = finished
        job.last_error = (row.get("error") or "")[:2000]
        if not will_retry:  # only a failure that is not retried counts towards auto-disable
            job.consecutive_failures += 1
    return True


def _write_jobs(jobs: dict[int, Job], ids: set[int]) -> None:
    """Every changed job's live state in one statement (the rows are locked)."""
    runstore.jobs_update(_LIVE, [jobs[i] for i in sorted(ids)])


def _follow_up(done: Ended) -> None:
    """A retry run, or an auto-disable, for a failed attempt. (The retry's
    row links to this one, which may be inserted later in the batch: the
    foreign keys are checked at commit.)"""
    from jobs.services import runs

    run, job = done.run, done.job
    error = run.error or ""
    if done.will_retry:
        retry, delay = runs.create_retry(
            run, job, done.event.get("retry_after"), run.finished_at or run.queued_at, error
        )
        transaction.on_commit(lambda: runs.enqueue(retry, job, countdown=max(delay, 0)))
    else:
        runs.maybe_auto_disable(job, run, error)


def _announce(ended: list[Ended]) -> None:
    from jobs.signals import run_finished

    for done in ended:
        run_finished.send(
            sender=JobRun,
            run=done.run,
            job=done.job,
            previous_consecutive_failures=done.previous_failures,
            will_retry=done.will_retry,
        )
