"""The audit trail: one append-only record per management operation."""

from __future__ import annotations

from typing import Any

from jobs.actors import Actor
from jobs.models import AuditEvent

SECRET_MASK = "********"


def audit_record(
    *,
    actor: Actor,
    action: str,
    target_type: str,
    target: str,
    job_name: str = "",
    changes: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    """Write one audit record. Call inside the transaction of the change it
    describes, so the record exists exactly when the change does."""
    return AuditEvent.objects.create(
        actor=actor.name,
        actor_user_id=actor.user_id,
        source=actor.source,
        client_ip=actor.client_ip,
        action=action,
        target_type=target_type,
        target=target,
        job_name=job_name,
        changes=changes or {},
        reason=reason or "",
    )


def diff_fields(
    before: dict[str, Any], after: dict[str, Any], secret_fields: frozenset[str] = frozenset()
) -> dict[str, list[Any]]:
    """{field: [before, after]} for the fields that changed; secrets masked."""
    changed: dict[str, list[Any]] = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            if key in secret_fields:
                old, new = (SECRET_MASK if old else old), (SECRET_MASK if new else new)
            changed[key] = [old, new]
    return changed
