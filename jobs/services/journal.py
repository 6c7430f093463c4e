"""Applies the run journal (jobs.runlog) to the database, a batch at a time.

This is where a run's end becomes final: its row, the job's live state
(counts, streaks, durations, last error), the retry it earns, an
auto-disable, and afterwards the run_finished signal. It runs in one
transaction per batch with the affected runs and jobs locked, evaluating
the events in journal order exactly as if they were applied one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models.base import ModelState

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
    by_run: dict[str, list[tuple[str, str]]] = {}
    for r in raw:
        kind, run_id, body = runlog.split(r)
        by_run.setdefault(run_id, []).append((kind, body))
    ended: list[Ended] = []
    with transaction.atomic():
        status_of = runstore.runs_lock_status(list(by_run))
        plans = {run_id: _decode(items, status_of.get(run_id)) for run_id, items in by_run.items()}
        job_ids = {job_id for job_id, _ in plans.values() if job_id is not None}
        # Locked: live state is computed here from the row as it stands.
        jobs = runstore.jobs_lock(list(job_ids))
        inserts: list[dict[str, Any]] = []
        starts: list[dict[str, Any]] = []
        finals: list[dict[str, Any]] = []
        dirty: set[int] = set()
        last_end: dict[int, Ended] = {}
        for run_id, (job_id, events) in plans.items():
            status = status_of.get(run_id)
            new = status is None
            row: dict[str, Any] = {}
            started = final = False
            for kind, event in events:
                # event is None where a later end of this run supersedes it
                values = event["v"] if event is not None else None
                if kind == "q" and status is None:
                    if job_id not in jobs:  # the job was deleted meanwhile
                        break
                    if values is not None:
                        row = {**values, "id": run_id}
                    status = RunStatus.QUEUED
                elif kind == "s" and status == RunStatus.QUEUED:
                    if values is not None:
                        row.update(values, id=run_id)
                    row["status"] = status = RunStatus.RUNNING
                    started = True
                elif kind == "e" and event is not None and (status is None or status in event["x"]):
                    job = jobs.get(job_id) if job_id is not None else None
                    if job is None:  # the job was deleted meanwhile
                        continue
                    row = {**row, **event["v"], "id": run_id}
                    if job.pk in last_end:
                        # the earlier run's signal sees the job as it stood after it
                        last_end[job.pk].job = _snapshot(job)
                    done = _end(row, job, event)
                    ended.append(done)
                    last_end[job.pk] = done
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


def _decode(
    items: list[tuple[str, str]], status: str | None
) -> tuple[int | None, list[tuple[str, dict[str, Any] | None]]]:
    """Parse a run's events, except those its last end supersedes: an end
    carries the run's whole row, so when it will be accepted after a queued
    and a started event, those two are never read (most of a batch's
    parsing). Returns the run's job id and its events."""
    kinds = [kind for kind, _ in items]
    lazy = False
    if kinds[-1] == "e" and "e" not in kinds[:-1]:
        last = runlog.decode_body(items[-1][1])
        if runlog.is_whole_row(last["v"]):
            # where the earlier events would leave the run
            for kind in kinds[:-1]:
                if kind == "q" and status is None:
                    status = RunStatus.QUEUED
                elif kind == "s" and status == RunStatus.QUEUED:
                    status = RunStatus.RUNNING
            lazy = status is None or status in last["x"]
        if lazy:
            job_id = last["v"].get("job_id")
            return job_id, [(kind, None) for kind in kinds[:-1]] + [("e", last)]
    events: list[tuple[str, dict[str, Any] | None]] = [
        (kind, runlog.decode_body(body)) for kind, body in items
    ]
    job_id = next(
        (e["v"]["job_id"] for _, e in events if e is not None and "job_id" in e["v"]), None
    )
    return job_id, events


def _snapshot(job: Job) -> Job:
    """A detached copy of a job row's values (cheaper than copy.copy)."""
    clone = Job.__new__(Job)
    clone.__dict__.update(job.__dict__)
    state = clone._state = ModelState()
    state.adding, state.db = job._state.adding, job._state.db
    state.fields_cache = dict(job._state.fields_cache)  # as Model.__getstate__
    return clone


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
