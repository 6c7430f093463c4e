"""Alerts raised by the real run path and delivered by real worker processes
to a real SMTP server and a real HTTP receiver on loopback."""

from __future__ import annotations

import pytest
from django.db import transaction

from alerts import crypto
from alerts.channels.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from alerts.models import Alert, Channel, Delivery, DeliveryAttempt, Notification
from alerts.services import alert_raise, channel_create
from jobs.actors import Actor
from jobs.models import JobRun
from jobs.services.jobs import job_update
from jobs.services.runs import run_trigger
from tests.alerts.conftest import worker_env
from tests.alerts.servers import HttpReceiver
from tests.conftest import wait_until
from tests.factories import JobFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
CLI = Actor(name="tester", source="cli")


def finished(run_id, timeout=30):
    def done():
        run = JobRun.objects.get(pk=run_id)
        return run if run.status not in ("queued", "running") else None

    return wait_until(done, timeout=timeout, message=f"run {run_id} to finish")


def last_attempt(job, timeout=40):
    return wait_until(
        lambda: (
            JobRun.objects.filter(job=job, status__in=["failed", "succeeded"])
            .order_by("-attempt")
            .first()
        ),
        timeout=timeout,
        message="the last attempt to finish",
    )


def webhook_channel(receiver, **kw) -> Channel:
    return channel_create(
        {
            "name": kw.pop("name", "ops-webhook"),
            "kind": "webhook",
            "secrets": {"url": receiver.url, "secret": "s3cret-s3cret-s3cret"},
            "is_default": True,
            **kw,
        },
        actor=CLI,
    )


def test_failing_jobs_last_retry_raises_one_alert_and_one_delivery_per_channel(
    start_worker, smtp_server, http_receiver, alert_settings
):
    start_worker(env=worker_env(smtp_server))
    channel = webhook_channel(http_receiver)
    job = JobFactory(
        target="tests.jobs.sample_jobs:fail",
        max_retries=1,
        retry_delay=0,
        retry_jitter=0,
        notification_emails=["ops@example.com"],
    )
    run_trigger(job.name, actor=CLI, trigger="cli")
    last = last_attempt(job)
    assert last.attempt == 2 and last.status == "failed"

    alert = wait_until(lambda: Alert.objects.filter(job=job).first(), message="the alert")
    assert (alert.type, alert.severity, alert.status, alert.occurrences) == (
        "job_failure",
        "high",
        "open",
        1,
    )
    assert alert.run_id == last.pk  # the retrying first attempt raised nothing
    wait_until(
        lambda: Delivery.objects.filter(alert=alert, status="sent").count() == 2,
        message="2 deliveries",
    )
    assert Alert.objects.count() == 1
    deliveries = {d.kind: d for d in Delivery.objects.filter(alert=alert)}
    assert (
        set(deliveries) == {"webhook", "email"} and deliveries["webhook"].channel_id == channel.pk
    )

    wait_until(
        lambda: len(smtp_server.messages) == 1 and len(http_receiver.requests) == 1, timeout=10
    )
    mail = smtp_server.messages[0]
    assert mail["to"] == ["ops@example.com"] and f"Job {job.name} failed" in mail["subject"]
    assert "boom on attempt 2" in mail["body"]

    request = http_receiver.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert verify(
        "s3cret-s3cret-s3cret",
        headers[TIMESTAMP_HEADER.lower()],
        request["body"],
        headers[SIGNATURE_HEADER.lower()],
    )
    assert not verify(
        "wrong-secret-wrong",
        headers[TIMESTAMP_HEADER.lower()],
        request["body"],
        headers[SIGNATURE_HEADER.lower()],
    )
    assert headers[DELIVERY_HEADER.lower()] == str(deliveries["webhook"].pk)
    payload = http_receiver.json()
    assert (
        payload["event"] == "opened"
        and payload["alert"]["id"] == alert.pk
        and payload["alert"]["job"] == job.name
    )
    assert DeliveryAttempt.objects.filter(delivery__alert=alert, ok=True).count() == 2


