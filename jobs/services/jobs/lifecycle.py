"""Create, update, delete, enable and disable one job, and `save_spec`, the
one place a validated spec is written to a row (apply and the code sync use
it too)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from jobs.actors import Actor
from jobs.errors import Conflict, NotFound, ValidationError
from jobs.models import Job, JobSource
from jobs.services.audit import audit_record, diff_fields
from jobs.services.jobs.permissions import check_definition_permission, check_execution_permission
from jobs.services.scheduling import schedule_sync
from jobs.specs import JobSpec, job_spec_values, validate_spec


def _get_locked(name: str) -> Job:
    job = Job.objects.select_for_update().filter(name=name).first()
    if job is None:
        raise NotFound(f"job {name!r} not found", fields={"name": "not found"})
    return job


def _audit_changes(
    before: dict[str, Any], after: dict[str, Any], changed: Iterable[str]
) -> dict[str, Any]:
    """{field: [before, after]} over masked views; a secret-only change of the
    config still shows up (as masked values), so the trail never hides it."""
    changes = diff_fields(before, after)
    for name in changed:
        if name not in changes:
            changes[name] = [before.get(name), after.get(name)]
    return changes


def _apply_enabled(job: Job, enabled_before: bool | None, *, actor: Actor, reason: str) -> None:
    """Keep the disabled_* bookkeeping in step with `enabled`."""
    if job.enabled and enabled_before is False:
        job.disabled_reason, job.disabled_at, job.disabled_by = "", None, ""
        # Re-enabling gives the job a fresh auto-disable budget.
        job.consecutive_failures = 0
    elif not job.enabled and enabled_before is not False:
        job.disabled_reason = reason or f"disabled by {actor.name}"
        job.disabled_at = timezone.now()
        job.disabled_by = actor.name


def _announce_enabled(job: Job, enabled_before: bool | None, *, actor: Actor) -> None:
    """Tell receivers (alerts resolves the auto-disable alert) that a disabled
    job is enabled again; within the caller's transaction."""
    if job.enabled and enabled_before is False:
        from jobs.signals import job_enabled

        job_enabled.send(sender=Job, job=job, actor=actor)


def save_spec(
    job: Job,
    spec: JobSpec,
    *,
    actor: Actor,
    reason: str = "",
    changed: list[str] | None = None,
    source: str | None = None,
    code_spec: dict[str, Any] | None = None,
) -> Job:
    """Assign `spec` to `job`, save, sync the schedule, audit. In a transaction."""
    creating = job.pk is None
    before = {} if creating else job_spec_values(job, secrets="masked")
    enabled_before = None if creating else job.enabled
    spec.assign(job)
    if source is not None:
        job.source = source
    if code_spec is not None:
        job.code_spec = code_spec
    _apply_enabled(job, enabled_before, actor=actor, reason=reason)
    job.save()
    schedule_sync(job)
    _announce_enabled(job, enabled_before, actor=actor)
    after = job_spec_values(job, secrets="masked")
    audit_record(
        actor=actor,
        action="job.create" if creating else "job.update",
        target_type="job",
        target=job.name,
        job_name=job.name,
        changes=_audit_changes(before, after, changed or []),
        reason=reason,
    )
    return job


def job_create(spec: Mapping[str, Any], *, actor: Actor, reason: str = "") -> Job:
    """Create a job from a spec (keys of the job JSON). Transactional.

    Raises ValidationError (bad spec, or a job of that name exists) and
    Forbidden (process/SQL job or parameter queries without the permission)."""
    with transaction.atomic():
        validated = validate_spec(spec, validate_kind=False)
        check_definition_permission(actor, validated, None)
        validated.check_kind()
        if Job.objects.filter(name=validated.name).exists():
            raise ValidationError(
                f"job {validated.name!r}: name: a job with this name already exists",
                fields={"name": "already exists"},
            )
        return save_spec(Job(), validated, actor=actor, reason=reason, source=JobSource.DATABASE)


