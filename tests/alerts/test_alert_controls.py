"""Alert controls of issue 18 item 5: a job's own hourly notification limit,
alerts of one run, the auto-disable alert resolved on re-enable, and
escalation that progresses (time controlled with time-machine)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from alerts.models import Alert, Delivery, Notification
from alerts.services import alert_acknowledge, alert_raise, alerts_escalate, channel_create
from jobs.actors import Actor
from jobs.models import AuditEvent, Job
from jobs.services.jobs import job_create
from jobs.services.runs import maybe_auto_disable
from tests.factories import JobFactory, JobRunFactory, UserFactory

pytestmark = pytest.mark.django_db
ALICE = Actor(name="alice", source="cli")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TARGET = "jobs.examples:report_progress"


def client_for(role: str) -> APIClient:
    user = UserFactory(username=f"{role}-user")
    user.groups.add(Group.objects.get(name=role))
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def oncall(alert_settings):
    return channel_create(
        {
            "name": "oncall",
            "kind": "email",
            "config": {"recipients": ["oncall@example.com"]},
            "escalation": True,
        },
        actor=ALICE,
    )


def raise_distinct(job: Job, count: int) -> None:
    """`count` different problems of one job (one notification each)."""
    for i in range(count):
        alert_raise(
            type="system_error", severity="high", title=f"problem {i}", job=job, area=str(i)
        )


def sent_and_suppressed(job: Job) -> tuple[int, int]:
    rows = Notification.objects.filter(job_name=job.name)
    return rows.filter(suppressed=False).count(), rows.filter(suppressed=True).count()


# --- (a) max_alerts_per_hour ----------------------------------------------------


def test_job_max_alerts_per_hour_overrides_the_global_limit_both_ways(email_channel, settings):
    settings.ALERTS_MAX_PER_JOB_PER_HOUR = 3
    strict = job_create({"name": "strict", "target": TARGET, "max_alerts_per_hour": 1}, actor=ALICE)
    lenient = job_create(
        {"name": "lenient", "target": TARGET, "max_alerts_per_hour": 5}, actor=ALICE
    )
    default = job_create({"name": "default", "target": TARGET}, actor=ALICE)
    with time_machine.travel(T0, tick=False):
        for job in (strict, lenient, default):
            raise_distinct(job, 6)

    assert sent_and_suppressed(strict) == (1, 5)
    assert sent_and_suppressed(lenient) == (5, 1)
    assert sent_and_suppressed(default) == (3, 3)
    with time_machine.travel(T0 + timedelta(hours=1, minutes=1), tick=False):
        alert_raise(type="system_error", severity="high", title="later", job=strict, area="x")
    assert sent_and_suppressed(strict) == (2, 5)  # a new hour, a new slot


def test_max_alerts_per_hour_is_set_and_cleared_through_the_api(email_channel):
    operator = client_for("admin")
    created = operator.post(
        "/api/v1/jobs/",
        {"name": "api-job", "target": TARGET, "max_alerts_per_hour": 2},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["max_alerts_per_hour"] == 2
    cleared = operator.patch("/api/v1/jobs/api-job/", {"max_alerts_per_hour": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["max_alerts_per_hour"] is None
    assert Job.objects.get(name="api-job").max_alerts_per_hour is None


@pytest.mark.parametrize("bad", [0, -1, "many", 1.5, 10_001])
def test_bad_max_alerts_per_hour_is_a_400_naming_the_field_and_saves_nothing(bad):
    response = client_for("admin").patch(
        f"/api/v1/jobs/{JobFactory(name='kept', max_alerts_per_hour=4).name}/",
        {"max_alerts_per_hour": bad},
        format="json",
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert "max_alerts_per_hour" in error["message"] and "\n" not in error["message"]
    assert Job.objects.get(name="kept").max_alerts_per_hour == 4


def test_max_alerts_per_hour_in_admin_form_and_jobs_info_json(client, django_user_model, capsys):
    job_create({"name": "shown", "target": TARGET, "max_alerts_per_hour": 7}, actor=ALICE)
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "pw"))
    job = Job.objects.get(name="shown")
    page = client.get(reverse("admin:jobs_job_change", args=[job.pk])).content.decode()
    assert 'name="max_alerts_per_hour"' in page and 'value="7"' in page

    call_command("jobs", "info", "shown", "--json")
    assert json.loads(capsys.readouterr().out)["max_alerts_per_hour"] == 7


# --- (b) ?run=ID ------------------------------------------------------------------


def test_alert_list_filters_by_run(email_channel):
    job = JobFactory()
    first, second = JobRunFactory(job=job), JobRunFactory(job=job)
    failure = alert_raise(type="job_failure", severity="high", title="f", job=job, run=first)
    slow = alert_raise(type="duration_exceeded", severity="medium", title="s", job=job, run=first)
    other = alert_raise(
        type="job_failure", severity="high", title="o", job=JobFactory(), run=second
    )
    viewer = client_for("viewer")

    listing = viewer.get(f"/api/v1/alerts/?run={first.pk}").json()["results"]
    assert {a["id"] for a in listing} == {failure.pk, slow.pk}
    assert [a["id"] for a in viewer.get(f"/api/v1/alerts/?run={second.pk}").json()["results"]] == [
        other.pk
    ]
    assert viewer.get(f"/api/v1/alerts/?run={uuid.uuid4()}").json()["results"] == []


def test_alert_list_run_filter_refuses_a_malformed_id_with_a_400():
    response = client_for("viewer").get("/api/v1/alerts/?run=not-a-run")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"run": "invalid"}


# --- (c) re-enable resolves the auto-disable alert -------------------------------


def auto_disable(django_capture_on_commit_callbacks) -> tuple[Job, Alert]:
    job = JobFactory(name="flaky", auto_disable_after=2, consecutive_failures=2)
    with django_capture_on_commit_callbacks(execute=True):
        maybe_auto_disable(job, JobRunFactory(job=job, status="failed"), "boom")
    job.refresh_from_db()
    assert not job.enabled
    return job, Alert.objects.get(type="job_auto_disabled", job=job, status="open")


def enable_through_api(job: Job) -> None:
    response = client_for("admin").post(f"/api/v1/jobs/{job.name}/enable/", {}, format="json")
    assert response.status_code == 200, response.content


def enable_through_cli(job: Job) -> None:
    call_command("jobs", "enable", job.name)


def enable_through_spec(job: Job) -> None:
    response = client_for("admin").patch(
        f"/api/v1/jobs/{job.name}/", {"enabled": True}, format="json"
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("enable", [enable_through_api, enable_through_cli, enable_through_spec])
def test_reenabling_resolves_the_auto_disabled_alert_as_system(
    enable, django_capture_on_commit_callbacks
):
    job, alert = auto_disable(django_capture_on_commit_callbacks)
    failure = alert_raise(type="job_failure", severity="high", title="f", job=job)

    enable(job)

    alert.refresh_from_db()
    assert (alert.status, alert.resolved_by) == ("resolved", "system")
    assert alert.resolution_notes.startswith("Job re-enabled by ")
    assert AuditEvent.objects.filter(
        action="alert.resolve", actor="system", target=str(alert.pk)
    ).exists()
    failure.refresh_from_db()
    assert failure.status == "open"  # only the auto-disable alert is over


def test_enabling_an_enabled_job_or_disabling_leaves_alerts_alone():
    job = JobFactory(name="steady")
    alert = alert_raise(type="job_auto_disabled", severity="critical", title="old", job=job)
    call_command("jobs", "enable", job.name)  # already enabled: nothing happens
    call_command("jobs", "disable", job.name, "--reason", "maintenance")
    alert.refresh_from_db()
    assert alert.status == "open"


# --- (d) escalation that progresses -------------------------------------------------


def escalate_at(hours: float) -> int:
    with time_machine.travel(T0 + timedelta(hours=hours), tick=False):
        return alerts_escalate()


def test_unacknowledged_alert_escalates_again_at_doubling_intervals_up_to_critical(oncall):
    with time_machine.travel(T0, tick=False):
        alert = alert_raise(type="system_error", severity="high", title="disk full")

    # ALERTS_ESCALATE_AFTER = 2h, then 4h after that, then 8h: at 2h, 6h, 14h.
    steps = [(1.9, 0), (2.0, 1), (2.5, 0), (5.9, 0), (6.0, 1), (13.9, 0), (14.0, 1)]
    assert [escalate_at(h) for h, _ in steps] == [n for _, n in steps]

    alert.refresh_from_db()
    assert (alert.escalation_level, alert.severity) == (3, "critical")
    assert alert.escalated_at == T0 + timedelta(hours=14)
    changes = [
        e.changes
        for e in AuditEvent.objects.filter(action="alert.escalate", target=str(alert.pk)).order_by(
            "at", "id"
        )
    ]
    assert changes[0]["severity"] == ["high", "critical"]
    assert [c["escalation_level"] for c in changes] == [[0, 1], [1, 2], [2, 3]]
    assert "severity" not in changes[1]  # critical stays critical
    assert Delivery.objects.filter(alert=alert, channel=oncall).count() == 3


def test_escalation_stops_at_the_configured_maximum(oncall, settings):
    settings.ALERTS_ESCALATE_MAX_TIMES = 2
    with time_machine.travel(T0, tick=False):
        alert = alert_raise(type="system_error", severity="critical", title="db down")
    assert [escalate_at(h) for h in (2, 6, 14, 100)] == [1, 1, 0, 0]
    alert.refresh_from_db()
    assert alert.escalation_level == 2


def test_acknowledging_stops_further_escalation(oncall):
    with time_machine.travel(T0, tick=False):
        alert = alert_raise(type="system_error", severity="high", title="queue stuck")
    assert escalate_at(2) == 1
    with time_machine.travel(T0 + timedelta(hours=3), tick=False):
        alert_acknowledge(alert.pk, actor=ALICE)
    assert escalate_at(6) == 0
    alert.refresh_from_db()
    assert (alert.escalation_level, alert.status) == (1, "acknowledged")
