"""The run journal (jobs.runlog + jobs.services.journal) against real Redis
and PostgreSQL: what the hot path appends, and what a flush makes of it."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from jobs import runlog, signing
from jobs.actors import Actor
from jobs.models import Job, JobRun
from jobs.redis import get_redis
from jobs.services.jobs import job_disable
from jobs.services.journal import runs_apply
from jobs.services.runs import Outcome, run_cancel, run_finish, run_start, run_trigger
from tests.factories import JobFactory
from tests.faults import TcpProxy

pytestmark = pytest.mark.django_db

CODE = Actor(name="tests", source="code")
OPS = Actor(name="ops", source="cli")


@pytest.fixture(autouse=True)
def empty_journal():
    get_redis().delete(runlog.KEY)
    yield
    get_redis().delete(runlog.KEY)


def trigger(job, capture):
    with capture(execute=True):
        return run_trigger(job.name, actor=CODE, trigger="code")


def start(run, *, worker="w1@host", pid=11, sent=None):
    """run_start as the worker calls it for the run's message, as enqueue signs it."""
    sent, values = sent or time.time(), runlog.message_values(run)
    return run_start(
        str(run.pk),
        worker=worker,
        pid=pid,
        job_id=run.job_id,
        message=values,
        sent=sent,
        signature=signing.run_message_sign(str(run.pk), run.job_id, sent, values),
    )


def test_a_code_trigger_reaches_the_database_only_through_the_journal(
    django_capture_on_commit_callbacks,
):
    job = JobFactory()
    run = trigger(job, django_capture_on_commit_callbacks)
    assert not JobRun.objects.filter(pk=run.pk).exists()
    assert runlog.pending() == 1

    assert runlog.flush() == 1
    stored = JobRun.objects.get(pk=run.pk)
    assert (stored.status, stored.trigger, stored.triggered_by) == ("queued", "code", "tests")
    assert runlog.pending() == 0


def test_a_run_that_starts_and_ends_between_flushes_lands_as_its_final_row(
    django_capture_on_commit_callbacks,
):
    job = JobFactory()
    run = trigger(job, django_capture_on_commit_callbacks)
    claim = start(run)
    assert claim.claimed
    run_finish(claim, Outcome(status="succeeded", result={"n": 1}, output="done\n"))

    runlog.flush()
    stored = JobRun.objects.get(pk=run.pk)
    assert stored.status == "succeeded" and stored.result == {"n": 1}
    assert stored.output == "done\n" and stored.worker == "w1@host" and stored.pid == 11
    assert stored.started_at <= stored.finished_at
    job.refresh_from_db()
    assert (job.execution_count, job.success_count, job.status) == (1, 1, "succeeded")
    assert job.last_run_id == run.pk


def test_each_state_lands_when_flushed_between_steps(django_capture_on_commit_callbacks):
    job = JobFactory()
    run = trigger(job, django_capture_on_commit_callbacks)
    runlog.flush()
    claim = start(run)
    runlog.flush()
    assert JobRun.objects.get(pk=run.pk).status == "running"
    run_finish(claim, Outcome(status="failed", error="boom"))
    runlog.flush()
    stored = JobRun.objects.get(pk=run.pk)
    assert (stored.status, stored.error) == ("failed", "boom")
    job.refresh_from_db()
    assert (job.failure_count, job.consecutive_failures, job.last_error) == (1, 1, "boom")


def test_applying_the_same_events_twice_changes_nothing(django_capture_on_commit_callbacks):
    # A flusher that dies after its commit but before trimming the journal:
    # the next one applies the same batch again.
    job = JobFactory()
    run = trigger(job, django_capture_on_commit_callbacks)
    run_finish(start(run), Outcome(status="succeeded"))
    raw = get_redis().lrange(runlog.KEY, 0, -1)
    runs_apply(raw)
    runs_apply(raw)
    job.refresh_from_db()
    assert (job.execution_count, job.success_count) == (1, 1)
    assert JobRun.objects.get(pk=run.pk).status == "succeeded"


