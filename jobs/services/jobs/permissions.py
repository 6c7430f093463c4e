"""Who may define what: process and SQL jobs, and parameter queries (SQL run
before a job of any kind), need `jobs.manage_execution_jobs`, whatever door
the change came through."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model

from jobs.actors import Actor
from jobs.errors import Forbidden
from jobs.models import Job, JobKind
from jobs.specs import JobSpec

EXECUTION_KINDS = (JobKind.PROCESS, JobKind.SQL)


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
