"""Sending one delivery, recording the attempt, and what happens when a
channel stays down."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from alerts import crypto
from alerts.channels import DeliveryError, sender
from alerts.models import (
    AlertType,
    Channel,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Severity,
)
from jobs.execution.redact import Redactor

log = logging.getLogger(__name__)


def retry_delay(attempts: int) -> float:
    """Wait before the next try after `attempts` failed ones: exponential,
    capped at ALERTS_DELIVERY_MAX_DELAY."""
    delay = settings.ALERTS_DELIVERY_RETRY_DELAY * (2 ** max(attempts - 1, 0))
    return min(delay, settings.ALERTS_DELIVERY_MAX_DELAY)


def _send(delivery: Delivery) -> int | None:
    payload = delivery.payload
    if delivery.channel is None:
        # A job's own notification_emails: no channel row.
        return sender("email").send(
            payload, {"recipients": payload.get("recipients") or []}, {}, delivery_id=delivery.pk
        )
    channel = delivery.channel
    if not channel.enabled:
        raise DeliveryError(f"channel {channel.name} is disabled")
    try:
        secrets = crypto.unseal(channel.secrets)
    except ValueError as exc:
        raise DeliveryError(str(exc)) from None
    return sender(channel.kind).send(payload, channel.config, secrets, delivery_id=delivery.pk)


def redact_channel_secrets(channel: Channel | None, text: str) -> str:
    """`text` with every secret of the channel (webhook URL and its parts,
    signing secret) masked. Every delivery error passes through here before it
    is stored, so attempts, `last_error`, channel-test answers and the
    notification-failure alert built from them never show a secret."""
    if channel is None or not text:
        return text
    try:
        secrets = crypto.unseal(channel.secrets)
    except ValueError:
        return text  # nothing could have been sent with secrets nobody can read
    return Redactor(str(v) for v in secrets.values() if isinstance(v, str | int)).redact(text)


def _attempt(delivery: Delivery) -> tuple[str, int | None]:
    """Send once; (error text with the channel's secrets masked, HTTP status)."""
    error, status, bug = "", None, False
    try:
        status = _send(delivery)
    except DeliveryError as exc:
        error, status = str(exc) or type(exc).__name__, exc.status
    except Exception as exc:  # a sender bug must still be recorded and retried
        error, bug = f"{type(exc).__name__}: {exc}", True
    error = redact_channel_secrets(delivery.channel, error)
    if bug:  # no traceback: its exception text would show the secrets again
        log.error("delivery %s: unexpected error: %s", delivery.pk, error)
    return error, status


def _claim(delivery_id: int) -> Delivery | None:
    """Take a pending delivery that no other worker is sending, for
    ALERTS_DELIVERY_CLAIM; None if there is nothing to do. A short transaction."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("channel", "alert")
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .first()
        )
        if delivery is None:
            return None
        delivery.claimed_until = now + timedelta(seconds=settings.ALERTS_DELIVERY_CLAIM)
        delivery.save(update_fields=["claimed_until"])
    return delivery


def delivery_attempt(delivery_id: int, *, single: bool = False) -> float | None:
    """Try one pending delivery once; record the attempt.

    Returns the seconds to wait before the next try, or None when done (sent,
    failed for good, or nothing to do). Idempotent: a delivery that is not
    pending is left alone, and the claim means a redelivered task message
    cannot send the same delivery twice at once. No transaction or row lock is
    held while sending (that takes up to ALERTS_HTTP_TIMEOUT). After the last
    attempt the failure becomes a `notification_failure` alert — unless the
    delivery was itself about a notification failure (no recursion). `single`
    (channel tests) makes this attempt the last one, without that alert.
    """
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    started = time.monotonic()
    error, status = _attempt(delivery)
    duration_ms = int((time.monotonic() - started) * 1000)
    with transaction.atomic():
        claimed = Delivery.objects.select_for_update().filter(
            pk=delivery.pk, claimed_until=delivery.claimed_until
        )
        if not claimed.exists():
            # Our claim ran out and another attempt took the delivery over.
            log.warning("delivery %s: claim lost while sending; not recording", delivery.pk)
            return None
        return _record(delivery, error, status, duration_ms, single=single)


def _record(
    delivery: Delivery, error: str, status: int | None, duration_ms: int, *, single: bool
) -> float | None:
    now = timezone.now()
    delivery.attempts += 1
    delivery.claimed_until = None
    DeliveryAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempts,
        channel_name=delivery.channel.name if delivery.channel else "",
        kind=delivery.kind,
        target=delivery.target,
        ok=not error,
        error=error[:2000],
        response_status=status,
        duration_ms=duration_ms,
        at=now,
    )
    fields = ["attempts", "claimed_until", "last_error", "next_attempt_at", "status"]
    if not error:
        delivery.status, delivery.sent_at, delivery.next_attempt_at = DeliveryStatus.SENT, now, None
        delivery.last_error = ""
        delivery.save(update_fields=[*fields, "sent_at"])
        return None
    delivery.last_error = error[:2000]
    if not single and delivery.attempts < settings.ALERTS_DELIVERY_MAX_ATTEMPTS:
        wait = retry_delay(delivery.attempts)
        delivery.next_attempt_at = now + timedelta(seconds=wait)
        delivery.save(update_fields=fields)
        return wait
    delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
    delivery.save(update_fields=fields)
    if not single:
        _raise_failure_alert(delivery)
    return None


def _raise_failure_alert(delivery: Delivery) -> None:
    from alerts.services.lifecycle import alert_raise

    alert = delivery.alert
    if alert is not None and alert.type == AlertType.NOTIFICATION_FAILURE:
        log.error(
            "delivery %s about a notification failure failed too; not alerting again", delivery.pk
        )
        return
    channel = delivery.channel.name if delivery.channel else "email"
    alert_raise(
        type=AlertType.NOTIFICATION_FAILURE,
        severity=Severity.HIGH,
        title=f"Notifications through {channel} are failing",
        message=(
            f"Delivery #{delivery.pk} to {delivery.target} failed {delivery.attempts} times; "
            f"last error: {delivery.last_error}"
        ),
        area=channel,
        details={
            "channel": channel,
            "delivery": delivery.pk,
            "target": delivery.target,
            "alert": alert.pk if alert else None,
            "error": delivery.last_error,
        },
    )


def deliveries_requeue(*, now=None, stale_after: float = 600) -> int:
    """Re-enqueue pending deliveries whose next attempt is long overdue (their
    broker message was lost, e.g. Redis flushed or a worker died holding an
    ETA task). Sending stays idempotent through delivery_attempt."""
    from alerts.services.notify import enqueue

    now = now or timezone.now()
    cutoff = now - timedelta(seconds=stale_after)
    stale = list(
        Delivery.objects.filter(status=DeliveryStatus.PENDING, created_at__lt=cutoff).filter(
            next_attempt_at__isnull=True
        )
        | Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lt=cutoff)
    )
    with transaction.atomic():
        enqueue(stale)
    return len(stale)
