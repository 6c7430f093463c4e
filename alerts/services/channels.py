"""Managing notification channels: create, update, test. Secrets (webhook
URLs, signing secrets) are validated, then encrypted; reads show them masked."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from alerts import crypto
from alerts.channels import sender
from alerts.models import (
    SEVERITY_ORDER,
    Channel,
    ChannelKind,
    Delivery,
    Notification,
    NotificationEvent,
)
from jobs.actors import Actor
from jobs.errors import Conflict, NotFound, ValidationError
from jobs.limits import check_json, check_text, field_error
from jobs.services.audit import SECRET_MASK, audit_record, diff_fields

EDITABLE = (
    "name",
    "kind",
    "enabled",
    "config",
    "secrets",
    "min_severity",
    "is_default",
    "escalation",
)


def _snapshot(channel: Channel) -> dict[str, Any]:
    return {
        "name": channel.name,
        "kind": channel.kind,
        "enabled": channel.enabled,
        "config": channel.config,
        "secrets": channel.secrets,
        "min_severity": channel.min_severity,
        "is_default": channel.is_default,
        "escalation": channel.escalation,
    }


def masked_secrets(channel: Channel) -> dict[str, str]:
    try:
        return dict.fromkeys(crypto.unseal(channel.secrets), SECRET_MASK)
    except ValueError:
        return {"error": "cannot decrypt with the configured keys"}


def _apply(channel: Channel, data: dict[str, Any]) -> None:
    unknown = set(data) - set(EDITABLE)
    if unknown:
        field = sorted(unknown)[0]
        raise ValidationError(f"unknown field {field!r}", fields={field: "unknown field"})
    if "name" in data:
        name = data["name"]
        if not isinstance(name, str) or not name or slugify(name) != name:
            raise ValidationError(
                "name must be a slug (letters, digits, - and _)", fields={"name": "invalid"}
            )
        channel.name = field_error("name", check_text, name, max_length=100)
    if "kind" in data:
        if data["kind"] not in ChannelKind.values:
            raise ValidationError(
                f"kind must be one of {', '.join(ChannelKind.values)}",
                fields={"kind": "invalid choice"},
            )
        channel.kind = data["kind"]
    if "min_severity" in data:
        if data["min_severity"] not in SEVERITY_ORDER:
            raise ValidationError(
                f"min_severity must be one of {', '.join(SEVERITY_ORDER)}",
                fields={"min_severity": "invalid"},
            )
        channel.min_severity = data["min_severity"]
    for flag in ("enabled", "is_default", "escalation"):
        if flag in data:
            if not isinstance(data[flag], bool):
                raise ValidationError(
                    f"{flag} must be true or false", fields={flag: "not a boolean"}
                )
            setattr(channel, flag, data[flag])
    config = data.get("config", channel.config) or {}
    if not isinstance(config, dict):
        raise ValidationError("config must be an object", fields={"config": "not an object"})
    field_error("config", check_json, config)
    try:
        old_secrets = crypto.unseal(channel.secrets)
    except ValueError as exc:
        raise ValidationError(str(exc), fields={"secrets": "cannot decrypt"}) from None
    new_secrets = data.get("secrets")
    if new_secrets is None:
        new_secrets = {}
    if not isinstance(new_secrets, dict):
        raise ValidationError("secrets must be an object", fields={"secrets": "not an object"})
    field_error("secrets", check_json, new_secrets)
    # A masked value sent back unchanged keeps the stored secret.
    secrets = {**old_secrets, **{k: v for k, v in new_secrets.items() if v != SECRET_MASK}}
    config, secrets = sender(channel.kind).validate(config, secrets)
    channel.config = config
    channel.secrets = crypto.seal(secrets)


def channel_get(channel_ref: int | str) -> Channel:
    qs = Channel.objects.all()
    channel = qs.filter(pk=int(channel_ref)).first() if str(channel_ref).isdigit() else None
    channel = channel or qs.filter(name=str(channel_ref)).first()
    if channel is None:
        raise NotFound(f"channel {channel_ref} not found")
    return channel


def channel_create(data: dict[str, Any], *, actor: Actor) -> Channel:
    """Create a channel from {name, kind, config, secrets, min_severity,
    is_default, escalation, enabled}. Validates everything before saving
    (nothing half-saved); Conflict on a duplicate name. Audited (secrets masked)."""
    for field in ("name", "kind"):
        if not data.get(field):
            raise ValidationError(f"{field} is required", fields={field: "required"})
    channel = Channel()
    _apply(channel, data)
    with transaction.atomic():
        if Channel.objects.filter(name=channel.name).exists():
            raise Conflict(f"channel {channel.name} already exists", fields={"name": "taken"})
        channel.save()
        audit_record(
            actor=actor,
            action="channel.create",
            target_type="channel",
            target=channel.name,
            changes=diff_fields({}, _snapshot(channel), frozenset({"secrets"})),
        )
    return channel


def channel_ensure_default(*, actor: Actor) -> Channel | None:
    """Make sure alerts reach someone: when no enabled default channel
    exists and there is no channel named `log` (an operator's own, left
    alone), create the default `log` channel (alerts in the worker's output).
    Returns the channel created, or None. For `make run`; idempotent."""
    if Channel.objects.filter(is_default=True, enabled=True).exists():
        return None
    if Channel.objects.filter(name="log").exists():
        return None
    return channel_create({"name": "log", "kind": ChannelKind.LOG, "is_default": True}, actor=actor)


def channel_update(channel_ref: int | str, data: dict[str, Any], *, actor: Actor) -> Channel:
    """Change some fields of a channel (PATCH semantics). Same validation as
    create; Conflict when renaming onto an existing name. Audited."""
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=channel_get(channel_ref).pk)
        before = _snapshot(channel)
        _apply(channel, data)
        if Channel.objects.filter(name=channel.name).exclude(pk=channel.pk).exists():
            raise Conflict(f"channel {channel.name} already exists", fields={"name": "taken"})
        channel.save()
        changes = diff_fields(before, _snapshot(channel), frozenset({"secrets"}))
        audit_record(
            actor=actor,
            action="channel.update",
            target_type="channel",
            target=channel.name,
            changes=changes,
        )
    return channel


def channel_test(channel_ref: int | str, *, actor: Actor) -> Delivery:
    """Send a test message through the channel now (one attempt, recorded
    like any delivery) and return the delivery with its outcome. Audited."""
    from alerts.services.delivery import delivery_attempt

    channel = channel_get(channel_ref)
    now = timezone.now()
    subject = f"[test] Jobwarden test notification for channel {channel.name}"
    payload: dict[str, Any] = {
        "event": NotificationEvent.TEST,
        "subject": subject,
        "text": f"This is a test notification sent by {actor.name} at {now.isoformat()}.",
        "alert": {"id": None, "type": "test", "severity": "low", "title": subject},
        "suppressed": None,
        "url": None,
        "recipients": [],
    }
    with transaction.atomic():
        notification = Notification.objects.create(event=NotificationEvent.TEST, created_at=now)
        delivery = Delivery.objects.create(
            notification=notification,
            channel=channel,
            kind=channel.kind,
            target=channel.name,
            payload=payload,
        )
        audit_record(actor=actor, action="channel.test", target_type="channel", target=channel.name)
    delivery_attempt(delivery.pk, single=True)
    delivery.refresh_from_db()
    return delivery
