"""Seed 000's "retry failed job" and the operator's repairs through every door:
`manage.py jobs retry | reset-health | delete | run --run-timeout`, the admin's
retry action, and the API's retry and trigger `timeout`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.urls import reverse

from jobs.actors import Actor
from jobs.models import AuditEvent, Job, JobRun
from jobs.services.jobs import job_disable
from tests.api.conftest import _client
from tests.conftest import wait_until
from tests.factories import JobFactory
from tests.monitoring.history import add_runs, set_live_state, user_with_role

pytestmark = pytest.mark.django_db


def failing_job(name="etl", **kw):
    """A job whose last five runs failed; the latest with override x=1."""
    job = JobFactory(name=name, parameters={"x": 0, "y": "d"}, **kw)
    now = datetime.now(UTC)
    runs = add_runs(
        job,
        [
            {"at": now - timedelta(minutes=10 - i), "status": "failed", "duration": 1}
            for i in range(5)
        ],
    )
    set_live_state(job, runs)
    JobRun.objects.filter(pk=runs[-1].pk).update(metadata={"overrides": {"x": 1}})
    job.refresh_from_db()
    return job, runs[-1]


def auto_disable(job):
    job_disable(
        job.name,
        actor=Actor.system(),
        reason="auto-disabled after 5 consecutive failures (last: boom)",
        action="job.auto_disable",
    )


def jobs_cmd(capsys, *args):
    call_command("jobs", *args)
    return capsys.readouterr().out


def actions_by(actor):
    return sorted(AuditEvent.objects.filter(actor=actor).values_list("action", flat=True))


# --- retry --------------------------------------------------------------------


def test_cli_retry_resets_health_reenables_an_auto_disabled_job_and_reruns_its_parameters(
    capsys,
):
    job, failed = failing_job()
    auto_disable(job)

    out = jobs_cmd(capsys, "retry", "etl", "--reason", "dns fixed")

    job.refresh_from_db()
    assert job.enabled and job.consecutive_failures == 0 and job.last_error == ""
    run = JobRun.objects.filter(status="queued").get()
    assert (run.trigger, run.parameters) == ("cli", {"x": 1, "y": "d"})
    assert run.reason == f"retry of run {failed.pk}: dns fixed"
    assert f"queued run {run.id} of etl" in out
    cli = Actor.cli().name
    assert actions_by(cli) == ["health.reset", "job.enable", "run.trigger"]


def test_cli_retry_of_a_job_a_person_disabled_is_refused_and_changes_nothing(capsys):
    job, _ = failing_job()
    job_disable("etl", actor=Actor(name="ann", source="api"), reason="broken upstream")
    before = AuditEvent.objects.count()

    with pytest.raises(CommandError, match="is disabled \\(broken upstream\\)"):
        call_command("jobs", "retry", "etl")

    job.refresh_from_db()
    assert not job.enabled and job.consecutive_failures == 5
    assert not JobRun.objects.filter(status="queued").exists()
    assert AuditEvent.objects.count() == before


def test_cli_retry_without_a_failed_run_is_one_line():
    JobFactory(name="fine")
    with pytest.raises(CommandError, match="^job 'fine' has no failed run to retry$"):
        call_command("jobs", "retry", "fine")


def test_api_retry_reenables_an_auto_disabled_job_too():
    job, _ = failing_job()
    auto_disable(job)

    response = _client(user_with_role("operator", "oscar")).post(
        "/api/v1/jobs/etl/retry/", {}, format="json"
    )

    assert response.status_code == 202, response.content
    job.refresh_from_db()
    assert job.enabled and job.consecutive_failures == 0
    assert actions_by("oscar") == ["health.reset", "job.enable", "run.trigger"]


def test_admin_retry_action_needs_the_trigger_permission(client, django_user_model):
    job, _ = failing_job()
    auto_disable(job)
    url = reverse("admin:jobs_job_changelist")
    form = {"action": "retry_failed", "_selected_action": [job.pk]}
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_job"))
    client.force_login(staff)

    client.post(url, form, follow=True)
    assert not JobRun.objects.filter(status="queued").exists()

    staff.user_permissions.add(Permission.objects.get(codename="trigger_job"))
    page = client.post(url, form, follow=True).content.decode()

    assert "Retried the last failed run of: etl" in page
    job.refresh_from_db()
    assert job.enabled and job.consecutive_failures == 0
    run = JobRun.objects.get(status="queued")
    assert (run.trigger, run.triggered_by) == ("manual", "staff")
    assert actions_by("staff") == ["health.reset", "job.enable", "run.trigger"]


# --- reset-health and delete ----------------------------------------------------


def test_cli_reset_health_clears_failures_and_is_audited(capsys):
    job, _ = failing_job()

    out = jobs_cmd(capsys, "reset-health", "etl", "--reason", "handled")

    job.refresh_from_db()
    assert job.consecutive_failures == 0 and job.last_error == ""
    assert out.startswith("health of 'etl' reset:")
    event = AuditEvent.objects.get(action="health.reset")
    assert (event.source, event.reason) == ("cli", "handled")


def test_cli_delete_needs_yes_then_deletes_and_audits(capsys):
    JobFactory(name="old")
    with pytest.raises(CommandError, match="add --yes to confirm"):
        call_command("jobs", "delete", "old")
    assert Job.objects.filter(name="old").exists()

    assert jobs_cmd(capsys, "delete", "old", "--yes", "--reason", "obsolete") == (
        "job 'old' deleted\n"
    )

    assert not Job.objects.filter(name="old").exists()
    event = AuditEvent.objects.get(action="job.delete")
    assert (event.source, event.reason) == ("cli", "obsolete")


def test_a_job_still_defined_in_code_is_not_deleted_by_cli_or_api():
    JobFactory(name="coded", source="code")

    with pytest.raises(CommandError, match="is defined in code"):
        call_command("jobs", "delete", "coded", "--yes")
    response = _client(user_with_role("admin", "alice")).delete("/api/v1/jobs/coded/")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "defined_in_code"
    assert Job.objects.filter(name="coded").exists()
    assert not AuditEvent.objects.filter(action="job.delete").exists()


def test_a_job_retired_from_code_may_be_deleted(capsys):
    JobFactory(name="gone", source="code")
    job_disable("gone", actor=Actor.system(), reason="removed from code")

    jobs_cmd(capsys, "delete", "gone", "--yes")

    assert not Job.objects.filter(name="gone").exists()


# --- per-run timeout -------------------------------------------------------------


def test_cli_run_timeout_is_recorded_on_the_run(capsys):
    JobFactory(name="slow", timeout=600)

    jobs_cmd(capsys, "run", "slow", "--run-timeout", "90s")

    assert JobRun.objects.get().metadata["timeout"] == 90


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("601", "between 1s and the job's own timeout \\(600s\\), got 601s"),
        ("1h", "got 3600s"),
        ("0", "got 0s"),
        ("soon", "is not a duration"),
    ],
)
def test_cli_run_timeout_beyond_the_job_s_own_is_one_line_and_saves_nothing(value, message):
    JobFactory(name="slow", timeout=600)
    with pytest.raises(CommandError, match=message):
        call_command("jobs", "run", "slow", "--run-timeout", value)
    assert not JobRun.objects.exists()
    assert not AuditEvent.objects.exists()


def test_api_trigger_timeout_is_bounded_by_the_job_s_and_recorded():
    JobFactory(name="slow", timeout=600)
    client = _client(user_with_role("operator", "oscar"))

    refused = client.post("/api/v1/jobs/slow/trigger/", {"timeout": 601}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {"timeout": "out of range"}
    assert not JobRun.objects.exists()

    accepted = client.post("/api/v1/jobs/slow/trigger/", {"timeout": "5m"}, format="json")
    assert accepted.status_code == 202
    assert JobRun.objects.get().metadata["timeout"] == 300


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_short_run_timeout_times_the_run_out_though_the_job_s_is_long(start_worker, capsys):
    start_worker()
    JobFactory(name="nap", target="tests.jobs.sample_jobs:sleep", timeout=600)

    call_command("jobs", "run", "nap", "--param", "seconds=30", "--run-timeout", "1")

    run_id = JobRun.objects.get().pk
    run = wait_until(
        lambda: JobRun.objects.filter(pk=run_id, status="timed_out").first(),
        timeout=30,
        message="the run to time out",
    )
    assert "timed out after 1s" in run.error
    assert run.duration_ms < 5000


def test_a_run_timeout_holds_for_its_retries_and_never_exceeds_the_job_s(capsys):
    from django.utils import timezone

    from jobs.services.runs import create_retry, run_timeout

    job = JobFactory(name="slow", timeout=600, max_retries=2)
    jobs_cmd(capsys, "run", "slow", "--run-timeout", "90")
    first = JobRun.objects.get()

    retry, _ = create_retry(first, job, None, timezone.now(), "boom")

    assert retry.metadata["timeout"] == 90 and run_timeout(retry, job) == 90
    job.timeout = 30  # shortened after the run was queued
    assert run_timeout(retry, job) == 30
