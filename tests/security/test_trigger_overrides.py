"""Issue 12, item 4: people may override at trigger only the parameters a job
declares overridable (`overridable_parameters`; by default its plain
parameters), never secrets, query results, an HTTP URL's host/port or a
process job's cwd/executable."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from jobs.models import Job, JobRun
from tests.api.conftest import assert_error
from tests.factories import JobFactory
from tests.jobs.kinds_support import make_job

pytestmark = pytest.mark.django_db


def trigger(client, name: str, parameters: dict):
    return client.post(f"/api/v1/jobs/{name}/trigger/", {"parameters": parameters}, format="json")


def refused(response, parameter: str) -> None:
    error = assert_error(response, 400, "invalid")
    assert f"parameter {parameter!r} may not be overridden" in error["message"]
    assert error["fields"] == {f"parameters.{parameter}": "not overridable"}
    assert not JobRun.objects.exists()


@pytest.fixture
def http_job(db):
    return make_job(
        "http",
        {
            "url": "https://{host}:{port}/v1/report?day={day}",
            "auth": {"type": "bearer", "token": "tok-s3cret"},
        },
        save=True,
        name="push-report",
        parameters={"host": "api.example.com", "port": 443, "day": "2025-01-01"},
    )


@pytest.mark.parametrize("parameter", ["host", "port"])
def test_an_operator_cannot_repoint_an_http_jobs_host_or_port(operator_client, http_job, parameter):
    response = trigger(operator_client, "push-report", {parameter: "evil.example"})

    refused(response, parameter)
    assert "URL's host or port" in response.json()["error"]["message"]


def test_a_plain_parameter_of_the_same_job_may_be_overridden(operator_client, http_job):
    response = trigger(operator_client, "push-report", {"day": "2025-02-02"})

    assert response.status_code == 202, response.content
    assert response.json()["parameters"]["day"] == "2025-02-02"


def test_secret_parameters_cannot_be_overridden(operator_client):
    make_job(
        "python",
        {"secret_parameters": {"api_key": "k-123"}},
        save=True,
        name="billing",
        target="jobs.examples:report_progress",
        parameters={"steps": 2, "password": "plain-but-secret-looking"},
    )

    refused(trigger(operator_client, "billing", {"api_key": "mine"}), "api_key")
    refused(trigger(operator_client, "billing", {"password": "mine"}), "password")


def test_a_query_resolved_parameter_cannot_be_overridden(operator_client):
    JobFactory(
        name="regional",
        parameters={"steps": 1},
        parameter_queries=[{"name": "region", "query": "SELECT 'eu'", "database": "default"}],
    )

    refused(trigger(operator_client, "regional", {"region": "us"}), "region")


def test_a_process_jobs_working_directory_cannot_be_overridden(operator_client):
    make_job(
        "process",
        {"executable": "/bin/true", "cwd": "{workdir}"},
        save=True,
        name="cleanup",
        parameters={"workdir": "/srv/data", "days": 7},
    )

    refused(trigger(operator_client, "cleanup", {"workdir": "/"}), "workdir")
    assert trigger(operator_client, "cleanup", {"days": 3}).status_code == 202


def test_an_undeclared_parameter_is_refused_by_default(operator_client):
    JobFactory(name="report", parameters={"steps": 2})

    refused(trigger(operator_client, "report", {"anything": 1}), "anything")


def test_the_declaration_narrows_and_widens_what_may_be_overridden(operator_client):
    JobFactory(name="report", parameters={"steps": 2}, overridable_parameters=["today"])

    refused(trigger(operator_client, "report", {"steps": 9}), "steps")
    response = trigger(operator_client, "report", {"today": "2025-01-01"})
    assert response.status_code == 202, response.content


def test_an_owner_is_bound_like_an_operator(owner, owner_client, http_job):
    Job.objects.filter(pk=http_job.pk).update(owner=owner)

    refused(trigger(owner_client, "push-report", {"host": "evil.example"}), "host")


@pytest.mark.parametrize(
    ("declared", "reason"),
    [(["host"], "URL's host or port"), (["run_id"], "identifies the run")],
)
def test_declaring_a_protected_parameter_overridable_is_refused_at_save(
    admin_client, http_job, declared, reason
):
    response = admin_client.patch(
        "/api/v1/jobs/push-report/", {"overridable_parameters": declared}, format="json"
    )

    error = assert_error(response, 400, "invalid")
    assert "overridable_parameters" in error["fields"] and reason in error["message"]
    assert Job.objects.get(pk=http_job.pk).overridable_parameters is None


def test_the_field_is_in_the_job_json_the_cli_and_applies_back(admin_client, tmp_path, capsys):
    created = admin_client.post(
        "/api/v1/jobs/",
        {
            "name": "report",
            "target": "jobs.examples:report_progress",
            "parameters": {"steps": 2, "pause": 0},
            "overridable_parameters": ["steps"],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["overridable_parameters"] == ["steps"]

    call_command("jobs", "info", "report", "--json")
    exported = json.loads(capsys.readouterr().out)
    assert exported["overridable_parameters"] == ["steps"]
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps([exported]))
    call_command("jobs", "apply", str(path))
    assert "unchanged report" in capsys.readouterr().out
