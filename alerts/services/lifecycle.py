"""An alert's life: raised (or de-duplicated), acknowledged, resolved,
escalated, and finally cleaned up."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from alerts.models import SEVERITY_ORDER, Alert, AlertStatus, AlertType, NotificationEvent, Severity
from alerts.services.notify import notify
from jobs.actors import Actor
from jobs.errors import Conflict, NotFound, ValidationError
from jobs.limits import check_text, field_error
from jobs.services.audit import audit_record

log = logging.getLogger(__name__)

SYSTEM = "system"


def _max_severity(a: str, b: str) -> str:
    return a if Severity.rank(a) >= Severity.rank(b) else b


def alert_raise(
    *,
    type: str,
    severity: str,
    title: str,
    message: str = "",
    job: Any = None,
    run: Any = None,
    area: str = "",
    details: dict[str, Any] | None = None,
    notify_people: bool = True,
    now=None,
) -> Alert:
    """Open an alert, or count one more occurrence of the active alert with
    the same fingerprint (type + job + area): occurrences +1, last_seen_at,
    latest message/run/details, severity raised if the new one is higher.

    Transactional; safe when several workers raise the same problem at once
    (the partial unique index decides, the loser increments). Notifications
    are created in the same transaction and sent after commit.
    """
    if type not in AlertType.values:
        raise ValidationError(f"unknown alert type {type!r}", fields={"type": "unknown"})
    if severity not in SEVERITY_ORDER:
        raise ValidationError(f"unknown severity {severity!r}", fields={"severity": "unknown"})
    now = now or timezone.now()
    job_name = job.name if job is not None else ""
    fingerprint = Alert.make_fingerprint(type, job_name, area)
    with transaction.atomic():
        alert = _active_for_update(fingerprint)
        if alert is None:
            try:
                with transaction.atomic():
                    alert = Alert.objects.create(
                        type=type,
                        severity=severity,
                        title=title[:300],
                        message=message,
                        job=job,
                        job_name=job_name,
                        run=run,
                        area=area,
                        details=details or {},
                        fingerprint=fingerprint,
                        created_at=now,
                        last_seen_at=now,
                    )
                event = NotificationEvent.OPENED
            except IntegrityError:
                alert = _active_for_update(fingerprint)
                if alert is None:  # resolved in between: extremely unlikely; surface it
                    raise
                event = _repeat(alert, severity, title, message, run, details, now)
        else:
            event = _repeat(alert, severity, title, message, run, details, now)
        if notify_people and (event == NotificationEvent.OPENED or settings.ALERTS_NOTIFY_REPEATS):
            notify(alert, event, now=now)
    return alert


def _active_for_update(fingerprint: str) -> Alert | None:
    return (
        Alert.objects.select_for_update(of=("self",))
        .select_related("job")
        .filter(fingerprint=fingerprint, status__in=AlertStatus.active())
        .first()
    )


def _repeat(alert: Alert, severity, title, message, run, details, now) -> NotificationEvent:
    alert.occurrences = F("occurrences") + 1
    alert.last_seen_at = now
    alert.severity = _max_severity(alert.severity, severity)
    alert.title = title[:300]
    alert.message = message
    if run is not None:
        alert.run = run
    if details is not None:
        alert.details = details
    alert.save(
        update_fields=[
            "occurrences",
            "last_seen_at",
            "severity",
            "title",
            "message",
            "run",
            "details",
        ]
    )
    alert.refresh_from_db(fields=["occurrences"])
    return NotificationEvent.REPEATED


def _get_for_update(alert_id: int) -> Alert:
    try:
        return (
            Alert.objects.select_for_update(of=("self",))
            .select_related("job")
            .get(pk=int(alert_id))
        )
    except (Alert.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"alert {alert_id} not found") from None


def alert_acknowledge(alert_id: int, *, actor: Actor, now=None) -> Alert:
    """Mark an open alert acknowledged by `actor`. Conflict if it is already
    acknowledged or resolved; NotFound if unknown. Audited."""
    now = now or timezone.now()
    with transaction.atomic():
        alert = _get_for_update(alert_id)
        if alert.status == AlertStatus.RESOLVED:
            raise Conflict(f"alert {alert.pk} is already resolved")
        if alert.status == AlertStatus.ACKNOWLEDGED:
            raise Conflict(f"alert {alert.pk} was already acknowledged by {alert.acknowledged_by}")
        alert.status, alert.acknowledged_at, alert.acknowledged_by = (
            AlertStatus.ACKNOWLEDGED,
            now,
            actor.name,
        )
        alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
        audit_record(
            actor=actor,
            action="alert.acknowledge",
            target_type="alert",
            target=str(alert.pk),
            job_name=alert.job_name,
            changes={"status": [AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED]},
        )
    return alert


def alert_resolve(
    alert_id: int, *, actor: Actor, notes: str, now=None, notify_people: bool = False
) -> Alert:
    """Resolve an open or acknowledged alert with notes (required). An
    unacknowledged alert is acknowledged too, by the same actor at the same
    time. Conflict if already resolved. Audited."""
    notes = field_error("notes", check_text, (notes or "").strip())
    if not notes:
        raise ValidationError(
            "notes are required to resolve an alert", fields={"notes": "required"}
        )
    now = now or timezone.now()
    with transaction.atomic():
        alert = _get_for_update(alert_id)
        if alert.status == AlertStatus.RESOLVED:
            raise Conflict(f"alert {alert.pk} is already resolved")
        before = alert.status
        _resolve(alert, actor.name, notes, now)
        audit_record(
            actor=actor,
            action="alert.resolve",
            target_type="alert",
            target=str(alert.pk),
            job_name=alert.job_name,
            changes={"status": [before, AlertStatus.RESOLVED]},
            reason=notes,
        )
        if notify_people:
            notify(alert, NotificationEvent.RESOLVED, now=now)
    return alert


def _resolve(alert: Alert, by: str, notes: str, now) -> None:
    if not alert.acknowledged_at:
        alert.acknowledged_at, alert.acknowledged_by = now, by
    alert.status, alert.resolved_at, alert.resolved_by, alert.resolution_notes = (
        AlertStatus.RESOLVED,
        now,
        by,
        notes,
    )
    alert.save(
        update_fields=[
            "status",
            "acknowledged_at",
            "acknowledged_by",
            "resolved_at",
            "resolved_by",
            "resolution_notes",
        ]
    )


def alerts_resolve_recovered(
    job: Any, types: Sequence[str], notes: str, *, area: str | None = None, now=None
) -> int:
    """Resolve (as `system`, with `notes`) the job's active alerts of `types`
    — the job recovered. Each resolution is audited and announced (throttled).
    Returns how many were resolved; no-op (one small query) when none."""
    now = now or timezone.now()
    with transaction.atomic():
        alerts = list(
            Alert.objects.select_for_update(of=("self",))
            .select_related("job")
            .filter(job=job, type__in=types, status__in=AlertStatus.active())
            .filter(**({"area": area} if area is not None else {}))
        )
        for alert in alerts:
            before = alert.status
            _resolve(alert, SYSTEM, notes, now)
            audit_record(
                actor=Actor.system(),
                action="alert.resolve",
                target_type="alert",
                target=str(alert.pk),
                job_name=alert.job_name,
                changes={"status": [before, AlertStatus.RESOLVED]},
                reason=notes,
            )
            notify(alert, NotificationEvent.RESOLVED, now=now)
    return len(alerts)


def alerts_escalate(*, now=None) -> int:
    """Escalate every high/critical alert still unacknowledged past its next
    escalation time (ALERTS_ESCALATE_AFTER after it opened, then twice the
    previous wait, up to ALERTS_ESCALATE_MAX_TIMES): severity raised one step
    (critical stays critical), escalation_level +1, escalated_at set,
    escalation recipients notified (not throttled). Safe to run from several
    processes (rows locked, skip locked). Returns how many escalated."""
    now = now or timezone.now()
    first_after = timedelta(seconds=settings.ALERTS_ESCALATE_AFTER)
    count = 0
    with transaction.atomic():
        due = list(
            Alert.objects.escalation_due(now, first_after, settings.ALERTS_ESCALATE_MAX_TIMES)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("job")
        )
        for alert in due:
            _escalate(alert, first_after, now)
            count += 1
    return count


def _escalate(alert: Alert, first_after: timedelta, now) -> None:
    waited = first_after * 2**alert.escalation_level
    before = {
        "severity": alert.severity,
        "escalation_level": alert.escalation_level,
        "escalated_at": alert.escalated_at.isoformat() if alert.escalated_at else None,
    }
    alert.severity = alert.escalated_severity
    alert.escalation_level += 1
    alert.escalated_at = now
    alert.save(update_fields=["severity", "escalation_level", "escalated_at"])
    after = {
        "severity": alert.severity,
        "escalation_level": alert.escalation_level,
        "escalated_at": now.isoformat(),
    }
    audit_record(
        actor=Actor.system(),
        action="alert.escalate",
        target_type="alert",
        target=str(alert.pk),
        job_name=alert.job_name,
        changes={k: [before[k], after[k]] for k in after if before[k] != after[k]},
        reason=f"not acknowledged within {waited.total_seconds():.0f}s",
    )
    notify(alert, NotificationEvent.ESCALATED, now=now)


def alerts_cleanup(
    *, older_than_days: int | None = None, actor: Actor | None = None, batch: int = 1000, now=None
) -> int:
    """Delete resolved alerts (with their notifications, deliveries and
    attempts) resolved more than `older_than_days` ago (default
    ALERTS_RETENTION_DAYS), in batches so no long lock is held. Active
    alerts are never deleted. Audited once with the count."""
    days = older_than_days if older_than_days is not None else settings.ALERTS_RETENTION_DAYS
    if days < 1:
        raise ValidationError(
            "older_than_days must be at least 1", fields={"older_than_days": "min 1"}
        )
    now = now or timezone.now()
    cutoff = now - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(
            Alert.objects.filter(status=AlertStatus.RESOLVED, resolved_at__lt=cutoff)
            .order_by("id")
            .values_list("id", flat=True)[:batch]
        )
        if not ids:
            break
        with transaction.atomic():
            Alert.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
    with transaction.atomic():
        audit_record(
            actor=actor or Actor.system(),
            action="alerts.cleanup",
            target_type="alert",
            target="*",
            changes={"deleted": deleted, "older_than_days": days},
        )
    return deleted


def alert_resolve_success(job: Any, run: Any) -> Alert:
    """A job with notify_on_success succeeded: record an informational,
    already-resolved alert and notify (throttled like every notification)."""
    now = timezone.now()
    with transaction.atomic():
        alert = Alert.objects.create(
            type=AlertType.JOB_SUCCEEDED,
            severity=Severity.LOW,
            status=AlertStatus.RESOLVED,
            title=f"Job {job.name} succeeded",
            message=f"Run {run.id} succeeded in {(run.duration_ms or 0) / 1000:.1f}s.",
            job=job,
            job_name=job.name,
            run=run,
            fingerprint=Alert.make_fingerprint(AlertType.JOB_SUCCEEDED, job.name),
            created_at=now,
            last_seen_at=now,
            acknowledged_at=now,
            acknowledged_by=SYSTEM,
            resolved_at=now,
            resolved_by=SYSTEM,
            resolution_notes="informational",
        )
        notify(alert, NotificationEvent.OPENED, now=now)
    return alert
