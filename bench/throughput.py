"""Tracked vs bare throughput through the same worker (issue 2's bench).

N no-op jobs go through the full tracked path (run_trigger from code →
queued run in the run journal → the worker claims it → runner → its end in
the journal → batched into PostgreSQL with the job's live state), and N bare
Celery no-op tasks go through the same worker process. Both are timed end to
end: from the first enqueue to the last one finished, for tracked runs the
last one finished *in the database*. Each of BENCH_ROUNDS rounds (9) runs
half of BENCH_N (2,000) bare tasks, BENCH_N tracked runs, then the other
half of the bare tasks; the medians of the rounds are reported.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def start_worker(concurrency: int) -> subprocess.Popen:
    log = open(ROOT / "var" / "bench-worker.log", "wb")  # noqa: SIM115
    celery = str(Path(sys.executable).with_name("celery"))
    proc = subprocess.Popen(
        [
            celery,
            "-A",
            "config",
            "worker",
            "-P",
            "prefork",
            "-c",
            str(concurrency),
            "-Q",
            "celery,jobs",
            "-l",
            os.environ.get("BENCH_LOGLEVEL", "WARNING"),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-I",
            "bench.tasks",
            "-n",
            f"bench-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc


def wait_ready(timeout: float = 60) -> None:
    from config.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.control.inspect(timeout=1).ping():
            return
    raise RuntimeError("bench worker did not start; see var/bench-worker.log")


def run(
    report: Callable[[str], Any] = print,
    n: int | None = None,
    concurrency: int = 2,
    producers: int = 1,
) -> float:
    from django.db import connection

    from bench.tasks import COUNTER, bare_noop_task
    from jobs.actors import Actor
    from jobs.models import Job, JobRun
    from jobs.redis import get_redis
    from jobs.services.runs import run_trigger

    n = n or int(os.environ.get("BENCH_N", "2000"))
    redis = get_redis()
    redis.delete(COUNTER)
    # purge leftovers from an interrupted earlier bench
    from config.celery import app

    app.control.purge()
    Job.objects.filter(name="bench-noop").delete()
    job = Job.objects.create(
        name="bench-noop",
        kind="python",
        target="bench.tasks:noop",
        schedule_type="manual",
        overlap="allow",
        auto_disable_after=0,
    )
    connection.close()
    worker = start_worker(concurrency)
    try:
        wait_ready()
        actor = Actor(name="bench", source="code")

        def warm() -> None:
            for _ in range(50):
                bare_noop_task.delay()
                run_trigger(job.name, actor=actor, trigger="code")
            _wait(
                lambda: (
                    int(redis.get(COUNTER) or 0) >= 50
                    and JobRun.objects.filter(job=job, finished_at__isnull=False).count() >= 50
                )
            )

        warm()

        def bare_phase(count: int) -> float:
            redis.delete(COUNTER)
            start = time.perf_counter()
            _produce(producers, count, bare_noop_task.delay)
            _wait(lambda: int(redis.get(COUNTER) or 0) >= count)
            return time.perf_counter() - start

        rounds = max(1, int(os.environ.get("BENCH_ROUNDS", "9")))
        pairs: list[tuple[float, float, float]] = []
        for _ in range(rounds):
            # This machine's speed drifts by tens of percent within a minute,
            # so each round compares phases measured under the same
            # conditions: half the bare tasks, all the tracked runs, the other
            # half (a drift steady across the round cancels out), and the
            # median of the rounds is reported.
            JobRun.objects.filter(job=job).delete()
            Job.objects.filter(pk=job.pk).update(execution_count=0, success_count=0)

            bare_seconds = bare_phase(n // 2)

            start = time.perf_counter()
            _produce(producers, n, lambda: run_trigger(job.name, actor=actor, trigger="code"))
            enqueue_rate = n / (time.perf_counter() - start)
            # The job's execution count is written in the same transaction as
            # its runs' ends: one row tells when the last run is in the
            # database (counting the run rows every poll would tax the
            # database during the very window being measured).
            _wait(lambda: _executions(job.pk) >= n)
            tracked = n / (time.perf_counter() - start)

            bare = n / (bare_seconds + bare_phase(n - n // 2))
            pairs.append((bare, tracked, enqueue_rate))
            report(
                f"  round {len(pairs)}: bare {bare:6.0f}/s, tracked {tracked:6.0f}/s, "
                f"ratio {tracked / bare:.2f}"
            )

        ok = JobRun.objects.filter(job=job, status="succeeded").count()
        job.refresh_from_db()
        bare, tracked, enqueue_rate = (statistics.median(x) for x in zip(*pairs, strict=True))
        ratio = statistics.median(t / b for b, t, _ in pairs)
        report(
            f"bare Celery no-op:  {bare:8.0f} tasks/s  (median of {rounds} rounds of N={n}, "
            f"{concurrency} worker processes)"
        )
        report(
            f"tracked no-op jobs: {tracked:8.0f} runs/s   ({ok}/{n} of the last round succeeded, "
            f"job counted {job.execution_count}; triggers alone {enqueue_rate:.0f}/s)"
        )
        report(
            f"(the ratio is the median of the {rounds} rounds' own ratios, not of these medians)"
        )
        return ratio
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
        JobRun.objects.filter(job__name="bench-noop").delete()


def _executions(job_id: int) -> int:
    from jobs.models import Job

    return Job.objects.filter(pk=job_id).values_list("execution_count", flat=True).get()


def _produce(threads: int, n: int, send: Callable[[], Any]) -> None:
    """Send n messages from `threads` producer threads (as web processes,
    beat and API clients would), each with its own database connection."""
    from django.db import connection

    def worker(count: int) -> None:
        try:
            for _ in range(count):
                send()
        finally:
            connection.close()

    if threads <= 1:
        for _ in range(n):
            send()
        return
    share = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]
    pool = [threading.Thread(target=worker, args=(k,)) for k in share]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def _wait(done: Callable[[], bool], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("bench did not finish in time; see var/bench-worker.log")
        time.sleep(0.02)