def test_a_second_delivery_of_a_run_is_not_executed(django_capture_on_commit_callbacks):
    job = JobFactory()
    run = trigger(job, django_capture_on_commit_callbacks)
    assert start(run).claimed
    assert not start(run, worker="w2@other", pid=22).claimed
    runlog.flush()
    assert JobRun.objects.get(pk=run.pk).worker == "w1@host"


def test_a_claim_whose_reply_was_lost_is_retried_and_still_holds_the_run(
    settings, django_capture_on_commit_callbacks
):
    """The server took the claim, the connection died before the worker heard
    so: redis-py's retry must be told 'ok', not 'taken' (the run would
    otherwise sit running, unexecuted, until the sweeper called it orphaned)."""
    job = JobFactory()
    run = trigger(job, django_capture_on_commit_callbacks)
    direct = get_redis().connection_pool.connection_kwargs
    proxy = TcpProxy(direct.get("host", "127.0.0.1"), int(direct.get("port", 6379)))
    settings.REDIS_URL = f"redis://127.0.0.1:{proxy.port}/{direct.get('db', 0)}"
    try:
        from jobs.redis import get_held_redis

        # The held connection goes through the proxy; the script and the job's
        # version are in place, so the next command is the claim itself.
        get_held_redis().script_load(runlog._CLAIM)
        runlog.job_version_publish(job.pk, job.enabled, job.updated_at)
        proxy.drop_next_reply()
        claim = start(run)
        assert claim.claimed
        events = [runlog.split(e) for e in get_redis().lrange(runlog.KEY, 0, -1)]
        assert [kind for kind, run_id, _ in events if run_id == str(run.pk)].count("s") == 1
        # another delivery still finds the run taken
        assert not start(run, worker="w2@other", pid=22).claimed
    finally:
        proxy.close()


def test_a_second_delivery_to_the_same_process_is_not_executed(
    django_capture_on_commit_callbacks,
):
    job = JobFactory()
    run = trigger(job, django_capture_on_commit_callbacks)
    assert start(run).claimed
    assert not start(run).claimed


def test_an_old_message_is_checked_against_the_database(django_capture_on_commit_callbacks):
    job = JobFactory()
    run = trigger(job, django_capture_on_commit_callbacks)
    run_finish(start(run), Outcome(status="succeeded"))
    get_redis().delete(runlog.claim_key(run.pk))  # its claim has been forgotten
    again = start(run, worker="w2@other", pid=22, sent=time.time() - 3600)
    assert not again.claimed
    assert JobRun.objects.get(pk=run.pk).status == "succeeded"


def test_cancelling_a_queued_code_run_discards_its_message(django_capture_on_commit_callbacks):
    job = JobFactory()
    run = trigger(job, django_capture_on_commit_callbacks)
    cancelled = run_cancel(str(run.pk), actor=OPS, reason="not today")
    assert cancelled.status == "cancelled" and "not today" in cancelled.error
    assert not start(run).claimed
    runlog.flush()
    assert JobRun.objects.get(pk=run.pk).status == "cancelled"


