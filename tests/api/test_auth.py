"""Authentication, roles and CSRF across every endpoint."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from jobs.actors import Actor
from monitoring.tokens import token_create
from tests.api.conftest import assert_error
from tests.monitoring.history import user_with_role

RUN = str(uuid.uuid4())
READS = [
    "/api/v1/jobs/",
    "/api/v1/jobs/nightly-report/",
    "/api/v1/jobs/nightly-report/runs/",
    "/api/v1/jobs/nightly-report/stats/",
    "/api/v1/jobs/nightly-report/health/",
    "/api/v1/jobs/nightly-report/schedule/",
    "/api/v1/runs/",
    f"/api/v1/runs/{RUN}/",
    "/api/v1/health/",
    "/api/v1/status/",
    "/api/v1/audit/",
]
OPERATE = [
    "/api/v1/jobs/nightly-report/enable/",
    "/api/v1/jobs/nightly-report/disable/",
    "/api/v1/jobs/nightly-report/trigger/",
    "/api/v1/jobs/nightly-report/retry/",
    "/api/v1/jobs/nightly-report/reset-health/",
    f"/api/v1/runs/{RUN}/cancel/",
]


@pytest.mark.parametrize("url", READS)
def test_anonymous_gets_401_on_reads(anon_client, job, url):
    response = anon_client.get(url)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Token")


@pytest.mark.parametrize("url", [*OPERATE, "/api/v1/jobs/", "/api/v1/runs/cleanup/"])
def test_anonymous_gets_401_on_writes(anon_client, job, url):
    assert_error(anon_client.post(url, {}, format="json"), 401)


@pytest.mark.parametrize("method", ["patch", "delete"])
def test_anonymous_cannot_change_a_job(anon_client, job, method):
    assert_error(getattr(anon_client, method)("/api/v1/jobs/nightly-report/"), 401)


@pytest.mark.parametrize("url", READS)
def test_outsider_without_a_role_gets_403(outsider_client, job, url):
    assert_error(outsider_client.get(url), 403, "forbidden")


@pytest.mark.parametrize("url", READS)
def test_viewer_reads_everything(viewer_client, job, url):
    response = viewer_client.get(url)
    assert response.status_code in (200, 404), response.content  # 404: the random run id
    if url != f"/api/v1/runs/{RUN}/":
        assert response.status_code == 200


@pytest.mark.parametrize("url", OPERATE)
def test_viewer_cannot_operate(viewer_client, job, url):
    status = viewer_client.post(url, {}, format="json").status_code
    assert status in (403, 404)  # 404 only for the unknown run id
    if "runs" not in url:
        assert status == 403


def test_schema_and_docs_are_public(anon_client):
    schema = anon_client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    assert anon_client.get("/api/v1/docs/").status_code == 200


def test_token_authentication(job):
    user = user_with_role("viewer", "tok")
    key = token_create(user.username, actor=Actor.system()).key
    client = APIClient()
    assert client.get("/api/v1/jobs/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    assert_error(
        client.get("/api/v1/jobs/", HTTP_AUTHORIZATION="Token wrong"), 401, "authentication_failed"
    )


def test_session_writes_need_a_csrf_token(job):
    user = user_with_role("operator", "sess")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)  # the session, not the login form, is what is tested
    assert client.get("/api/v1/jobs/").status_code == 200  # reads need no token
    refused = client.post("/api/v1/jobs/nightly-report/disable/", {"reason": "x"}, format="json")
    err = assert_error(refused, 403, "forbidden")
    assert "CSRF" in err["message"]
    client.get("/admin/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    ok = client.post(
        "/api/v1/jobs/nightly-report/disable/",
        {"reason": "x"},
        format="json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert ok.status_code == 200, ok.content


def test_roles_are_groups_with_the_expected_permissions(db):
    perms = {
        g.name: set(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()
    }
    assert {"view_job", "view_jobrun", "view_auditevent"} <= perms["viewer"]
    assert "trigger_job" not in perms["viewer"]
    assert perms["viewer"] | {"trigger_job"} <= perms["operator"]
    assert "add_job" not in perms["operator"]
    assert {"add_job", "change_job", "delete_job", "trigger_job"} <= perms["admin"]
    assert "manage_execution_jobs" not in perms["admin"]  # process/SQL keep their own permission
