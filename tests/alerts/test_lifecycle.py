"""Alert lifecycle rules, escalation and the throttle summary (in process,
time controlled with time-machine)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from alerts.models import Alert, Channel, Delivery, Notification
from alerts.selectors import alert_counts_by_severity, alert_stats
from alerts.services import (
    alert_acknowledge,
    alert_raise,
    alert_resolve,
    alerts_cleanup,
    alerts_escalate,
    channel_create,
)
from jobs.actors import Actor
from jobs.errors import Conflict, NotFound, ValidationError
from jobs.models import AuditEvent
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db
ALICE = Actor(name="alice", source="cli")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_resolving_an_unacknowledged_alert_acknowledges_it_too():
    alert = alert_raise(type="system_error", severity="medium", title="x")
    resolved = alert_resolve(alert.pk, actor=ALICE, notes="fixed the disk")
    assert (resolved.status, resolved.acknowledged_by, resolved.resolved_by) == (
        "resolved",
        "alice",
        "alice",
    )
    assert resolved.acknowledged_at == resolved.resolved_at
    assert resolved.time_to_acknowledge == resolved.time_to_resolve


def test_acknowledge_and_resolve_rules_and_audit():
    alert = alert_raise(type="system_error", severity="high", title="x")
    with pytest.raises(ValidationError) as err:
        alert_resolve(alert.pk, actor=ALICE, notes="  ")
    assert err.value.fields == {"notes": "required"}
    alert_acknowledge(alert.pk, actor=ALICE)
    with pytest.raises(Conflict, match="already acknowledged by alice"):
        alert_acknowledge(alert.pk, actor=ALICE)
    alert_resolve(alert.pk, actor=ALICE, notes="done")
    with pytest.raises(Conflict, match="already resolved"):
        alert_resolve(alert.pk, actor=ALICE, notes="again")
    with pytest.raises(Conflict):
        alert_acknowledge(alert.pk, actor=ALICE)
    with pytest.raises(NotFound):
        alert_acknowledge(999999, actor=ALICE)
    actions = list(
        AuditEvent.objects.filter(target=str(alert.pk))
        .order_by("at")
        .values_list("action", "actor")
    )
    assert actions == [("alert.acknowledge", "alice"), ("alert.resolve", "alice")]


def test_same_fingerprint_deduplicates_until_resolved_and_keeps_the_highest_severity():
    job = JobFactory()
    a = alert_raise(type="job_failure", severity="medium", title="t", job=job)
    b = alert_raise(type="job_failure", severity="high", title="t", job=job)
    c = alert_raise(type="job_failure", severity="low", title="t", job=job)
    assert a.pk == b.pk == c.pk
    a.refresh_from_db()
    assert (a.occurrences, a.severity) == (3, "high")
    other_area = alert_raise(type="job_failure", severity="low", title="t", job=job, area="north")
    assert other_area.pk != a.pk
    alert_resolve(a.pk, actor=ALICE, notes="ok")
    assert alert_raise(type="job_failure", severity="low", title="t", job=job).pk != a.pk


def test_counts_by_severity_include_only_active_alerts():
    alert_raise(type="system_error", severity="critical", title="a")
    alert_raise(type="system_error", severity="high", title="b", area="x")
    done = alert_raise(type="system_error", severity="high", title="c", area="y")
    alert_resolve(done.pk, actor=ALICE, notes="ok")
    assert alert_counts_by_severity() == {"low": 0, "medium": 0, "high": 1, "critical": 1}


def test_high_alert_unacknowledged_for_two_hours_escalates_once_per_interval(alert_settings):
    escalation = channel_create(
        {
            "name": "oncall",
            "kind": "email",
            "config": {"recipients": ["oncall@example.com"]},
            "escalation": True,
        },
        actor=ALICE,
    )
    with time_machine.travel(T0, tick=False):
        high = alert_raise(type="system_error", severity="high", title="high", area="1")
        medium = alert_raise(type="system_error", severity="medium", title="medium", area="2")
        acked = alert_raise(type="system_error", severity="critical", title="acked", area="3")
        alert_acknowledge(acked.pk, actor=ALICE)
    with time_machine.travel(T0 + timedelta(hours=1, minutes=59), tick=False):
        assert alerts_escalate() == 0
    with time_machine.travel(T0 + timedelta(hours=2, minutes=1), tick=False):
        assert alerts_escalate() == 1
        assert alerts_escalate() == 0  # once per interval
    high.refresh_from_db()
    medium.refresh_from_db()
    assert high.escalated_at == T0 + timedelta(hours=2, minutes=1) and high.severity == "critical"
    assert medium.escalated_at is None
    delivery = Delivery.objects.get(alert=high, notification__event="escalated")
    assert delivery.channel == escalation and delivery.payload["subject"].startswith("[ESCALATED]")
    assert AuditEvent.objects.filter(action="alert.escalate", target=str(high.pk)).count() == 1


def test_suppressed_notifications_are_summarised_in_the_next_one_sent(email_channel, settings):
    settings.ALERTS_MAX_PER_JOB_PER_HOUR = 2
    job = JobFactory()
    with time_machine.travel(T0, tick=False):
        for _ in range(5):
            alert = alert_raise(type="job_failure", severity="high", title="Job failed", job=job)
    assert Notification.objects.filter(suppressed=True).count() == 3
    alert.refresh_from_db()
    assert alert.suppressed_count == 3
    with time_machine.travel(T0 + timedelta(minutes=61), tick=False):
        alert_raise(type="job_failure", severity="high", title="Job failed", job=job)
    latest = Notification.objects.filter(suppressed=False).order_by("-created_at").first()
    assert latest.suppressed_summary["count"] == 3
    text = Delivery.objects.get(notification=latest).payload["text"]
    assert "3 notification(s) for this job were held back" in text
    assert Notification.objects.filter(suppressed=True, summarized_in=latest).count() == 3


def test_job_emails_are_enough_when_email_is_configured(alert_settings):
    job = JobFactory(notification_emails=["dev@example.com"])
    alert = alert_raise(type="job_failure", severity="high", title="x", job=job)
    (delivery,) = Delivery.objects.filter(alert=alert)
    assert delivery.channel is None and delivery.payload["recipients"] == ["dev@example.com"]


def test_job_channels_override_defaults_and_channel_minimum_severity_applies(alert_settings):
    channel_create(
        {
            "name": "default-mail",
            "kind": "email",
            "config": {"recipients": ["a@example.com"]},
            "is_default": True,
        },
        actor=ALICE,
    )
    channel_create(
        {
            "name": "team-mail",
            "kind": "email",
            "config": {"recipients": ["t@example.com"]},
            "min_severity": "high",
        },
        actor=ALICE,
    )
    job = JobFactory(notification_channels=["team-mail"])
    low = alert_raise(type="duration_exceeded", severity="medium", title="slow", job=job)
    high = alert_raise(type="job_failure", severity="high", title="failed", job=job)
    assert not Delivery.objects.filter(alert=low).exists()
    assert list(Delivery.objects.filter(alert=high).values_list("channel__name", flat=True)) == [
        "team-mail"
    ]
    unrelated = alert_raise(type="system_error", severity="low", title="no job")
    assert list(
        Delivery.objects.filter(alert=unrelated).values_list("channel__name", flat=True)
    ) == ["default-mail"]


def test_cleanup_deletes_only_old_resolved_alerts():
    with time_machine.travel(T0, tick=False):
        old = alert_raise(type="system_error", severity="low", title="old", area="1")
        alert_resolve(old.pk, actor=ALICE, notes="ok")
        still_open = alert_raise(type="system_error", severity="low", title="open", area="2")
    with time_machine.travel(T0 + timedelta(days=170), tick=False):
        recent = alert_raise(type="system_error", severity="low", title="recent", area="3")
        alert_resolve(recent.pk, actor=ALICE, notes="ok")
    with time_machine.travel(T0 + timedelta(days=181), tick=False):
        assert alerts_cleanup() == 1
    assert set(Alert.objects.values_list("pk", flat=True)) == {still_open.pk, recent.pk}
    assert AuditEvent.objects.filter(action="alerts.cleanup").get().changes["deleted"] == 1


def test_stats_total_by_status_severity_type_area_and_mean_times():
    with time_machine.travel(T0, tick=False):
        a = alert_raise(type="compliance_violation", severity="high", title="a", area="material")
        b = alert_raise(type="job_failure", severity="low", title="b")
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        alert_acknowledge(a.pk, actor=ALICE)
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        alert_resolve(a.pk, actor=ALICE, notes="ok")
    stats = alert_stats(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert stats["total"] == 2 and stats["active"] == 1
    assert stats["by_status"] == {"open": 1, "acknowledged": 0, "resolved": 1}
    assert stats["by_severity"] == {"low": 1, "medium": 0, "high": 1, "critical": 0}
    assert stats["by_type"] == {"compliance_violation": 1, "job_failure": 1}
    assert stats["by_area"] == {"material": 1}
    assert stats["mean_time_to_acknowledge"] == 600.0 and stats["mean_time_to_resolve"] == 1800.0
    assert b.pk


def test_channel_validation_names_the_field(alert_settings):
    with pytest.raises(ValidationError) as err:
        channel_create(
            {"name": "x", "kind": "email", "config": {"recipients": ["not-an-address"]}},
            actor=ALICE,
        )
    assert "recipients" in err.value.fields
    with pytest.raises(ValidationError) as err:
        channel_create(
            {"name": "y", "kind": "slack", "secrets": {"url": "ftp://example.com"}}, actor=ALICE
        )
    assert "url" in err.value.fields
    with pytest.raises(ValidationError) as err:
        channel_create({"name": "z", "kind": "pager"}, actor=ALICE)
    assert "kind" in err.value.fields
    assert not Channel.objects.exists()


def test_webhooks_to_internal_addresses_are_refused_by_the_ssrf_guard(settings):
    settings.JOBS_HTTP_ALLOWED_NETWORKS = []
    with pytest.raises(ValidationError) as err:
        channel_create(
            {
                "name": "meta",
                "kind": "webhook",
                "secrets": {"url": "http://169.254.169.254/latest"},
            },
            actor=ALICE,
        )
    assert "url" in err.value.fields
