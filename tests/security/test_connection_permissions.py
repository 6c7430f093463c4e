"""Issue 12, item 17: what decides against which database a job's SQL runs
(`config.connections`, used by its parameter queries) needs
jobs.manage_execution_jobs, like the queries themselves."""

from __future__ import annotations

import pytest

from jobs.models import Job
from jobs.secrets import MASK, open_config
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db

WAREHOUSE = "DRIVER={PostgreSQL Unicode};SERVER=10.0.0.5;PORT=5432;UID=reader;DATABASE=dw"
ELSEWHERE = "DRIVER={PostgreSQL Unicode};SERVER=10.9.9.9;PORT=5432;UID=admin;DATABASE=prod"


@pytest.fixture
def queried_job(executor_client):
    response = executor_client.post(
        "/api/v1/jobs/",
        {
            "name": "regional",
            "target": "jobs.examples:report_progress",
            "config": {"connections": {"wh": WAREHOUSE}},
            "parameter_queries": [
                {"name": "region", "query": "SELECT region FROM r", "connection": "wh"}
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return Job.objects.get(name="regional")


def test_an_editor_without_execution_rights_cannot_repoint_a_query_connection(
    admin_client, queried_job
):
    response = admin_client.patch(
        "/api/v1/jobs/regional/",
        {"config": {"connections": {"wh": ELSEWHERE}}},
        format="json",
    )

    error = assert_error(response, 403, "forbidden")
    assert error["fields"] == {"config.connections": "needs manage_execution_jobs"}
    assert open_config(Job.objects.get(pk=queried_job.pk))["connections"]["wh"] == WAREHOUSE


def test_an_editor_cannot_add_a_connection_either(admin_client):
    response = admin_client.post(
        "/api/v1/jobs/",
        {
            "name": "sneaky",
            "target": "jobs.examples:report_progress",
            "config": {"connections": {"wh": ELSEWHERE}},
        },
        format="json",
    )

    assert_error(response, 403, "forbidden")
    assert not Job.objects.filter(name="sneaky").exists()


def test_an_editor_may_edit_other_fields_sending_the_masked_connection_back(
    admin_client, queried_job
):
    shown = admin_client.get("/api/v1/jobs/regional/").json()["config"]
    assert shown["connections"]["wh"] == MASK

    response = admin_client.patch(
        "/api/v1/jobs/regional/", {"config": shown, "description": "by region"}, format="json"
    )

    assert response.status_code == 200, response.content


def test_the_execution_permission_may_repoint_it(executor_client, queried_job):
    response = executor_client.patch(
        "/api/v1/jobs/regional/",
        {"config": {"connections": {"wh": ELSEWHERE}}},
        format="json",
    )

    assert response.status_code == 200, response.content
