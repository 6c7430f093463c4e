"""Issue 12 item 12: secrets a job keeps in clear (credential-named default
parameters, URL userinfo and credential query values) and a python job's
`config.connection` are masked on every read -- job JSON, audit, `jobs info`,
the admin form -- and a masked read saved back never overwrites the secret."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from jobs.admin import JobAdminForm
from jobs.models import AuditEvent, Job
from jobs.secrets import MASK, open_config
from tests.api.conftest import _client
from tests.monitoring.history import user_with_role

pytestmark = pytest.mark.django_db

TARGET = "jobs.examples:report_progress"
TOKEN = "tok-9f8e7d6c5b4a"
PASSWORD = "pw-s3cr3t-value"
QS_TOKEN = "qs-token-1234abcd"
SIG = "sig-abcdef123456"
DSN = "postgresql://report:dsn-pass-777@db.internal/reports"
SECRETS = (TOKEN, PASSWORD, QS_TOKEN, SIG, "dsn-pass-777")
CALLBACK = f"https://bot:{PASSWORD}@hooks.example.com/in?token={QS_TOKEN}&sig={SIG}&page=2"
PARAMETERS = {"api_token": TOKEN, "region": "eu", "callback": CALLBACK, "db": {"password": TOKEN}}


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, text


@pytest.fixture
def admin():
    # config.connection decides which database the job reaches: setting it
    # needs manage_execution_jobs besides the admin role (issue 12, item 17).
    from django.contrib.auth.models import Permission

    user = user_with_role("admin", "alice")
    user.user_permissions.add(Permission.objects.get(codename="manage_execution_jobs"))
    return _client(user)


@pytest.fixture
def job(admin):
    body = {
        "name": "report",
        "target": TARGET,
        "parameters": PARAMETERS,
        "config": {"connection": DSN},
    }
    created = admin.post("/api/v1/jobs/", body, format="json")
    assert created.status_code == 201, created.content
    return Job.objects.get(name="report")


def test_viewer_reads_the_job_json_with_secrets_masked(job):
    shown = _client(user_with_role("viewer", "vera")).get("/api/v1/jobs/report/").json()

    _assert_no_secret(json.dumps(shown))
    assert shown["parameters"]["api_token"] == MASK and shown["parameters"]["region"] == "eu"
    assert shown["parameters"]["db"] == {"password": MASK}
    assert shown["parameters"]["callback"] == (
        f"https://bot:{MASK}@hooks.example.com/in?token={MASK}&sig={MASK}&page=2"
    )
    assert shown["config"] == {"connection": MASK}


def test_python_config_connection_is_sealed_not_stored_in_clear(job):
    assert job.config == {"connection": MASK}
    assert "dsn-pass-777" not in job.secrets


def test_audit_record_masks_parameters_and_url_credentials(job, admin):
    admin.patch(
        "/api/v1/jobs/report/",
        {"parameters": {**PARAMETERS, "api_token": "tok-new-0000000"}},
        format="json",
    )

    changes = json.dumps(list(AuditEvent.objects.filter(job_name="report").values("changes")))
    _assert_no_secret(changes)
    assert "tok-new-0000000" not in changes
    assert AuditEvent.objects.filter(action="job.update").exists()  # the change was recorded


def test_patch_echoing_the_masked_json_keeps_every_secret(job, admin):
    shown = admin.get("/api/v1/jobs/report/").json()
    patched = admin.patch(
        "/api/v1/jobs/report/",
        {
            "parameters": {**shown["parameters"], "region": "us"},
            "config": shown["config"],
            "description": "edited",
        },
        format="json",
    )

    assert patched.status_code == 200, patched.content
    job.refresh_from_db()
    assert job.parameters == {**PARAMETERS, "region": "us"}
    assert job.description == "edited"
    assert open_config(job) == {"connection": DSN}


def test_patch_may_change_the_clear_part_of_a_masked_url(job, admin):
    shown = admin.get("/api/v1/jobs/report/").json()
    moved = shown["parameters"]["callback"].replace("page=2", "page=3")
    admin.patch(
        "/api/v1/jobs/report/",
        {"parameters": {**shown["parameters"], "callback": moved}},
        format="json",
    )

    job.refresh_from_db()
    assert job.parameters["callback"] == CALLBACK.replace("page=2", "page=3")


def test_jobs_info_masks_parameters_and_connection(job):
    for args in ([], ["--json"]):
        out = StringIO()
        call_command("jobs", "info", "report", *args, stdout=out)
        _assert_no_secret(out.getvalue())
        assert MASK in out.getvalue()


def test_http_job_url_credentials_are_masked(admin, settings):
    url = f"https://svc:{PASSWORD}@api.example.com/v1/export?api_key={QS_TOKEN}&format=csv"
    created = admin.post(
        "/api/v1/jobs/",
        {"name": "export", "kind": "http", "config": {"url": url}},
        format="json",
    )
    assert created.status_code == 201, created.content

    _assert_no_secret(json.dumps(created.json()))
    assert created.json()["config"]["url"] == (
        f"https://svc:{MASK}@api.example.com/v1/export?api_key={MASK}&format=csv"
    )
    _assert_no_secret(json.dumps(list(AuditEvent.objects.values("changes"))))


def test_admin_form_shows_masks_and_saving_it_unchanged_keeps_the_secrets(job, client):
    client.force_login(user_with_role("admin", "root", is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:jobs_job_change", args=[job.pk])).content.decode()
    _assert_no_secret(page)

    # Post back what the form showed, with one visible change.
    data = {
        k: ("" if v is None else v)
        for k, v in JobAdminForm(instance=job).initial.items()
        if k in JobAdminForm.base_fields
    }
    data.update(
        config=json.dumps(data["config"]),
        parameters=json.dumps(data["parameters"]),
        parameter_queries=json.dumps(data["parameter_queries"]),
        tags=json.dumps(data["tags"]),
        description="from the admin",
        owner="",
    )
    data = {k: v for k, v in data.items() if not isinstance(v, bool) or v}  # unticked boxes
    response = client.post(reverse("admin:jobs_job_change", args=[job.pk]), data)

    assert response.status_code == 302, response.content.decode()[:3000]
    job.refresh_from_db()
    assert job.description == "from the admin"
    assert job.parameters == PARAMETERS


def test_http_run_record_does_not_show_the_url_credentials(settings):
    from jobs.execution.kinds import get_kind
    from tests.jobs.kinds_support import http_server, make_ctx, make_job

    settings.JOBS_HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with http_server(lambda r: (500, {}, r.path.encode())) as srv:  # echoes the query
        url = srv.url(f"/export?api_key={QS_TOKEN}&format=csv")
        ctx = make_ctx(make_job("http", {"url": url}))
        with pytest.raises(Exception) as failure:
            get_kind("http").execute(ctx)

    assert srv.requests[0].path.endswith(f"api_key={QS_TOKEN}&format=csv")  # really sent
    _assert_no_secret(str(failure.value) + json.dumps(ctx.metadata) + ctx.output.getvalue())
