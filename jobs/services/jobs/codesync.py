"""Code-defined jobs: the sync of @job definitions into rows under the
deploy rule (see jobs.definitions), and retiring those no longer in code."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction

from jobs.actors import Actor
from jobs.models import Job, JobSource
from jobs.services.jobs.lifecycle import job_disable, save_spec
from jobs.specs import SPEC_FIELDS, job_spec_values, validate_spec

log = logging.getLogger(__name__)

REMOVED_FROM_CODE = "removed from code"


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
            save_spec(
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
        save_spec(
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
