"""The admin writes through the services: validated, audited, scheduled."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.actors import Actor
from jobs.models import AuditEvent, Job, JobRun
from jobs.services.jobs import job_create

pytestmark = pytest.mark.django_db

TARGET = "jobs.examples:report_progress"


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def make_job(name="report", **over):
    return job_create(
        {"name": name, "target": TARGET, "cron": "0 2 * * *", **over}, actor=Actor.system()
    )


def form_data(**over):
    data = {
        "name": "from-admin",
        "display_name": "",
        "description": "",
        "enabled": "on",
        "tags": "[]",
        "owner": "",
        "kind": "python",
        "target": TARGET,
        "config": "{}",
        "parameters": '{"steps": 2}',
        "parameter_queries": "[]",
        "cron": "*/10 * * * *",
        "timezone": "Europe/Prague",
        "run_at_0": "",
        "run_at_1": "",
        "queue": "",
        "priority": "5",
        "timeout": "600",
        "max_retries": "2",
        "retry_delay": "60",
        "retry_backoff": "2",
        "retry_jitter": "0.2",
        "retry_max_delay": "3600",
        "overlap": "skip",
        "auto_disable_after": "5",
        "expected_max_duration": "",
        "min_duration": "",
        "grace_time": "1800",
        "notify_on_failure": "on",
        "notify_on_duration_exceeds": "",
        "notification_emails": "[]",
        "notification_channels": "[]",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def test_job_list_shows_schedule_next_run_status_and_counts(admin_client):
    make_job(timezone="Europe/Prague")
    Job.objects.update(execution_count=4, success_count=3, failure_count=1, consecutive_failures=1)

    page = admin_client.get(reverse("admin:jobs_job_changelist")).content.decode()

    assert "At 02:00 (Europe/Prague)" in page
    for column in ("Next run at", "Status", "Execution count", "Consecutive failures"):
        assert column in page
    assert (
        admin_client.get(
            reverse("admin:jobs_job_changelist"), {"q": "report", "enabled__exact": "1"}
        ).status_code
        == 200
    )


def test_adding_a_job_goes_through_the_service(admin_client):
    response = admin_client.post(reverse("admin:jobs_job_add"), form_data())

    assert response.status_code == 302, response.content.decode()[:3000]
    job = Job.objects.get(name="from-admin")
    assert job.next_run_at is not None  # scheduled by schedule_sync
    event = AuditEvent.objects.get(action="job.create")
    assert (event.actor, event.source, event.job_name) == ("root", "admin", "from-admin")


def test_a_bad_cron_is_a_form_error_on_the_cron_field_and_saves_nothing(admin_client):
    response = admin_client.post(reverse("admin:jobs_job_add"), form_data(cron="61 * * * *"))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "invalid cron expression '61 * * * *'" in errors["cron"][0]
    assert not Job.objects.exists()


def test_an_unknown_zone_and_target_are_form_errors(admin_client):
    response = admin_client.post(
        reverse("admin:jobs_job_add"), form_data(timezone="Mars/Olympus", target="nowhere:fn")
    )

    errors = response.context["adminform"].form.errors
    assert "unknown time zone" in errors["timezone"][0]
    assert not Job.objects.exists()


def test_editing_a_job_updates_only_what_changed(admin_client):
    job = make_job()
    url = reverse("admin:jobs_job_change", args=[job.pk])
    data = form_data(
        name=None,
        cron="0 2 * * *",
        timezone="UTC",
        parameters="{}",
        max_retries="0",
        timeout="1200",
    )

    response = admin_client.post(url, {**data, "cron": "30 5 * * *"})

    assert response.status_code == 302, response.content.decode()[:3000]
    job.refresh_from_db()
    assert job.cron == "30 5 * * *"
    event = AuditEvent.objects.get(action="job.update")
    assert event.changes == {"cron": ["0 2 * * *", "30 5 * * *"]}
    assert event.source == "admin"


def test_deleting_a_job_goes_through_the_service(admin_client):
    job = make_job()

    response = admin_client.post(reverse("admin:jobs_job_delete", args=[job.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not Job.objects.exists()
    assert AuditEvent.objects.get(action="job.delete").actor == "root"


def action(client, name, jobs):
    return client.post(
        reverse("admin:jobs_job_changelist"),
        {"action": name, "_selected_action": [j.pk for j in jobs]},
        follow=True,
    )


def test_disable_and_enable_actions(admin_client):
    a, b = make_job("a"), make_job("b")

    action(admin_client, "disable_jobs", [a, b])

    assert list(Job.objects.values_list("enabled", flat=True)) == [False, False]
    assert Job.objects.get(name="a").disabled_reason == "disabled in the admin by root"
    assert AuditEvent.objects.filter(action="job.disable", source="admin").count() == 2

    action(admin_client, "enable_jobs", [a])

    assert Job.objects.get(name="a").enabled and not Job.objects.get(name="b").enabled


def test_trigger_now_queues_a_manual_run_and_reports_a_disabled_job(admin_client):
    a, b = make_job("a"), make_job("b", enabled=False)

    response = action(admin_client, "trigger_now", [a, b])

    run = JobRun.objects.get()
    assert (run.job.name, run.trigger, run.triggered_by) == ("a", "manual", "root")
    page = response.content.decode()
    assert "Queued a run of: a" in page
    assert "is disabled" in page


def test_runs_are_read_only_filterable_and_show_output_and_traceback(admin_client):
    job = make_job()
    run = JobRun.objects.create(
        job=job, trigger="manual", status="failed", output="line one", traceback="Traceback: boom"
    )

    listing = admin_client.get(
        reverse("admin:jobs_jobrun_changelist"),
        {"status__exact": "failed", "trigger__exact": "manual", "job__id__exact": job.pk},
    )
    detail = admin_client.get(reverse("admin:jobs_jobrun_change", args=[run.pk])).content.decode()

    assert listing.status_code == 200 and str(run.pk) in listing.content.decode()
    assert "line one" in detail and "Traceback: boom" in detail
    assert admin_client.get(reverse("admin:jobs_jobrun_add")).status_code == 403


def test_the_audit_trail_cannot_be_added_changed_or_deleted(admin_client):
    make_job()
    event = AuditEvent.objects.get()

    assert admin_client.get(reverse("admin:jobs_auditevent_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:jobs_auditevent_add")).status_code == 403
    assert (
        admin_client.post(
            reverse("admin:jobs_auditevent_delete", args=[event.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert AuditEvent.objects.count() == 1


def test_a_staff_user_without_the_execution_permission_cannot_add_a_process_job(
    client, django_user_model
):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_job", "view_job", "change_job"])
    )
    client.force_login(user)

    response = client.post(
        reverse("admin:jobs_job_add"),
        form_data(kind="process", target="", config='{"command": ["/bin/true"]}'),
    )

    assert response.status_code == 200
    assert "manage_execution_jobs" in response.content.decode()
    assert not Job.objects.exists()


def test_a_staff_user_without_the_execution_permission_cannot_add_parameter_queries(
    client, django_user_model, settings
):
    from django.contrib.auth.models import Permission

    settings.JOBS_SQL_ALLOWED_DATABASES = ["default"]
    job = make_job()
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_job", "view_job", "change_job"])
    )
    client.force_login(user)
    queries = '[{"name": "X", "query": "SELECT 1", "database": "default"}]'

    response = client.post(
        reverse("admin:jobs_job_change", args=[job.pk]),
        form_data(name="report", cron="0 2 * * *", parameter_queries=queries),
    )

    assert response.status_code == 200  # the form again, with the error on the field
    assert "needs manage_execution_jobs" in response.content.decode()
    assert Job.objects.get(pk=job.pk).parameter_queries == []