def job_update(name: str, changes: Mapping[str, Any], *, actor: Actor, reason: str = "") -> Job:
    """Change some fields of a job (a PATCH: only the keys given change).

    Idempotent: changes equal to the saved values write nothing and audit
    nothing. Raises NotFound, ValidationError, Forbidden."""
    with transaction.atomic():
        job = _get_locked(name)
        validated = validate_spec(changes, existing=job, partial=True, validate_kind=False)
        check_definition_permission(actor, validated, job)
        validated.check_kind()
        changed = validated.changed_fields(job)
        if not changed:
            return job
        return save_spec(job, validated, actor=actor, reason=reason, changed=changed)


def job_delete(name: str, *, actor: Actor, reason: str = "") -> None:
    """Delete a job, its beat entry and its run history. Raises NotFound,
    Forbidden, Conflict for a job still defined in code. To keep history,
    disable instead."""
    with transaction.atomic():
        job = _get_locked(name)
        check_execution_permission(actor, [job.kind])
        _refuse_code_defined(job)
        before = job_spec_values(job, secrets="masked")
        audit_record(
            actor=actor,
            action="job.delete",
            target_type="job",
            target=job.name,
            job_name=job.name,
            changes={k: [v, None] for k, v in before.items() if v not in (None, "", [], {})},
            reason=reason,
        )
        from jobs.services.scheduling import schedule_remove

        schedule_remove(job.name, job.pk)
        job.delete()


def _refuse_code_defined(job: Job) -> None:
    """The next `jobs sync` (every deploy) would create a code-defined job
    again: only one already retired from code may be deleted."""
    from jobs.services.jobs.codesync import REMOVED_FROM_CODE

    if job.source == JobSource.CODE and job.disabled_reason != REMOVED_FROM_CODE:
        raise Conflict(
            f"job {job.name!r} is defined in code: remove its @job from code (the next "
            "sync disables it) or disable it instead",
            fields={"name": "defined in code"},
            code="defined_in_code",
        )


# --- enable / disable ---------------------------------------------------------


def job_enable(name: str, *, actor: Actor, reason: str = "") -> Job:
    """Enable a job; its schedule applies again within seconds.

    Idempotent (an enabled job is left alone, nothing audited). Clears the
    disabled reason and resets consecutive failures, so an auto-disabled job
    gets a fresh budget. Raises NotFound."""
    with transaction.atomic():
        job = _get_locked(name)
        if job.enabled:
            return job
        before = {"enabled": False, "disabled_reason": job.disabled_reason}
        job.enabled = True
        _apply_enabled(job, False, actor=actor, reason=reason)
        job.save(
            update_fields=[
                "enabled",
                "disabled_reason",
                "disabled_at",
                "disabled_by",
                "consecutive_failures",
                "updated_at",
            ]
        )
        schedule_sync(job)
        _announce_enabled(job, False, actor=actor)
        audit_record(
            actor=actor,
            action="job.enable",
            target_type="job",
            target=job.name,
            job_name=job.name,
            changes=diff_fields(before, {"enabled": True, "disabled_reason": ""}),
            reason=reason,
        )
        return job


def job_disable(name: str, *, actor: Actor, reason: str = "", action: str = "job.disable") -> Job:
    """Disable a job: beat stops firing it, a queued run is skipped at start.

    Idempotent: an already disabled job keeps its original reason, time and
    actor, nothing is audited. Raises NotFound."""
    with transaction.atomic():
        job = _get_locked(name)
        if not job.enabled:
            return job
        job.enabled = False
        _apply_enabled(job, True, actor=actor, reason=reason)
        job.save(
            update_fields=["enabled", "disabled_reason", "disabled_at", "disabled_by", "updated_at"]
        )
        schedule_sync(job)
        audit_record(
            actor=actor,
            action=action,
            target_type="job",
            target=job.name,
            job_name=job.name,
            changes={"enabled": [True, False], "disabled_reason": ["", job.disabled_reason]},
            reason=reason,
        )
        return job
