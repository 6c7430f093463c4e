"""CLI (`manage.py alerts ...`) and the per-run event path's cost."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from alerts.models import Alert
from alerts.services import alert_raise
from alerts.services.events import handle_run_finished
from tests.factories import JobFactory, JobRunFactory

pytestmark = pytest.mark.django_db


def test_alerts_list_json_ack_and_resolve(capsys):
    job = JobFactory(name="etl")
    low = alert_raise(type="system_error", severity="low", title="low one")
    high = alert_raise(type="job_failure", severity="high", title="Job etl failed", job=job)
    call_command("alerts", "list", "--open", "--min-severity", "high", "--json")
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == [high.pk] and rows[0]["job"] == "etl"

    call_command("alerts", "ack", str(high.pk), "--user", "bob")
    assert "acknowledged by bob" in capsys.readouterr().out
    call_command("alerts", "resolve", str(high.pk), "--notes", "rerun ok", "--user", "bob")
    assert "resolved by bob" in capsys.readouterr().out
    high.refresh_from_db()
    assert (high.status, high.resolution_notes) == ("resolved", "rerun ok")

    call_command("alerts", "list", "--open", "--json")
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [low.pk]
    with pytest.raises(CommandError, match="already resolved"):
        call_command("alerts", "resolve", str(high.pk), "--notes", "x")
    with pytest.raises(CommandError, match="not found"):
        call_command("alerts", "ack", "99999")
    with pytest.raises(CommandError, match="channel nope not found"):
        call_command("alerts", "test-channel", "nope")


def test_a_success_with_nothing_to_announce_makes_no_query(django_assert_num_queries):
    job = JobFactory(consecutive_failures=0)
    run = JobRunFactory(job=job, status="succeeded", duration_ms=10)
    with django_assert_num_queries(0):
        handle_run_finished(run, job, previous_consecutive_failures=0)


def test_a_retrying_attempt_raises_nothing_and_a_final_failure_raises_one_alert(
    django_assert_num_queries,
):
    job = JobFactory(max_retries=1)
    retrying = JobRunFactory(job=job, status="retrying", attempt=1, error="boom")
    with django_assert_num_queries(0):
        handle_run_finished(retrying, job, previous_consecutive_failures=0)
    failed = JobRunFactory(job=job, status="failed", attempt=2, error="boom\ntraceback")
    handle_run_finished(failed, job, previous_consecutive_failures=1)
    alert = Alert.objects.get()
    assert alert.type == "job_failure" and alert.run_id == failed.pk and "boom" in alert.message


def test_duration_limit_and_success_notifications_follow_the_job_settings():
    job = JobFactory(notify_on_duration_exceeds=5, notify_on_success=True)
    run = JobRunFactory(job=job, status="succeeded", duration_ms=7000)
    handle_run_finished(run, job, previous_consecutive_failures=0)
    types = dict(Alert.objects.values_list("type", "status"))
    assert types == {"duration_exceeded": "open", "job_succeeded": "resolved"}


def test_notify_on_failure_false_records_the_alert_without_notifying(alert_settings):
    job = JobFactory(notify_on_failure=False, notification_emails=["a@example.com"])
    handle_run_finished(
        JobRunFactory(job=job, status="failed"), job, previous_consecutive_failures=0
    )
    alert = Alert.objects.get()
    assert not alert.notifications.exists()


def test_health_changes_become_alerts_and_healthy_resolves_them():
    from alerts.services.events import handle_health_changed

    job = JobFactory()
    issues = [
        {"type": "missed_execution", "message": "missed 02:00", "details": {}},
        {"type": "consecutive_failures", "message": "5 failures", "details": {}},
    ]
    handle_health_changed(job, "healthy", "critical", issues)
    assert set(Alert.objects.values_list("type", flat=True)) == {"missed_run", "health_critical"}
    handle_health_changed(job, "critical", "healthy", [])
    assert set(Alert.objects.values_list("status", flat=True)) == {"resolved"}


def test_a_timed_out_attempt_with_a_retry_scheduled_raises_nothing_until_the_last_one(
    django_assert_num_queries,
):
    job = JobFactory(max_retries=1)
    first = JobRunFactory(job=job, status="timed_out", attempt=1, error="timed out after 5s")
    with django_assert_num_queries(0):
        handle_run_finished(first, job, previous_consecutive_failures=0, will_retry=True)
    last = JobRunFactory(job=job, status="timed_out", attempt=2, error="timed out after 5s")
    handle_run_finished(last, job, previous_consecutive_failures=0, will_retry=False)
    assert list(Alert.objects.values_list("type", "run_id")) == [("job_failure", last.pk)]
