"""Forged broker messages: whoever can write to the broker (a Redis client,
Flower's task API) must not run a job, change state with arguments of their
choosing, or skip the audit. Each attack pushes a real message through the
real broker to a real worker and asserts that it did not run and was logged."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from config.celery import app
from jobs import runlog
from jobs.actors import Actor
from jobs.models import Job, JobRun
from jobs.redis import get_redis
from jobs.services.runs import run_trigger
from jobs.services.scheduling import schedule_sync
from tests.conftest import wait_until
from tests.factories import JobFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

REFUSED = "signature does not match a run Jobwarden recorded"


def _final(run_id, timeout=30):
    return wait_until(
        lambda: (
            (r := JobRun.objects.filter(pk=run_id).first())
            and r.status not in ("queued", "running")
            and r
        ),
        timeout=timeout,
    )


def _forged_run(job, marker):
    """The kwargs of a run message as an attacker writes them: chosen
    parameters, a trigger and `triggered_by` that never happened."""
    return {
        "job_id": job.pk,
        "run": {
            "trigger": "api",
            "triggered_by": "admin",
            "parameters": {"marker": str(marker), "seconds": 0},
            "metadata": {"overrides": {"marker": str(marker), "seconds": 0}, "source": "api"},
        },
        "sent": time.time(),
    }


def test_a_forged_run_message_is_refused_and_logged_and_a_recorded_one_runs(start_worker, tmp_path):
    worker = start_worker()
    job = JobFactory(target="tests.jobs.sample_jobs:sleep", parameters={"seconds": 0})
    forged_id = str(uuid.uuid4())
    marker = tmp_path / "forged-ran"

    app.send_task(
        "jobs.execute_run",
        args=[forged_id],
        kwargs=_forged_run(job, marker),
        task_id=forged_id,
        queue="jobs",
    )

    # The worker reads the queue in order: once a run recorded after the
    # forged message has ended, the forged one has been dealt with.
    genuine = run_trigger(job.name, actor=Actor.cli("ops"), trigger="cli")
    assert _final(genuine.pk).status == "succeeded"
    time.sleep(0.5)
    runlog.flush()
    assert not marker.exists()
    # Acknowledged, not executed, and no trace a reader could take for a run.
    assert not JobRun.objects.filter(pk=forged_id).exists()
    worker.wait_for(f"refused run message '{forged_id}'")
    assert REFUSED in worker.text()
    assert JobRun.objects.filter(job=job).count() == 1


def test_a_recorded_runs_message_altered_in_redis_is_refused(start_worker, tmp_path):
    # The run is recorded (queued, with its parameters), its message waits in
    # Redis on a queue no worker reads yet; an attacker with access to Redis
    # rewrites the parameters and `triggered_by` and moves it to a live queue.
    job = JobFactory(target="tests.jobs.sample_jobs:sleep", queue="held", parameters={})
    run = run_trigger(job.name, actor=Actor.cli("ops"), trigger="cli", parameters={"seconds": 0})
    redis = get_redis()
    raw = wait_until(lambda: redis.rpop("held"), message="the run's message in Redis")
    message = json.loads(raw)
    body = json.loads(base64.b64decode(message["body"]))
    marker = tmp_path / "altered-ran"
    body[1]["run"]["metadata"]["overrides"] = {"marker": str(marker), "seconds": 0}
    body[1]["run"]["triggered_by"] = "admin"
    message["body"] = base64.b64encode(json.dumps(body).encode()).decode()
    worker = start_worker()
    redis.lpush("jobs", json.dumps(message))

    time.sleep(3)  # a worker that took it would have ended it by now
    runlog.flush()
    assert not marker.exists()
    recorded = JobRun.objects.get(pk=run.pk)
    assert (recorded.status, recorded.triggered_by) == ("queued", "ops")
    worker.wait_for(f"refused run message '{run.pk}'")


def _recurring(**kw):
    job = JobFactory(schedule_type="recurring", target="tests.jobs.sample_jobs:noop", **kw)
    with transaction.atomic():
        schedule_sync(job)
    job.refresh_from_db()
    return job


def test_forged_fire_of_a_job_not_due_and_celery_canvas_tasks_are_refused(start_worker):
    worker = start_worker()
    # Created now, hourly: its first fire is up to an hour ahead. The
    # previous hour's instant was never due for it.
    job = _recurring(cron="0 * * * *")
    assert job.next_run_at > datetime.now(UTC)
    once = JobFactory(schedule_type="once", run_at=datetime.now(UTC) + timedelta(days=1), cron="")
    with transaction.atomic():
        schedule_sync(once)

    app.send_task("jobs.fire_scheduled", kwargs={"job_name": job.name})
    app.send_task("jobs.fire_scheduled", kwargs={"job_name": once.name})
    worker.wait_for(f"scheduled fire of '{job.name}' ignored: not due")
    worker.wait_for(f"scheduled fire of '{once.name}' ignored: not due")

    # Celery's canvas tasks would call any task in-process with arguments of
    # the message's choosing (celery.map) or publish new messages from the
    # worker (celery.group/chain/chord): Jobwarden uses none, the worker has none.
    sig = {
        "task": "jobs.fire_scheduled",
        "args": [],
        "kwargs": {},
        "options": {},
        "subtask_type": None,
        "immutable": False,
    }
    for name, args in (
        ("celery.map", [sig, [[job.name]]]),
        ("celery.chain", [[sig]]),
        ("celery.group", [[sig]]),
        ("celery.starmap", [sig, [[job.name]]]),
    ):
        app.send_task(name, args=args)
        worker.wait_for(f"Received unregistered task of type '{name}'")
    time.sleep(0.5)
    assert not JobRun.objects.filter(job__in=[job, once]).exists()
    assert Job.objects.get(pk=job.pk).next_run_at == job.next_run_at


def _running(run_id, timeout=30):
    def check():
        runlog.flush()
        return JobRun.objects.filter(pk=run_id, status="running").first()

    return wait_until(check, timeout=timeout, message=f"run {run_id} running")


def test_remote_control_from_the_broker_is_refused_but_a_recorded_cancel_terminates(
    start_worker,
):
    worker = start_worker(concurrency=1)
    job = JobFactory(target="tests.jobs.sample_jobs:sleep", parameters={"seconds": 60})
    run = run_trigger(job.name, actor=Actor.cli("ops"), trigger="cli")
    _running(run.pk)

    # Terminating a run nobody cancelled (it would be recorded as cancelled,
    # with no audit record), and stopping the worker: refused, with a reply.
    replies = app.control.revoke(
        str(run.pk), terminate=True, signal="SIGKILL", reply=True, timeout=3
    )
    assert replies and all("error" in r for reply in replies for r in reply.values())
    replies = app.control.broadcast("shutdown", reply=True, timeout=3)
    assert replies and all("error" in r for reply in replies for r in reply.values())
    worker.wait_for(f"refused remote-control revoke of {run.pk}")
    worker.wait_for("refused remote-control command 'shutdown'")
    time.sleep(1)
    assert worker.popen.poll() is None
    assert _running(run.pk, timeout=1)

    # Jobwarden's own revoke (the sweeper's, for a recorded cancel that the
    # run ignored) still terminates it.
    JobRun.objects.filter(pk=run.pk).update(cancel_requested_at=datetime.now(UTC))
    app.control.revoke(str(run.pk), terminate=True, signal="SIGKILL")
    ended = _final(run.pk)
    assert ended.status == "cancelled" and "terminated" in ended.error
