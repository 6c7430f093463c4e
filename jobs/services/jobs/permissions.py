"""Who may define what, whatever door the change came through.

`jobs.manage_execution_jobs` is needed for every definition that decides
what runs, where, or against which database beyond vetted code:
* process and SQL jobs (the new kind and the saved one);
* parameter queries (SQL run before a job of any kind), set or changed;
* the database a job's SQL reaches: `config.connections` (and a python
  job's `config.connection` / `config.database`), set or changed;
* a python target that is not registered in code (@job / @runnable), e.g.
  one allowed only by a JOBS_PYTHON_ALLOWED_TARGETS prefix.

Owning a job is not a role: a user who may edit a job only because they own
it (no `jobs.change_job`) may change OWNER_FIELDS -- how it is described,
scheduled, monitored and notified -- never what runs or where.

Fails closed: an actor without a user is trusted only if it is the system
itself or the machine's operator at the command line (`Actor.cli`); an
anonymous caller is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model

from jobs.actors import Actor
from jobs.errors import Forbidden
from jobs.models import Job, JobKind
from jobs.specs import JobSpec, job_spec_values
from jobs.specs.fields import MONITORING_FIELDS

EXECUTION_KINDS = (JobKind.PROCESS, JobKind.SQL)
EXECUTION_PERM = "jobs.manage_execution_jobs"
# Config keys that name the database a job's SQL (or its python code) reaches.
DATABASE_CONFIG_KEYS = ("connections", "connection", "database")
# What an owner without the admin role may change on their own job.
OWNER_FIELDS = frozenset(
    {
        "display_name",
        "description",
        "enabled",
        "cron",
        "timezone",
        "run_at",
        "tags",
        *MONITORING_FIELDS,
    }
)
_TRUSTED_SOURCES = ("system", "cli")


def is_trusted_machine(actor: Actor) -> bool:
    """The system itself, or the machine's operator at the command line."""
    return actor.user_id is None and actor.source in _TRUSTED_SOURCES


def _user(actor: Actor) -> Any:
    if actor.user_id is None:
        return None
    return get_user_model().objects.filter(pk=actor.user_id, is_active=True).first()


def _may_manage_execution(actor: Actor) -> bool:
    if is_trusted_machine(actor):
        return True
    user = _user(actor)
    return user is not None and user.has_perm(EXECUTION_PERM)


def _needs_execution(field: str, actor: Actor, what: str, job: str | None = None) -> Forbidden:
    label = f"job {job!r}: " if job else ""
    return Forbidden(
        f"{label}{actor.name} may not {what} (needs the 'manage_execution_jobs' permission)",
        fields={field: "needs manage_execution_jobs"},
    )


def check_execution_permission(actor: Actor, kinds: Iterable[str]) -> None:
    """Process and SQL jobs run what their config says: only users with the
    dedicated permission may define (or delete) them."""
    if not any(k in EXECUTION_KINDS for k in kinds) or _may_manage_execution(actor):
        return
    raise _needs_execution("kind", actor, "create or edit process or SQL jobs")


def sets_parameter_queries(spec: JobSpec, existing: Job | None) -> bool:
    """Whether saving `spec` over `existing` (None: a new job) would store
    parameter queries that are not already there. Clearing them is not
    (it runs less SQL, not more)."""
    queries = spec.values.get("parameter_queries") or []
    if not queries:
        return False
    return existing is None or queries != (existing.parameter_queries or [])


def _changed_database_keys(spec: JobSpec, before: dict[str, Any] | None) -> list[str]:
    old = (before or {}).get("config") or {}
    new = spec.config_over(old) or {}
    return [k for k in DATABASE_CONFIG_KEYS if new.get(k) and new.get(k) != old.get(k)]


def _sets_unregistered_target(spec: JobSpec, existing: Job | None) -> bool:
    from jobs.execution.kinds.python import is_registered_target

    values = spec.values
    if values["kind"] != JobKind.PYTHON:
        return False
    unchanged = (
        existing is not None
        and existing.kind == JobKind.PYTHON
        and existing.target == values["target"]
    )
    return not unchanged and not is_registered_target(values["target"])


def _execution_refusal(spec: JobSpec, existing: Job | None, actor: Actor) -> Forbidden | None:
    """Why `actor` (without manage_execution_jobs) may not save `spec`, if so."""
    if sets_parameter_queries(spec, existing):
        what = "set parameter_queries (SQL run before the job)"
        return _needs_execution("parameter_queries", actor, what, spec.name)
    before = job_spec_values(existing) if existing is not None else None
    changed = _changed_database_keys(spec, before)
    if changed:
        what = f"set config.{changed[0]} (the database the job's SQL reaches)"
        return _needs_execution(f"config.{changed[0]}", actor, what, spec.name)
    if _sets_unregistered_target(spec, existing):
        what = "choose a python target that is not registered in code (@job or @runnable)"
        return _needs_execution("target", actor, what, spec.name)
    return None


def _check_owner_edit(actor: Actor, spec: JobSpec, existing: Job) -> None:
    """A user without jobs.change_job edits only as the job's owner, and only
    OWNER_FIELDS."""
    user = _user(actor)
    if user is None:
        raise Forbidden(f"job {existing.name!r}: {actor.name} is not an active user")
    if user.has_perm("jobs.change_job"):
        return
    if existing.owner_id != user.pk:
        raise Forbidden(
            f"job {existing.name!r}: {actor.name} may not edit this job (needs the admin role)"
        )
    outside = [f for f in spec.changed_fields(existing) if f not in OWNER_FIELDS]
    if outside:
        raise Forbidden(
            f"job {existing.name!r}: {outside[0]}: owning a job does not allow changing it "
            "(owners may change only the description, schedule, monitoring and notifications)",
            fields={f: "needs the admin role" for f in outside},
        )


def check_definition_permission(actor: Actor, spec: JobSpec, existing: Job | None) -> None:
    """Everything a definition change needs beyond add/change_job (module
    docstring). Raises Forbidden naming the first field refused."""
    if is_trusted_machine(actor):
        return
    if existing is not None and actor.user_id is not None:
        _check_owner_edit(actor, spec, existing)
    kinds = [spec.values["kind"]] + ([existing.kind] if existing is not None else [])
    check_execution_permission(actor, kinds)
    if _may_manage_execution(actor):
        return
    refusal = _execution_refusal(spec, existing, actor)
    if refusal is not None:
        raise refusal
