"""Who hears about an alert, and when: routing, the per-job throttle, and
the creation of deliveries (sent by alerts.tasks.deliver after commit)."""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F
from django.utils import timezone

from alerts.models import (
    Alert,
    AlertType,
    Channel,
    ChannelKind,
    Delivery,
    Notification,
    NotificationEvent,
    Severity,
)
from alerts.rendering import render

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    kind: str
    target: str  # for display
    channel: Channel | None = None
    recipients: tuple[str, ...] = ()


def email_configured() -> bool:
    return bool(settings.EMAIL_HOST or settings.ALERTS_EMAIL_BACKEND)


def targets_for(alert: Alert, event: str) -> list[Target]:
    """Per-job settings over global defaults.

    - escalations go to channels marked `escalation` and ALERTS_ESCALATION_EMAILS;
    - otherwise: the job's `notification_channels` when it names any, else the
      default channels; plus the job's own `notification_emails` when e-mail
      is configured;
    - every channel only for severities at or above its minimum;
    - a notification_failure alert is never sent back through the channel
      that failed.
    """
    job = alert.job
    if event == NotificationEvent.ESCALATED:
        channels = list(Channel.objects.filter(enabled=True, escalation=True))
        emails = list(settings.ALERTS_ESCALATION_EMAILS)
    else:
        names = list(job.notification_channels or []) if job is not None else []
        qs = Channel.objects.filter(enabled=True)
        channels = list(qs.filter(name__in=names) if names else qs.filter(is_default=True))
        emails = list(job.notification_emails or []) if job is not None else []
        if emails and Severity.rank(alert.severity) < Severity.rank(
            settings.ALERTS_JOB_EMAIL_MIN_SEVERITY
        ):
            emails = []
    failed_channel = (
        alert.details.get("channel") if alert.type == AlertType.NOTIFICATION_FAILURE else None
    )
    targets = [
        Target(kind=c.kind, target=c.name, channel=c)
        for c in channels
        if c.accepts(alert.severity) and c.name != failed_channel
    ]
    if emails and email_configured() and failed_channel != "email":
        targets.append(
            Target(kind=ChannelKind.EMAIL, target=", ".join(emails), recipients=tuple(emails))
        )
    return targets


def hourly_limit(alert: Alert) -> int:
    """The job's own max_alerts_per_hour, else the global limit (also for an
    alert whose job row was deleted)."""
    job = alert.job
    own = job.max_alerts_per_hour if job is not None else None
    return own if own is not None else settings.ALERTS_MAX_PER_JOB_PER_HOUR


def _lock_job(job_name: str) -> None:
    """Serialise throttle decisions for one job (two workers finishing at
    once must not both take the last slot). Transaction-scoped."""
    if connection.vendor == "postgresql":
        key = zlib.crc32(f"alerts-throttle:{job_name}".encode())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def notify(alert: Alert, event: str, *, now=None) -> Notification | None:
    """Tell the alert's audience about `event`, within the job's hourly limit.

    Must run inside the transaction that changed the alert. Returns None
    when nobody is routed; otherwise the Notification, suppressed or sent.
    A sent one creates one Delivery per target and enqueues each on commit,
    so nothing is sent for an alert that was rolled back. Escalations and
    tests bypass the throttle (rare, and they must go out).
    """
    now = now or timezone.now()
    targets = targets_for(alert, event)
    if not targets:
        return None
    throttled = bool(alert.job_name) and event not in (
        NotificationEvent.ESCALATED,
        NotificationEvent.TEST,
    )
    summary: dict[str, Any] | None = None
    if throttled:
        _lock_job(alert.job_name)
        sent_last_hour = (
            Notification.objects.filter(
                job_name=alert.job_name, suppressed=False, created_at__gte=now - timedelta(hours=1)
            )
            .exclude(event=NotificationEvent.TEST)
            .count()
        )
        if sent_last_hour >= hourly_limit(alert):
            Alert.objects.filter(pk=alert.pk).update(suppressed_count=F("suppressed_count") + 1)
            alert.suppressed_count += 1
            return Notification.objects.create(
                alert=alert, job_name=alert.job_name, event=event, suppressed=True, created_at=now
            )
        held = Notification.objects.filter(
            job_name=alert.job_name, suppressed=True, summarized_in__isnull=True
        )
        rows = list(
            held.values("alert_id", "alert__title").annotate(n=Count("id")).order_by("alert_id")
        )
        if rows:
            summary = {
                "count": sum(r["n"] for r in rows),
                "alerts": [
                    {"id": r["alert_id"], "title": r["alert__title"], "count": r["n"]} for r in rows
                ],
            }
    notification = Notification.objects.create(
        alert=alert,
        job_name=alert.job_name,
        event=event,
        suppressed=False,
        suppressed_summary=summary or {},
        created_at=now,
    )
    if summary:
        held.update(summarized_in=notification)
    payload = render(alert, event, summary)
    deliveries = [
        Delivery.objects.create(
            notification=notification,
            alert=alert,
            channel=t.channel,
            kind=t.kind,
            target=t.target,
            payload={**payload, "recipients": list(t.recipients)},
        )
        for t in targets
    ]
    enqueue(deliveries)
    return notification


def enqueue(deliveries: list[Delivery], countdown: float | None = None) -> None:
    from alerts.tasks import deliver

    ids = [d.pk for d in deliveries]

    def send() -> None:
        for delivery_id in ids:
            deliver.apply_async(args=[delivery_id], countdown=countdown)

    transaction.on_commit(send)