def test_a_run_of_a_job_disabled_after_it_was_queued_is_skipped(
    django_capture_on_commit_callbacks,
):
    job = JobFactory()
    run = trigger(job, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        job_disable(job.name, actor=OPS, reason="maintenance")
    assert not start(run).claimed
    runlog.flush()
    stored = JobRun.objects.get(pk=run.pk)
    assert (stored.status, stored.error) == ("skipped", "job is disabled")


def test_events_of_a_deleted_job_are_dropped(django_capture_on_commit_callbacks):
    job = JobFactory()
    run = trigger(job, django_capture_on_commit_callbacks)
    claim = start(run)
    run_finish(claim, Outcome(status="succeeded"))
    Job.objects.filter(pk=job.pk).delete()
    runlog.flush()
    assert not JobRun.objects.filter(pk=run.pk).exists()
    assert runlog.pending() == 0


def test_a_final_failure_is_retried_when_applied(django_capture_on_commit_callbacks):
    job = JobFactory(max_retries=1, retry_delay=60, retry_jitter=0)
    run = trigger(job, django_capture_on_commit_callbacks)
    run_finish(start(run), Outcome(status="failed", error="flaky"))
    runlog.flush()
    first = JobRun.objects.get(pk=run.pk)
    retry = JobRun.objects.get(first_attempt_id=run.pk)
    assert first.status == "retrying"
    assert (retry.attempt, retry.trigger, retry.status) == (2, "retry", "queued")
    job.refresh_from_db()
    assert job.consecutive_failures == 0  # a retried failure does not count yet


def test_an_event_the_database_refuses_is_set_aside_and_the_rest_applied(
    django_capture_on_commit_callbacks,
):
    job = JobFactory()
    good = trigger(job, django_capture_on_commit_callbacks)
    bad = trigger(job, django_capture_on_commit_callbacks)
    runlog.flush()
    bad_row = runlog.row_values(JobRun.objects.get(pk=bad.pk))
    bad_row.update(status="succeeded", duration_ms=-5)  # violates a CHECK constraint
    runlog.append(runlog.encode("e", bad.pk, bad_row, x=["queued"]))
    run_finish(start(good), Outcome(status="succeeded"))
    get_redis().delete(runlog.DEAD_KEY)

    runlog.flush()

    assert runlog.pending() == 0
    assert JobRun.objects.get(pk=good.pk).status == "succeeded"
    assert JobRun.objects.get(pk=bad.pk).status == "queued"
    dead = get_redis().lrange(runlog.DEAD_KEY, 0, -1)
    assert [runlog.decode(e)["id"] for e in dead] == [str(bad.pk)]
    get_redis().delete(runlog.DEAD_KEY)


def test_a_run_looked_up_right_after_a_code_trigger_is_found(django_capture_on_commit_callbacks):
    from jobs.selectors import run_get

    job = JobFactory()
    run = trigger(job, django_capture_on_commit_callbacks)
    assert run_get(str(run.pk)).status == "queued"


def test_a_published_version_that_disagrees_with_the_database_is_corrected(
    django_capture_on_commit_callbacks,
):
    # e.g. left in Redis by another database whose job had the same id
    job = JobFactory()
    get_redis().set(runlog.job_version_key(job.pk), "0|12345.0")
    run = trigger(job, django_capture_on_commit_callbacks)
    assert start(run).claimed
    assert get_redis().get(runlog.job_version_key(job.pk)).decode() == runlog.job_version(
        True, Job.objects.get(pk=job.pk).updated_at
    )


def test_one_batch_writes_the_live_state_of_every_job_it_touches(
    django_capture_on_commit_callbacks,
):
    a, b = JobFactory(), JobFactory()
    for job, status in ((a, "succeeded"), (b, "failed"), (a, "succeeded")):
        run_finish(start(trigger(job, django_capture_on_commit_callbacks)), Outcome(status=status))
    runlog.flush()
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.execution_count, a.success_count, a.status) == (2, 2, "succeeded")
    assert (b.execution_count, b.failure_count, b.consecutive_failures) == (1, 1, 1)


def test_a_code_trigger_sends_its_queued_event_with_its_message(
    django_capture_on_commit_callbacks,
):
    # One MULTI/EXEC: the event is in the journal, ahead of anything a
    # worker appends, and the message is on the job's queue.
    from jobs import broker

    assert broker.folds_journal()
    job = JobFactory(queue="fold-test")
    redis = get_redis()
    redis.delete("fold-test")
    try:
        run = trigger(job, django_capture_on_commit_callbacks)
        assert [runlog.split(e)[:2] for e in redis.lrange(runlog.KEY, 0, -1)] == [
            ("q", str(run.pk))
        ]
        messages = redis.lrange("fold-test", 0, -1)
        assert len(messages) == 1 and str(run.pk).encode() in messages[0]
    finally:
        redis.delete("fold-test")


