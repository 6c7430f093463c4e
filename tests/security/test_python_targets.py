"""Issue 12, item 1: a python job's `target` may name only a function trusted
code registered (@job, @runnable) or a module under JOBS_PYTHON_ALLOWED_TARGETS;
a result is JSON or the run fails; owning a job grants no execution rights;
the execution permission fails closed."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.urls import reverse

from jobs.actors import Actor
from jobs.errors import Forbidden
from jobs.execution.context import PermanentFailure
from jobs.execution.kinds.python import PythonKind
from jobs.models import AuditEvent, Job
from jobs.services.jobs import job_create
from tests.api.conftest import assert_error
from tests.factories import JobFactory
from tests.jobs.kinds_support import make_ctx

pytestmark = pytest.mark.django_db

REGISTERED = "jobs.examples:report_progress"  # @runnable, found by discovery
ALLOWED_ONLY = "tests.security.allowed:returns_json"  # only under the settings' prefix
HOSTILE = [
    "os:environ.copy",
    "rest_framework.authtoken.models:Token.objects.values_list",
    "jobs.execution.kinds.process:handler.execute",
    "tests.jobs.sample_jobs:os.environ.copy",  # an allowed module's import, not its code
    "tests.jobs.sample_jobs:Path",  # a class it imported
    "tests.security.never_imported:run",
]


def spec(target: str, **over) -> dict:
    return {"name": "pwn", "kind": "python", "target": target, **over}


@pytest.mark.parametrize("target", HOSTILE)
def test_an_arbitrary_callable_is_refused_at_save_naming_the_target(executor_client, target):
    response = executor_client.post("/api/v1/jobs/", spec(target), format="json")

    error = assert_error(response, 400, "invalid")
    assert "target" in error["fields"] and "\n" not in error["message"]
    assert not Job.objects.exists()


def test_saving_a_hostile_target_never_imports_its_module(executor_client):
    sys.modules.pop("tests.security.never_imported", None)

    response = executor_client.post(
        "/api/v1/jobs/", spec("tests.security.never_imported:run"), format="json"
    )

    assert_error(response, 400, "invalid")

    assert "tests.security.never_imported" not in sys.modules


def test_a_patch_cannot_repoint_a_job_at_an_arbitrary_callable(executor_client):
    JobFactory(name="report", target=REGISTERED)

    response = executor_client.patch(
        "/api/v1/jobs/report/", {"target": "os:environ.copy"}, format="json"
    )

    assert_error(response, 400, "invalid")
    assert Job.objects.get(name="report").target == REGISTERED


def test_the_admin_form_refuses_an_arbitrary_callable(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "pw"))
    data = {
        "name": "pwn",
        "kind": "python",
        "target": "os:environ.copy",
        "config": "{}",
        "parameters": "{}",
        "parameter_queries": "[]",
        "tags": "[]",
        "notification_emails": "[]",
        "notification_channels": "[]",
        "timezone": "UTC",
        "priority": "5",
        "timeout": "60",
        "max_retries": "0",
        "retry_delay": "60",
        "retry_backoff": "2",
        "retry_jitter": "0.2",
        "retry_max_delay": "3600",
        "overlap": "skip",
        "auto_disable_after": "5",
        "grace_time": "1800",
    }

    response = client.post(reverse("admin:jobs_job_add"), data)

    assert (
        "is not a registered job function" in response.context["adminform"].form.errors["target"][0]
    )
    assert not Job.objects.exists()


def test_jobs_apply_refuses_an_arbitrary_callable_in_one_line(tmp_path):
    path = tmp_path / "jobs.yaml"
    path.write_text("- name: pwn\n  target: os:environ.copy\n")

    with pytest.raises(CommandError) as info:
        call_command("jobs", "apply", str(path))

    assert "job 'pwn': target 'os:environ.copy' is not a registered job function" in str(info.value)
    assert "\n" not in str(info.value) and not Job.objects.exists()


@override_settings(JOBS_PYTHON_ALLOWED_TARGETS=[])
def test_no_module_is_allowed_by_default_only_registered_functions(executor_client):
    refused = executor_client.post("/api/v1/jobs/", spec(ALLOWED_ONLY), format="json")
    assert_error(refused, 400, "invalid")
    ok = executor_client.post("/api/v1/jobs/", spec(REGISTERED), format="json")
    assert ok.status_code == 201, ok.content


# --- who may choose a target ------------------------------------------------------


def test_an_admin_without_execution_rights_may_choose_only_registered_targets(
    admin_client, executor_client
):
    refused = admin_client.post("/api/v1/jobs/", spec(ALLOWED_ONLY), format="json")
    error = assert_error(refused, 403, "forbidden")
    assert error["fields"] == {"target": "needs manage_execution_jobs"}
    assert_error(admin_client.post("/api/v1/jobs/", spec("os:environ.copy"), format="json"), 403)

    assert admin_client.post("/api/v1/jobs/", spec(REGISTERED), format="json").status_code == 201
    assert (
        executor_client.post(
            "/api/v1/jobs/", spec(ALLOWED_ONLY, name="trusted"), format="json"
        ).status_code
        == 201
    )


def test_an_admin_without_execution_rights_cannot_repoint_a_job_but_may_edit_it(admin_client):
    JobFactory(name="report", target=ALLOWED_ONLY)

    assert_error(
        admin_client.patch(
            "/api/v1/jobs/report/",
            {"target": "tests.security.allowed:returns_a_set"},
            format="json",
        ),
        403,
    )
    # The target set by someone trusted with it stays; other fields may change.
    ok = admin_client.patch("/api/v1/jobs/report/", {"description": "nightly"}, format="json")
    assert ok.status_code == 200, ok.content


def test_the_admin_form_refuses_an_unregistered_target_without_execution_rights(client):
    from tests.monitoring.history import user_with_role

    staff = user_with_role("admin", "adele", is_staff=True)
    client.force_login(staff)
    job = JobFactory(name="report", target=REGISTERED)
    response = client.post(
        reverse("admin:jobs_job_change", args=[job.pk]),
        {**_form_of(job), "target": ALLOWED_ONLY},
    )

    errors = response.context["adminform"].form.errors
    assert "needs manage_execution_jobs" in errors["target"][0]
    assert Job.objects.get(pk=job.pk).target == REGISTERED


def _form_of(job: Job) -> dict:
    return {
        "name": job.name,
        "kind": job.kind,
        "target": job.target,
        "config": "{}",
        "parameters": "{}",
        "parameter_queries": "[]",
        "tags": "[]",
        "notification_emails": "[]",
        "notification_channels": "[]",
        "timezone": job.timezone,
        "cron": job.cron,
        "priority": job.priority,
        "timeout": job.timeout,
        "max_retries": job.max_retries,
        "retry_delay": job.retry_delay,
        "retry_backoff": job.retry_backoff,
        "retry_jitter": job.retry_jitter,
        "retry_max_delay": job.retry_max_delay,
        "overlap": job.overlap,
        "auto_disable_after": job.auto_disable_after,
        "grace_time": job.grace_time,
        "enabled": "on",
    }


# --- owners -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"target": "jobs.examples:always_fails"},
        {"kind": "http", "config": {"url": "https://example.com/"}},
        {"config": {"secret_parameters": {"x": "y"}}},
        {"parameters": {"steps": 1000}},
        {"parameter_queries": [{"name": "n", "query": "SELECT 1", "database": "default"}]},
        {"overridable_parameters": ["steps"]},
        {"queue": "jobs"},
        {"timeout": 3600},
        {"owner": "vera"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_a_viewer_owner_cannot_change_what_runs(owner, owner_client, change):
    from tests.monitoring.history import user_with_role

    user_with_role("viewer", "vera")
    JobFactory(name="mine", target=REGISTERED, owner=owner, parameters={"steps": 2})

    response = owner_client.patch("/api/v1/jobs/mine/", change, format="json")

    error = assert_error(response, 403, "forbidden")
    assert next(iter(change)) in error["fields"], error
    assert not AuditEvent.objects.filter(action="job.update").exists()


def test_a_viewer_owner_may_describe_schedule_and_operate_their_job(owner, owner_client):
    JobFactory(name="mine", target=REGISTERED, owner=owner, parameters={"steps": 2})

    edit = owner_client.patch(
        "/api/v1/jobs/mine/",
        {"description": "mine", "cron": "0 4 * * *", "notify_on_success": True, "tags": ["a"]},
        format="json",
    )
    assert edit.status_code == 200, edit.content
    assert owner_client.post("/api/v1/jobs/mine/disable/", {}, format="json").status_code == 200
    assert owner_client.post("/api/v1/jobs/mine/enable/", {}, format="json").status_code == 200
    run = owner_client.post("/api/v1/jobs/mine/trigger/", {}, format="json")
    assert run.status_code == 202, run.content
    assert owner_client.post(f"/api/v1/runs/{run.json()['id']}/cancel/").status_code == 200


# --- the permission check fails closed ---------------------------------------------


def test_an_anonymous_actor_is_not_trusted_with_execution_jobs():
    anonymous = Actor.for_user(AnonymousUser(), "api")
    process = {"name": "p", "kind": "process", "config": {"executable": "/bin/true"}}

    with pytest.raises(Forbidden, match="manage_execution_jobs"):
        job_create(process, actor=anonymous)
    with pytest.raises(Forbidden, match="manage_execution_jobs"):
        job_create(spec(ALLOWED_ONLY), actor=anonymous)
    assert not Job.objects.exists()


# --- the worker refuses too, and stores only JSON ------------------------------------


def test_the_worker_refuses_a_target_saved_around_the_rules():
    job = JobFactory(name="legacy", target="os:environ.copy")  # e.g. a row from before the fix

    with pytest.raises(PermanentFailure, match="is not a registered job function"):
        PythonKind().execute(make_ctx(job))


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("tests.security.allowed:leak_environment", "must return JSON .* got a _Environ"),
        ("tests.security.allowed:returns_a_set", "got a set"),
        ("tests.security.allowed:returns_too_much", "more than JOBS_RESULT_MAX_BYTES"),
    ],
)
def test_a_result_that_is_not_bounded_json_fails_the_run(target, message):
    with pytest.raises(PermanentFailure, match=message):
        PythonKind().execute(make_ctx(JobFactory(target=target)))


def test_a_json_result_is_kept_as_is():
    job = JobFactory(target="tests.security.allowed:returns_json")
    assert PythonKind().execute(make_ctx(job)) == {"ok": [1, 2.5, "three", None, True]}


def test_dates_in_a_result_are_stored_as_iso_text():
    job = JobFactory(target="tests.security.allowed:returns_parameters")
    ctx = make_ctx(job, {"today": date(2025, 1, 31), "at": datetime(2025, 1, 31, 2, tzinfo=UTC)})

    assert PythonKind().execute(ctx) == {
        "params": {"today": "2025-01-31", "at": "2025-01-31T02:00:00Z"}
    }
