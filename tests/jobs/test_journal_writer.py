"""Each worker's run journal writer (jobs.journal_writer), as real processes
against real Redis and PostgreSQL."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest
from django.conf import settings

from jobs import runlog
from jobs.actors import Actor
from jobs.journal_writer import _RESTART_AFTER, drain_until_stopped
from jobs.models import JobRun
from jobs.redis import get_redis
from jobs.services.runs import run_trigger
from tests.conftest import wait_until
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db(transaction=True)

CODE = Actor(name="tests", source="code")
# Workers in these tests never drain the journal themselves.
NO_CHILD_DRAIN = {"JOBS_RUNLOG_BATCH_MIN": "1000000"}


def writers_of(worker) -> list[int]:
    out = []
    for pid in worker.child_pids():
        try:
            if "jobs.journal_writer" in " ".join(psutil.Process(pid).cmdline()):
                out.append(pid)
        except psutil.Error:
            continue
    return out


def code_runs(job, n: int) -> list[str]:
    return [str(run_trigger(job.name, actor=CODE, trigger="code").pk) for _ in range(n)]


def succeeded(ids: list[str]) -> int:
    return JobRun.objects.filter(pk__in=ids, status="succeeded").count()


def test_a_worker_runs_one_writer_that_records_runs_and_is_restarted_when_killed(start_worker):
    worker = start_worker(env=NO_CHILD_DRAIN)
    first = wait_until(lambda: writers_of(worker), timeout=10, message="writer started")
    assert len(first) == 1
    # at a lower CPU priority than the worker (JOBS_RUNLOG_WRITER_NICE)
    worker_nice = psutil.Process(worker.pid).nice()
    expected = min(worker_nice + settings.JOBS_RUNLOG_WRITER_NICE, 19)
    wait_until(lambda: psutil.Process(first[0]).nice() == expected, timeout=10, message="nice")
    job = JobFactory(overlap="allow")

    ids = code_runs(job, 20)
    wait_until(lambda: succeeded(ids) == 20, timeout=20, message="runs recorded")

    os.kill(first[0], signal.SIGKILL)
    restarted = wait_until(
        lambda: [p for p in writers_of(worker) if p != first[0]], timeout=15, message="restart"
    )
    assert len(restarted) == 1
    assert "run journal writer exited" in worker.text()
    ids = code_runs(job, 20)
    wait_until(lambda: succeeded(ids) == 20, timeout=20, message="runs recorded after restart")


def test_a_writer_whose_worker_died_exits(start_worker):
    worker = start_worker(env=NO_CHILD_DRAIN)
    (writer,) = wait_until(lambda: writers_of(worker), timeout=10, message="writer started")
    process = psutil.Process(writer)

    os.kill(worker.pid, signal.SIGKILL)  # the main process only, not its group

    wait_until(
        lambda: not process.is_running() or process.status() == psutil.STATUS_ZOMBIE,
        timeout=10,
        message="writer exited",
    )


def test_a_ctrl_c_stops_the_worker_and_then_its_writer_without_a_restart(start_worker):
    worker = start_worker(env=NO_CHILD_DRAIN)
    (writer,) = wait_until(lambda: writers_of(worker), timeout=10, message="writer started")
    process = psutil.Process(writer)
    # past the restart back-off: a writer that exits now would be restarted
    time.sleep(max(0.0, process.create_time() + _RESTART_AFTER + 0.5 - time.time()))
    job = JobFactory(target="tests.jobs.sample_jobs:sleep", parameters={"seconds": 2})
    (run_id,) = code_runs(job, 1)
    wait_until(
        lambda: JobRun.objects.filter(pk=run_id, status="running").exists(),
        timeout=15,
        message="run started",
    )

    os.killpg(worker.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends

    # a warm shutdown: the run ends, then the writer drains it and exits
    worker.popen.wait(30)
    assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    assert JobRun.objects.get(pk=run_id).status == "succeeded"
    assert "run journal writer exited" not in worker.text()


def test_without_the_writer_a_worker_still_records_its_runs(start_worker):
    worker = start_worker(env={**NO_CHILD_DRAIN, "JOBS_RUNLOG_WRITER": "false"})
    job = JobFactory(overlap="allow")

    ids = code_runs(job, 20)

    # the main process's backstop writes a journal nobody else drains
    wait_until(lambda: succeeded(ids) == 20, timeout=20, message="runs recorded")
    assert writers_of(worker) == []


def test_the_writer_loop_drains_until_stopped_then_once_more():
    get_redis().delete(runlog.KEY)
    job = JobFactory()
    ticks: list[int] = []

    def stopped() -> bool:
        # one pass while running, then a trigger after the stop is asked
        if len(ticks) == 1:
            code_runs(job, 1)
        return len(ticks) >= 1

    code_runs(job, 2)
    written = drain_until_stopped(stopped, interval=0, sleep=lambda s: ticks.append(1))

    assert written == 3 and runlog.pending() == 0
    assert JobRun.objects.filter(job=job, status="queued").count() == 3
    get_redis().delete(job.queue_name)  # their messages: no worker here