def test_a_message_leaves_out_default_values_and_the_worker_restores_them():
    job = JobFactory()
    plain = runlog.make_run({"job_id": job.pk, "trigger": "code", "triggered_by": "t"})
    assert set(runlog.message_values(plain)) == {"trigger", "triggered_by", "queued_at"}
    retry = runlog.make_run(
        {
            "job_id": job.pk,
            "trigger": "retry",
            "attempt": 2,
            "first_attempt_id": plain.pk,
            "reason": "backoff",
            "parameters": {"day": "2026-11-30"},
            "scheduled_for": plain.queued_at,
        }
    )
    for run in (plain, retry):
        sent = runlog.make_run(runlog.decode_values(dict(runlog.message_values(run))))
        sent.id, sent.job_id = run.id, run.job_id
        # as the journal carries them (ids as text)
        assert runlog._plain(runlog.row_values(sent)) == runlog._plain(runlog.row_values(run))


def test_a_run_message_declares_its_queue_only_where_routing_needs_it():
    from kombu import Exchange, Queue

    from config.celery import app
    from jobs import broker

    assert broker.declare_for("jobs") == []  # Redis, direct: straight onto the list
    app.amqp.queues.add(Queue("topical", Exchange("topical-x", type="topic"), "runs.#"))
    try:
        assert broker.declare_for("topical") is None  # Celery declares the binding
    finally:
        app.amqp.queues.pop("topical")
        broker.declare_for.cache_clear()


def test_without_the_fold_the_queued_event_still_goes_first(
    django_capture_on_commit_callbacks, settings
):
    from jobs import broker

    settings.CELERY_BROKER_TRANSPORT = None
    broker.folds_journal.cache_clear()
    try:
        assert not broker.folds_journal()
        run = trigger(JobFactory(), django_capture_on_commit_callbacks)
        assert runlog.split(get_redis().lindex(runlog.KEY, 0))[:2] == ("q", str(run.pk))
    finally:
        broker.folds_journal.cache_clear()


def test_events_written_before_the_header_format_still_apply(django_capture_on_commit_callbacks):
    # Journal entries left in Redis by the previous release, across an upgrade.
    import json

    job = JobFactory()
    run = trigger(job, django_capture_on_commit_callbacks)
    claim = start(run)
    run_finish(claim, Outcome(status="succeeded", result={"ok": True}))
    raw = get_redis().lrange(runlog.KEY, 0, -1)
    get_redis().delete(runlog.KEY)
    ended = runlog.decode(raw[-1])["v"]
    old = []
    for entry in raw:
        # that release: no header, and times as float seconds
        kind, run_id, body = runlog.split(entry)
        event = runlog.decode_body(body)
        values = {
            k: v.timestamp() if isinstance(v, datetime) else v for k, v in event.pop("v").items()
        }
        old.append(json.dumps({"k": kind, "id": run_id, "v": values, **event}, default=str))
    runlog.append(*old)

    runlog.flush()

    stored = JobRun.objects.get(pk=run.pk)
    assert (stored.status, stored.result, stored.worker) == ("succeeded", {"ok": True}, "w1@host")
    for name in ("queued_at", "started_at", "finished_at"):
        assert abs(getattr(stored, name) - ended[name]) < timedelta(milliseconds=1), name


def test_an_end_that_is_refused_leaves_the_earlier_events_applied(
    django_capture_on_commit_callbacks,
):
    # The flusher skips parsing a run's queued and started events when its
    # end will replace them; an end that will be refused must not take them
    # down with it.
    job = JobFactory()
    run = trigger(job, django_capture_on_commit_callbacks)
    start(run)
    stale = runlog.row_values(run)
    stale.update(status="cancelled", error="too late")
    runlog.append(runlog.encode("e", run.pk, stale, x=["queued"]))

    runlog.flush()

    stored = JobRun.objects.get(pk=run.pk)
    assert (stored.status, stored.worker, stored.trigger, stored.triggered_by) == (
        "running",
        "w1@host",
        "code",
        "tests",
    )
    job.refresh_from_db()
    assert job.execution_count == 0


