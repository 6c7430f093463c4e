"""Issue 12 item 10: a job's queue is a broker queue Jobwarden lets it use,
never a broker-internal or Jobwarden key in the same Redis keyspace."""

from __future__ import annotations

import pytest

from jobs.models import Job, JobRun
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db

PYTHON = {"name": "queued", "kind": "python", "target": "tests.jobs.sample_jobs:succeed"}


@pytest.mark.parametrize(
    "queue",
    [
        "_kombu.binding.jobs",  # kombu's routing table: a 500 and a half-saved run
        "jobwarden:runlog",  # the run journal: Celery messages pushed into it
        "celery",  # Celery's own queue, and celeryev/celery.pidbox below
        "celeryev",
        "unacked",
        "q" * 65,
        "-leading-dash",
        "white space",
        "reports",  # a fine name, but not in JOBS_QUEUES
    ],
)
def test_a_queue_outside_the_allowed_list_is_refused(admin_client, queue):
    response = admin_client.post("/api/v1/jobs/", {**PYTHON, "queue": queue}, format="json")
    error = assert_error(response, 400, "invalid")
    assert "queue" in error["fields"]
    assert not Job.objects.filter(name="queued").exists()


def test_an_existing_job_cannot_be_moved_to_an_internal_key(admin_client, job):
    response = admin_client.patch(
        f"/api/v1/jobs/{job.name}/", {"queue": "_kombu.binding.jobs"}, format="json"
    )
    assert_error(response, 400)
    job.refresh_from_db()
    assert job.queue == ""
    assert not JobRun.objects.filter(job=job).exists()


def test_the_default_queue_and_configured_queues_are_accepted(admin_client, settings):
    settings.JOBS_QUEUES = ["jobs", "reports"]
    for i, queue in enumerate(["", "jobs", "reports"]):
        spec = {**PYTHON, "name": f"queued-{i}", "queue": queue}
        assert admin_client.post("/api/v1/jobs/", spec, format="json").status_code == 201


@pytest.mark.parametrize(
    "queue", ["celery", "celery.pidbox", "jobwarden-internal", "unacked_index"]
)
def test_without_a_list_any_well_formed_name_but_a_reserved_one_is_allowed(
    admin_client, settings, queue
):
    settings.JOBS_QUEUES = []
    assert admin_client.post("/api/v1/jobs/", {**PYTHON, "queue": "etl.nightly"}, format="json")
    assert Job.objects.filter(name="queued", queue="etl.nightly").exists()
    spec = {**PYTHON, "name": "reserved", "queue": queue}
    assert_error(admin_client.post("/api/v1/jobs/", spec, format="json"), 400)


@pytest.mark.parametrize("queues", [["jobs", "celery"], ["jobs", "jobwarden:runlog"]])
def test_a_configured_queue_that_is_an_internal_key_fails_the_start_up_check(settings, queues):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.JOBS_QUEUES = queues
    with pytest.raises(SystemCheckError, match=r"jobs\.E010"):
        call_command("check")
