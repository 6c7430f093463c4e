"""Writes to job definitions: create, update, delete, enable, disable, apply,
and the sync of code-defined jobs (the deploy rule, see jobs.definitions).

Every function here:
* validates through jobs.specs (one shape for every door),
* runs in one transaction that also keeps beat's schedule in step
  (jobs.services.scheduling.schedule_sync) and writes one audit record per
  changed job (secrets masked),
* refuses a user without `jobs.manage_execution_jobs` for process and SQL
  jobs, and for setting or changing `parameter_queries` (SQL run before a
  job of any kind), whatever door the call came through,
* raises jobs.errors (ValidationError, NotFound, Forbidden) and leaves
  nothing half-saved.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from jobs.actors import Actor
from jobs.errors import Forbidden, NotFound, ValidationError
from jobs.models import Job, JobKind, JobSource
from jobs.services.audit import audit_record, diff_fields
from jobs.services.scheduling import schedule_sync
from jobs.specs import (
    SPEC_FIELDS,
    JobSpec,
    job_spec_values,
    validate_spec,
    validate_specs,
)

log = logging.getLogger(__name__)

EXECUTION_KINDS = (JobKind.PROCESS, JobKind.SQL)
REMOVED_FROM_CODE = "removed from code"


# --- helpers ----------------------------------------------------------------


def _may_manage_execution(actor: Actor) -> bool:
    """System/CLI actors have no user and are trusted; a user needs the permission."""
    if actor.user_id is None:
        return True
    user: Any = get_user_model().objects.filter(pk=actor.user_id).first()
    return user is not None and user.has_perm("jobs.manage_execution_jobs")


def check_execution_permission(actor: Actor, kinds: Iterable[str]) -> None:
    """Process and SQL jobs run what their config says: only users with the
    dedicated permission may define them. System/CLI actors have no user."""
    if not any(k in EXECUTION_KINDS for k in kinds) or _may_manage_execution(actor):
        return
    raise Forbidden(
        f"{actor.name} may not create or edit process or SQL jobs "
        "(needs the 'manage_execution_jobs' permission)"
    )


def sets_parameter_queries(spec: JobSpec, existing: Job | None) -> bool:
    """Whether saving `spec` over `existing` (None: a new job) would store
    parameter queries that are not already there. Clearing them is not
    (it runs less SQL, not more)."""
    queries = spec.values.get("parameter_queries") or []
    if not queries:
        return False
    return existing is None or queries != (existing.parameter_queries or [])


def check_definition_permission(actor: Actor, spec: JobSpec, existing: Job | None) -> None:
    """Everything a definition change needs beyond add/change_job: process
    and SQL kinds (the new one and the saved one) and parameter queries,
    which run SQL before a job of any kind, need `manage_execution_jobs`."""
    kinds = [spec.values["kind"]] + ([existing.kind] if existing is not None else [])
    check_execution_permission(actor, kinds)
    if sets_parameter_queries(spec, existing) and not _may_manage_execution(actor):
        raise Forbidden(
            f"job {spec.name!r}: {actor.name} may not set parameter_queries "
            "(SQL run before the job; needs the 'manage_execution_jobs' permission)",
            fields={"parameter_queries": "needs manage_execution_jobs"},
        )


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


def _save_spec(
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


# --- create / update / delete -------------------------------------------------


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
        return _save_spec(Job(), validated, actor=actor, reason=reason, source=JobSource.DATABASE)


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
        return _save_spec(job, validated, actor=actor, reason=reason, changed=changed)


def job_delete(name: str, *, actor: Actor, reason: str = "") -> None:
    """Delete a job, its beat entry and its run history. Raises NotFound,
    Forbidden. To keep history, disable instead."""
    with transaction.atomic():
        job = _get_locked(name)
        check_execution_permission(actor, [job.kind])
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

        schedule_remove(job.name)
        job.delete()


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


# --- apply --------------------------------------------------------------------


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)  # name -> changed fields
    unchanged: list[str] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "dry_run": self.dry_run,
        }

    def lines(self) -> list[str]:
        verb = "would be " if self.dry_run else ""
        out = [f"created   {name}" for name in self.created]
        out += [f"changed   {name}: {', '.join(fields)}" for name, fields in self.changed.items()]
        out += [f"unchanged {name}" for name in self.unchanged]
        out.append(
            f"{len(self.created)} {verb}created, {len(self.changed)} {verb}changed, "
            f"{len(self.unchanged)} unchanged"
        )
        return out


def jobs_apply(
    specs: Iterable[Any], *, actor: Actor, dry_run: bool = False, reason: str = "jobs apply"
) -> ApplyReport:
    """Create or update every job in `specs` (full specs: an omitted key takes
    its default, except `enabled`, which keeps the saved state).

    All-or-nothing: every spec is validated before anything is written, in one
    transaction; one bad spec saves nothing. Idempotent: re-applying the same
    specs changes nothing and audits nothing. Jobs not named are left alone.
    `dry_run` validates and reports without writing.
    """
    items = list(specs)
    names = [
        d.get("name") for d in items if isinstance(d, Mapping) and isinstance(d.get("name"), str)
    ]
    report = ApplyReport(dry_run=dry_run)
    with transaction.atomic():
        existing = {j.name: j for j in Job.objects.select_for_update().filter(name__in=names)}
        validated = validate_specs(
            items, existing=existing, read_only="ignore", validate_kind=False
        )
        for spec in validated:
            check_definition_permission(actor, spec, existing.get(spec.name))
        for spec in validated:
            spec.check_kind()
        for spec in validated:
            job = existing.get(spec.name)
            if job is None:
                report.created.append(spec.name)
                if not dry_run:
                    _save_spec(Job(), spec, actor=actor, reason=reason, source=JobSource.DATABASE)
                continue
            changed = spec.changed_fields(job)
            if not changed:
                report.unchanged.append(spec.name)
                continue
            report.changed[spec.name] = changed
            if not dry_run:
                _save_spec(job, spec, actor=actor, reason=reason, changed=changed)
    return report


# --- code-defined jobs (see jobs.definitions for the deploy rule) --------------


def _code_fingerprint(values: Mapping[str, Any]) -> dict[str, Any]:
    """What Job.code_spec stores: the code definition, with the config as a
    digest so a secret written in code never lands in clear in this column."""
    stored = dict(values)
    blob = json.dumps(values["config"], sort_keys=True, default=str).encode()
    stored["config"] = {"sha256": hashlib.sha256(blob).hexdigest()}
    return stored


def job_sync_code(data: Mapping[str, Any], *, actor: Actor) -> tuple[str, list[str]]:
    """Upsert one code-defined job under the deploy rule.

    For each field, the code value is applied only if it differs from the
    code value synced last time (Job.code_spec): a developer's change in code
    wins, an operator's change in the database otherwise survives. A job
    disabled because it was removed from code is enabled again when it comes
    back. Returns (outcome, changed fields); outcome is created / changed /
    unchanged / conflict (a database-defined job already has the name: it is
    left alone). Transactional; raises ValidationError for a bad definition.
    """
    with transaction.atomic():
        code = validate_spec(data)  # the pure code definition, defaults filled
        fingerprint = _code_fingerprint(code.values)
        job = Job.objects.select_for_update().filter(name=code.name).first()
        if job is None:
            _save_spec(
                Job(),
                code,
                actor=actor,
                reason="defined in code",
                source=JobSource.CODE,
                code_spec=fingerprint,
            )
            return "created", list(SPEC_FIELDS)
        if job.source != JobSource.CODE:
            log.warning(
                "code job %r not synced: a %s-defined job has that name", code.name, job.source
            )
            return "conflict", []

        previous = job.code_spec or {}
        merged = job_spec_values(job)
        for name in SPEC_FIELDS:
            if name not in previous or previous[name] != fingerprint[name]:
                merged[name] = code.values[name]
        if not job.enabled and job.disabled_reason == REMOVED_FROM_CODE:
            merged["enabled"] = code.values["enabled"]
        spec = validate_spec(merged, existing=job)
        changed = spec.changed_fields(job)
        if not changed:
            if previous != fingerprint:
                Job.objects.filter(pk=job.pk).update(code_spec=fingerprint)
            return "unchanged", []
        _save_spec(
            job,
            spec,
            actor=actor,
            reason="code definition changed",
            changed=changed,
            code_spec=fingerprint,
        )
        return "changed", changed


def jobs_retire_code(present: Iterable[str], *, actor: Actor) -> list[str]:
    """Disable code-defined jobs that are no longer in code (reason "removed
    from code"; history kept). Returns the names disabled. Idempotent."""
    gone = (
        Job.objects.filter(source=JobSource.CODE, enabled=True)
        .exclude(name__in=list(present))
        .values_list("name", flat=True)
    )
    retired = []
    for name in list(gone):
        job_disable(name, actor=actor, reason=REMOVED_FROM_CODE)
        retired.append(name)
    return retired