def test_the_locked_job_rows_read_as_the_orm_reads_them():
    from django.db import transaction

    from jobs import runstore

    job = JobFactory(tags=["nightly", "finance"], parameters={"region": "eu", "n": 3})
    with transaction.atomic():
        locked = runstore.jobs_lock([job.pk])[job.pk]
    loaded = Job.objects.get(pk=job.pk)
    for field in Job._meta.concrete_fields:
        assert getattr(locked, field.attname) == getattr(loaded, field.attname), field.name


def test_a_json_null_in_a_not_null_json_column_is_stored_as_json_null():
    import uuid

    from jobs import runstore

    job = JobFactory()
    run_id = uuid.uuid4()
    runstore.runs_insert([{"id": run_id, "job_id": job.pk, "parameters": None}])
    assert JobRun.objects.get(pk=run_id).parameters is None


def test_refused_events_are_shown_and_retried_once_the_cause_is_fixed(capsys):
    import json
    import uuid
    from datetime import UTC, datetime

    from django.core.management import call_command

    # A queued fire that collides with one already recorded for the same
    # (job, scheduled time): the database refuses it until that one is gone.
    job = JobFactory()
    fire = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    first = JobRun.objects.create(job=job, trigger="scheduled", scheduled_for=fire)
    second = uuid.uuid4()
    values = {"job_id": job.pk, "trigger": "scheduled", "scheduled_for": fire}
    runlog.append(runlog.encode("q", second, values))
    get_redis().delete(runlog.DEAD_KEY)
    runlog.flush()

    with pytest.raises(SystemExit) as exited:
        call_command("jobs", "journal", "--json")
    assert exited.value.code == 1
    assert json.loads(capsys.readouterr().out) == {"pending": 0, "dead": 1, "flushing": False}

    first.delete()
    call_command("jobs", "journal", "retry-dead")
    assert capsys.readouterr().out.strip() == "retried 1 set-aside event(s); 0 refused again"
    assert JobRun.objects.get(pk=second).scheduled_for == fire
    assert runlog.status() == {"pending": 0, "dead": 0, "flushing": False}


def test_a_flush_whose_journal_shrank_under_it_releases_its_lock():
    # Another flusher trimmed the list after this one's lock expired: the
    # next read comes back empty, and the lock must go with it (not wait
    # out its TTL, blocking every read-your-writes flush meanwhile).
    redis = get_redis()
    redis.set(runlog.LOCK_KEY, "mine", px=60_000)

    batch = runlog._script(runlog._NEXT)(
        keys=[runlog.KEY, runlog.LOCK_KEY], args=["gone", 1, 100, "mine", 10_000]
    )

    assert batch == [] and not redis.exists(runlog.LOCK_KEY)
    runlog.append(runlog.encode("q", "x", {}))
    assert runlog._script(runlog._NEXT)(
        keys=[runlog.KEY, runlog.LOCK_KEY], args=["gone", 1, 100, "other", 10_000]
    ) == [runlog.encode("q", "x", {}).encode()]


def test_a_flusher_renews_its_lock_with_each_batch():
    redis = get_redis()
    redis.set(runlog.LOCK_KEY, "mine", px=1_000)
    runlog.append(runlog.encode("q", "a", {}), runlog.encode("q", "b", {}))

    batch = runlog._script(runlog._NEXT)(
        keys=[runlog.KEY, runlog.LOCK_KEY], args=["a-not-head", 1, 1, "mine", 60_000]
    )

    assert len(batch) == 1 and redis.pttl(runlog.LOCK_KEY) > 30_000
    redis.delete(runlog.LOCK_KEY)
