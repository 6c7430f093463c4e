"""All writes of the monitoring app: stored health, retention, and the
"retry the last failed run" operation (API tokens: monitoring.tokens).

Each function says what it guarantees. Errors are jobs.errors types.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.actors import Actor
from jobs.errors import Conflict, NotFound, ValidationError
from jobs.models import Job, JobRun, RunStatus
from jobs.services.audit import audit_record
from monitoring.health import evaluate
from monitoring.models import HealthEvent, HealthLevel, JobHealth
from monitoring.selectors.health import health_facts
from monitoring.signals import health_changed

log = logging.getLogger(__name__)


# --- health -------------------------------------------------------------------


def health_refresh(
    job_names: Iterable[str] | None = None, *, now: datetime | None = None
) -> dict[str, Any]:
    """Re-evaluate and store the health of the named jobs (all when None).

    A fixed number of queries whatever the number of jobs (facts in four
    aggregate queries, one upsert, one insert of events). Each level change
    is recorded as a HealthEvent and announced with monitoring.signals.
    health_changed after commit. Safe to run concurrently with itself: the
    stored rows are locked while compared and written. Returns a summary
    {"jobs": n, "levels": {level: n}, "changed": [{job, previous, current}]}.
    """
    now = now or timezone.now()
    ids = None
    if job_names is not None:
        ids = list(Job.objects.filter(name__in=list(job_names)).values_list("pk", flat=True))
        if not ids:
            return {"jobs": 0, "levels": {}, "changed": []}
    return _refresh(ids, now)


def health_refresh_job(job_id: int, *, now: datetime | None = None) -> dict[str, Any]:
    """health_refresh for one job by id (the per-run path already has it)."""
    return _refresh([job_id], now or timezone.now())


def _refresh(ids: list[int] | None, now: datetime) -> dict[str, Any]:
    facts = health_facts(ids, now)
    verdicts: dict[int, tuple[str, list[dict]]] = {}
    fire_cache: dict = {}
    for f in facts:
        try:
            verdicts[f.job_id] = evaluate(f, now, fire_cache=fire_cache)
        except Exception:
            # One job's bad row (a duration saved before the bounds, a rule's
            # bug) keeps its stored health; every other job is still refreshed.
            log.exception("health of job %s not evaluated", f.name)
    levels: dict[str, int] = dict.fromkeys(HealthLevel.values, 0)
    changed: list[tuple[int, str, str, list[dict]]] = []
    with transaction.atomic():
        stored_qs = JobHealth.objects.select_for_update().order_by("job_id")
        if ids is not None:
            stored_qs = stored_qs.filter(job_id__in=ids)
        stored = {h.pk: h for h in stored_qs}  # the primary key is the job id
        rows = []
        for job_id, (level, issues) in verdicts.items():
            levels[level] += 1
            prev = stored.get(job_id)
            prev_level = prev.level if prev else HealthLevel.UNKNOWN.value
            if prev_level != level:
                changed.append((job_id, prev_level, level, issues))
            rows.append(
                JobHealth(
                    job_id=job_id,
                    level=level,
                    issues=issues,
                    checked_at=now,
                    level_since=prev.level_since if prev and prev_level == level else now,
                    reset_at=prev.reset_at if prev else None,
                )
            )
        JobHealth.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["job"],
            update_fields=["level", "issues", "checked_at", "level_since"],
            batch_size=1000,
        )
        if changed:
            HealthEvent.objects.bulk_create(
                [
                    HealthEvent(job_id=j, at=now, previous=p, current=c, issues=i)
                    for j, p, c, i in changed
                ]
            )
            transaction.on_commit(lambda: _announce(changed))
    names = (
        dict(Job.objects.filter(pk__in=[c[0] for c in changed]).values_list("pk", "name"))
        if changed
        else {}
    )
    return {
        "jobs": len(verdicts),
        "levels": levels,
        "changed": [
            {"job": names.get(j, j), "previous": p, "current": c} for j, p, c, _ in changed
        ],
    }


def _announce(changed: list[tuple[int, str, str, list[dict]]]) -> None:
    jobs = Job.objects.in_bulk([c[0] for c in changed])
    for job_id, previous, current, issues in changed:
        job = jobs.get(job_id)
        if job is None:
            continue
        try:
            health_changed.send(
                sender=JobHealth, job=job, previous=previous, current=current, issues=issues
            )
        except Exception:  # one bad receiver must not hide the others' changes
            log.exception("health_changed receiver failed for %s", job.name)


def health_reset(job_name: str, *, actor: Actor, reason: str = "") -> JobHealth:
    """An operator's "I dealt with it": consecutive failures and last error
    are cleared and the window rules (success rate, durations) only count
    runs after now; health is then re-evaluated. Transactional, audited
    (health.reset). Raises NotFound."""
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(name=job_name).first()
        if job is None:
            raise NotFound(f"unknown job {job_name!r}", fields={"job": "not found"})
        before_level = (
            JobHealth.objects.filter(job=job).values_list("level", flat=True).first()
            or HealthLevel.UNKNOWN
        )
        before = {"consecutive_failures": job.consecutive_failures, "last_error": job.last_error}
        Job.objects.filter(pk=job.pk).update(consecutive_failures=0, last_error="")
        JobHealth.objects.update_or_create(job=job, defaults={"reset_at": now})
        health_refresh_job(job.pk, now=now)
        health = JobHealth.objects.get(job=job)
        changes = {
            k: [v, after]
            for k, v, after in (
                ("consecutive_failures", before["consecutive_failures"], 0),
                ("last_error", before["last_error"], ""),
                ("health", str(before_level), health.level),
            )
            if v != after
        }
        audit_record(
            actor=actor,
            action="health.reset",
            target_type="job",
            target=job.name,
            job_name=job.name,
            changes=changes,
            reason=reason,
        )
    return health


# --- retention ------------------------------------------------------------------


# A century: beyond it a cut-off date cannot be computed, and no run is older.
MAX_RETENTION_DAYS = 36_500


def runs_cleanup(
    older_than_days: Any,
    *,
    actor: Actor,
    batch_size: int | None = None,
    on_batch: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> int:
    """Delete finished runs queued more than `older_than_days` days ago, in
    batches of `batch_size` (MONITORING_CLEANUP_BATCH_SIZE), each its own short
    transaction so recording never waits long on the table. Queued and
    running runs are never deleted. Returns the number of runs deleted and
    writes one audit record (runs.cleanup) with it. `on_batch(total)` is
    called after each batch (the system job heartbeats there). Raises
    ValidationError for a bad age."""
    try:
        days = int(older_than_days)
    except (TypeError, ValueError):
        raise ValidationError(
            f"older_than_days: {older_than_days!r} is not a whole number of days",
            fields={"older_than_days": "expected a whole number >= 1"},
        ) from None
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise ValidationError(
            f"older_than_days must be between 1 and {MAX_RETENTION_DAYS}",
            fields={"older_than_days": f"expected 1..{MAX_RETENTION_DAYS}"},
        )
    size = int(batch_size or settings.MONITORING_CLEANUP_BATCH_SIZE)
    if size < 1:
        raise ValidationError(
            "batch_size must be at least 1", fields={"batch_size": "expected >= 1"}
        )
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = JobRun.objects.filter(queued_at__lt=cutoff).exclude(status__in=RunStatus.active())
    total = 0
    while True:
        with transaction.atomic():
            ids = list(old.order_by("queued_at").values_list("pk", flat=True)[:size])
            if not ids:
                break
            _, per_model = JobRun.objects.filter(pk__in=ids).delete()
            total += per_model.get(JobRun._meta.label, 0)
        if on_batch is not None:
            on_batch(total)
        if len(ids) < size:
            break
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="runs.cleanup",
            target_type="runs",
            target=f"older than {days} days",
            changes={"deleted": [None, total], "cutoff": [None, cutoff.isoformat()]},
        )
    return total


# --- retry ----------------------------------------------------------------------


def run_retry_last_failed(
    job_name: str, *, actor: Actor, trigger: str, reason: str = "", force: bool = False
) -> JobRun:
    """Seed 000's "retry failed job": reset the job's health (health_reset),
    re-enable it if it was auto-disabled (job_enable), and trigger a new run
    with the parameters of its latest failed run (failed, timed out,
    orphaned or retrying) through jobs.services.runs.run_trigger (same
    checks). All in one transaction, each step audited; nothing is changed
    when any step refuses. Raises NotFound, Conflict when the job has no
    failed run or was disabled by a person (unless force), Unavailable when
    the broker cannot be reached."""
    from jobs.services.jobs import job_enable
    from jobs.services.runs import run_overrides, run_trigger

    failed = _last_failed_run(job_name)
    note = f"retry of run {failed.pk}" + (f": {reason}" if reason else "")
    # One transaction: run_trigger asks the broker before it records the run,
    # so a retry that cannot be sent rolls back the reset and the enable too.
    with transaction.atomic():
        health_reset(job_name, actor=actor, reason=note)
        if failed.job.is_auto_disabled:
            job_enable(job_name, actor=actor, reason=note)
        return run_trigger(
            job_name,
            actor=actor,
            trigger=trigger,
            # The failed run's own trigger-time values (sealed secrets included),
            # not its resolved parameters: macros such as {now} resolve afresh.
            parameters=run_overrides(failed),
            reason=note,
            force=force,
            replayed=True,
        )


def _last_failed_run(job_name: str) -> JobRun:
    job = Job.objects.filter(name=job_name).first()
    if job is None:
        raise NotFound(f"unknown job {job_name!r}", fields={"job": "not found"})
    failed = (
        JobRun.objects.filter(job=job, status__in=RunStatus.failures())
        .order_by("-queued_at", "-id")
        .only("pk", "parameters", "metadata", "job_id")
        .first()
    )
    if failed is None:
        raise Conflict(
            f"job {job_name!r} has no failed run to retry",
            fields={"job": "no failed run"},
            code="no_failed_run",
        )
    failed.job = job
    return failed
