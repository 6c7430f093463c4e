"""`jobs apply`: create or update many jobs from spec files, all or nothing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from jobs.actors import Actor
from jobs.models import Job, JobSource
from jobs.secrets import unfilled_masks
from jobs.services.jobs.lifecycle import save_spec
from jobs.services.jobs.permissions import check_definition_permission
from jobs.specs import kind_problems, raise_problems, validate_batch


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
    transaction; one bad spec saves nothing, and the ValidationError lists
    every problem of every spec (`.problems`). Idempotent: re-applying the same
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
        validated, problems = validate_batch(
            items, existing=existing, read_only="ignore", validate_kind=False
        )
        # Permission before the kind checks: a refused actor learns nothing
        # about targets or connections from their errors.
        for spec in validated:
            check_definition_permission(actor, spec, existing.get(spec.name))
        problems += kind_problems(validated)
        for spec in validated:
            job = existing.get(spec.name)
            for field in unfilled_masks(
                spec.values["kind"], spec.values["config"], job.secrets if job else ""
            ):
                problems.append(
                    f"job {spec.name!r}: {field}: the value is masked (an export from "
                    "another instance?) and no secret is stored for it; enter the value"
                )
        raise_problems(problems)
        for spec in validated:
            job = existing.get(spec.name)
            if job is None:
                report.created.append(spec.name)
                if not dry_run:
                    save_spec(Job(), spec, actor=actor, reason=reason, source=JobSource.DATABASE)
                continue
            changed = spec.changed_fields(job)
            if not changed:
                report.unchanged.append(spec.name)
                continue
            report.changed[spec.name] = changed
            if not dry_run:
                save_spec(job, spec, actor=actor, reason=reason, changed=changed)
    return report
