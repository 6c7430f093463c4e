import pytest

from jobs.actors import Actor
from jobs.models import JobRun
from jobs.services.runs import run_trigger
from tests.conftest import wait_until
from tests.factories import JobFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _final(run_id, timeout=30):
    return wait_until(
        lambda: (r := JobRun.objects.get(pk=run_id)).status not in ("queued", "running") and r,
        timeout=timeout,
    )


def test_manual_run_is_executed_by_a_real_worker_and_recorded(start_worker):
    start_worker()
    job = JobFactory(target="tests.jobs.sample_jobs:succeed", parameters={"a": 1})
    run = run_trigger(job.name, actor=Actor.cli("tester"), trigger="cli", parameters={"b": 2})
    run = _final(run.pk)
    assert run.status == "succeeded", run.error + run.traceback
    assert {"a": 1, "b": 2}.items() <= run.result["params"].items()
    assert run.progress == 100 and run.progress_message == "done"
    assert "hello from" in run.output
    assert run.worker and run.pid and run.duration_ms is not None
    job.refresh_from_db()
    assert (job.execution_count, job.success_count, job.status) == (1, 1, "succeeded")