def test_repeated_failures_deduplicate_and_a_success_resolves_the_alert(
    start_worker, http_receiver, alert_settings
):
    start_worker(env=worker_env())
    webhook_channel(http_receiver)
    job = JobFactory(target="tests.jobs.sample_jobs:fail")
    for _ in range(3):
        finished(run_trigger(job.name, actor=CLI, trigger="cli").pk)
    wait_until(
        lambda: Alert.objects.filter(job=job, occurrences=3).exists(), message="3 occurrences"
    )
    assert Alert.objects.filter(job=job).count() == 1

    # an edit through the service reaches workers at their next claim
    job_update(job.name, {"target": "tests.jobs.sample_jobs:succeed"}, actor=CLI)
    ok = finished(run_trigger(job.name, actor=CLI, trigger="cli").pk)
    assert ok.status == "succeeded"
    alert = wait_until(
        lambda: Alert.objects.filter(job=job, status="resolved").first(), message="recovery"
    )
    assert alert.resolved_by == "system" and str(ok.pk) in alert.resolution_notes
    assert alert.acknowledged_by == "system"  # resolving acknowledges too
    # Everyone told: opened, 2 repeats, resolved.
    wait_until(lambda: len(http_receiver.requests) == 4, timeout=15)
    assert [r["event"] for r in map(lambda i: http_receiver.json(i), range(4))] == [
        "opened",
        "repeated",
        "repeated",
        "resolved",
    ]

    # A new failure after recovery opens a new alert.
    job_update(job.name, {"target": "tests.jobs.sample_jobs:fail"}, actor=CLI)
    finished(run_trigger(job.name, actor=CLI, trigger="cli").pk)
    wait_until(lambda: Alert.objects.filter(job=job, status="open").exists(), message="a new alert")
    assert Alert.objects.filter(job=job).count() == 2


def test_throttle_holds_back_notifications_past_the_hourly_limit(
    start_worker, http_receiver, alert_settings
):
    start_worker(env=worker_env(ALERTS_MAX_PER_JOB_PER_HOUR="2"))
    webhook_channel(http_receiver)
    job = JobFactory(target="tests.jobs.sample_jobs:fail")
    for _ in range(5):
        finished(run_trigger(job.name, actor=CLI, trigger="cli").pk)
    alert = wait_until(
        lambda: Alert.objects.filter(job=job, type="job_failure", occurrences=5).first(),
        message="5 occurrences",
    )
    # The limit is per job, over all its alerts (health alerts join in too).
    assert Notification.objects.filter(job_name=job.name, suppressed=False).count() == 2
    assert Notification.objects.filter(alert=alert, suppressed=False).count() == 2
    assert (
        Notification.objects.filter(alert=alert, suppressed=True).count()
        == alert.suppressed_count
        == 3
    )
    wait_until(lambda: len(http_receiver.requests) == 2, timeout=10)
    assert Delivery.objects.filter(notification__job_name=job.name).count() == 2


def test_a_channel_that_is_down_then_up_loses_nothing(start_worker, alert_settings):
    receiver = HttpReceiver()  # port reserved, nothing listening yet: connection refused
    start_worker(env=worker_env(ALERTS_DELIVERY_MAX_ATTEMPTS="20"))
    webhook_channel(receiver)
    with transaction.atomic():
        alert = alert_raise(type="system_error", severity="high", title="Disk almost full")
    delivery = Delivery.objects.get(alert=alert)
    wait_until(
        lambda: DeliveryAttempt.objects.filter(delivery=delivery, ok=False).count() >= 2,
        timeout=20,
        message="failed attempts while down",
    )
    assert Delivery.objects.get(pk=delivery.pk).status == "pending"
    receiver.start()
    try:
        wait_until(
            lambda: Delivery.objects.get(pk=delivery.pk).status == "sent",
            timeout=30,
            message="sent once up",
        )
        assert (
            len(receiver.requests) == 1 and receiver.json()["alert"]["title"] == "Disk almost full"
        )
        attempts = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))
        assert [a.ok for a in attempts][-1] is True and not any(a.ok for a in attempts[:-1])
        assert all(a.error for a in attempts[:-1]) and attempts[0].target == "ops-webhook"
        assert not Alert.objects.filter(type="notification_failure").exists()
    finally:
        receiver.stop()


def test_after_the_last_retry_the_failure_becomes_one_notification_failure_alert(
    start_worker, http_receiver, alert_settings
):
    http_receiver.status = 503
    start_worker(env=worker_env(ALERTS_DELIVERY_MAX_ATTEMPTS="2"))
    webhook_channel(http_receiver)  # the only channel: the failure alert cannot go anywhere else
    with transaction.atomic():
        alert = alert_raise(type="system_error", severity="critical", title="Database down")
    failure = wait_until(
        lambda: Alert.objects.filter(type="notification_failure").first(), timeout=20
    )
    delivery = Delivery.objects.get(alert=alert)
    assert (
        delivery.status == "failed" and delivery.attempts == 2 and "HTTP 503" in delivery.last_error
    )
    assert failure.area == "ops-webhook" and failure.details["delivery"] == delivery.pk
    # Not sent back through the channel that failed, so no recursion.
    assert not Delivery.objects.filter(alert=failure).exists()
    assert len(http_receiver.requests) == 2
    assert Alert.objects.filter(type="notification_failure").count() == 1


def test_channel_secrets_are_encrypted_at_rest(alert_settings, http_receiver):
    channel = webhook_channel(http_receiver)
    raw = Channel.objects.values_list("secrets", flat=True).get(pk=channel.pk)
    assert "s3cret" not in raw and http_receiver.url not in raw
    assert crypto.unseal(raw)["secret"] == "s3cret-s3cret-s3cret"
