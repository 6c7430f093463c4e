"""Issue 12, item 1, in the worker: a target saved around the rules (a row
from before the fix, or written by SQL) is refused when it runs, and a
result that is not JSON fails the run instead of being stored as repr()."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import Permission

from jobs.models import JobRun
from tests.api.conftest import _client
from tests.conftest import wait_until
from tests.factories import JobFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _final(run_id: str) -> JobRun:
    return wait_until(
        lambda: (r := JobRun.objects.get(pk=run_id)).status not in ("queued", "running") and r,
        timeout=30,
    )


def _trigger(client, name: str) -> str:
    response = client.post(f"/api/v1/jobs/{name}/trigger/", {}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


@pytest.fixture
def operator_client():
    # The role groups come from a data migration a transactional test's flush
    # removes; the operator's permissions themselves are recreated.
    user = UserFactory(username="oscar")
    codenames = ("view_job", "trigger_job")
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return _client(user)


def test_the_worker_refuses_hostile_targets_and_stores_no_repr(start_worker, operator_client):
    start_worker()
    JobFactory(name="legacy", target="os:environ.copy", max_retries=0)
    JobFactory(name="leaky", target="tests.security.allowed:leak_environment", max_retries=0)
    secret = os.environ["JOBS_SECRET_KEYS"]

    legacy = _final(_trigger(operator_client, "legacy"))
    leaky = _final(_trigger(operator_client, "leaky"))

    assert legacy.status == "failed" and "is not a registered job function" in legacy.error
    assert leaky.status == "failed" and "must return JSON" in leaky.error
    for run in (legacy, leaky):
        assert run.result is None
        shown = operator_client.get(f"/api/v1/runs/{run.pk}/").content.decode()
        assert secret not in shown
