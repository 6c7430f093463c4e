"""The run journal under a database outage, with a real worker whose
database connection goes through a proxy the test cuts (tests/faults.py)."""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from jobs import runlog
from jobs.actors import Actor
from jobs.models import JobRun
from jobs.redis import get_redis
from jobs.services.runs import run_trigger
from tests.conftest import wait_until
from tests.factories import JobFactory
from tests.faults import TcpProxy

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
CODE = Actor(name="tests", source="code")


@pytest.fixture
def db_proxy():
    db = settings.DATABASES["default"]
    proxy = TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    yield proxy
    proxy.close()


def test_jobs_keep_running_through_a_database_outage_and_are_all_recorded(start_worker, db_proxy):
    db = settings.DATABASES["default"]
    start_worker(
        env={
            "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@127.0.0.1:{db_proxy.port}/{db['NAME']}"
        }
    )
    job = JobFactory()
    warm = [run_trigger(job.name, actor=CODE, trigger="code") for _ in range(3)]
    wait_until(
        lambda: JobRun.objects.filter(pk__in=[r.pk for r in warm], status="succeeded").count() == 3,
        message="runs before the outage",
    )

    db_proxy.cut()
    during = [run_trigger(job.name, actor=CODE, trigger="code") for _ in range(10)]
    # Each run executes and its end waits in the journal: queued, started
    # and ended, 3 events per run.
    wait_until(lambda: runlog.pending() >= 30, message="runs executed during the outage")
    time.sleep(10 * settings.JOBS_RUNLOG_FLUSH_INTERVAL)  # flushers try, and fail
    assert runlog.pending() >= 30
    assert not JobRun.objects.filter(pk__in=[r.pk for r in during]).exists()

    db_proxy.restore()
    wait_until(
        lambda: (
            JobRun.objects.filter(pk__in=[r.pk for r in during], status="succeeded").count() == 10
        ),
        message="runs recorded after the outage",
    )
    job.refresh_from_db()
    assert (job.execution_count, job.success_count) == (13, 13)
    # A flusher trims a batch just after committing it (a moment later for
    # the low-priority writer on a busy machine).
    wait_until(lambda: runlog.pending() == 0, timeout=15, message="applied events trimmed")
    assert not get_redis().llen(runlog.DEAD_KEY)
