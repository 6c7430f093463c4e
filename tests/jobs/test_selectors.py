"""jobs.selectors: the engine's reads of runs."""

import pytest

from jobs.errors import NotFound
from jobs.selectors import job_recent_runs, run_get, run_next_attempt
from tests.factories import JobFactory, JobRunFactory

pytestmark = pytest.mark.django_db


def test_run_get_refuses_unknown_and_malformed_ids():
    run = JobRunFactory()
    assert run_get(str(run.pk)) == run
    with pytest.raises(NotFound, match="unknown run 'not-a-uuid'"):
        run_get("not-a-uuid")
    with pytest.raises(NotFound):
        run_get("00000000-0000-0000-0000-000000000000")


@pytest.mark.parametrize("status", ["retrying", "timed_out", "orphaned"])
def test_next_attempt_follows_any_retried_failure(status):
    job = JobFactory(max_retries=2)
    first = JobRunFactory(job=job, status=status, attempt=1)
    second = JobRunFactory(
        job=job, status="queued", attempt=2, first_attempt=first, trigger="retry"
    )
    assert run_next_attempt(first) == second
    third = JobRunFactory(job=job, status="queued", attempt=3, first_attempt=first, trigger="retry")
    assert run_next_attempt(second) == third
    assert run_next_attempt(third) is None


def test_recent_runs_newest_first_and_bounded():
    job = JobFactory()
    runs = [JobRunFactory(job=job) for _ in range(4)]
    assert job_recent_runs(job, 3) == list(reversed(runs))[:3]
