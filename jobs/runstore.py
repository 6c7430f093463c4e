"""SQL for the per-run hot path: insert a queued run, claim it, record its end.

Every run passes through these three statements, so they bypass the ORM's
per-query overhead (which alone cost more than Celery itself per no-op run)
but keep its semantics: values are prepared by the model fields, so a field
added to JobRun is written here too. Everything else about runs uses the ORM.

On PostgreSQL the end of a run and the job's live-state update are one
statement (a data-modifying CTE: one round trip, one commit); elsewhere two
statements in one transaction.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction

from jobs.models import Job, JobRun

_RUN_FIELDS = [f for f in JobRun._meta.concrete_fields]
_RUN_TABLE = JobRun._meta.db_table
_JOB_TABLE = Job._meta.db_table
_RUN_BY_ATTNAME = {f.attname: f for f in _RUN_FIELDS}
_JOB_BY_ATTNAME = {f.attname: f for f in Job._meta.concrete_fields}


@contextmanager
def _cursor() -> Iterator[Any]:
    """A cursor for the hot statements. On PostgreSQL it binds parameters on
    the server, so psycopg prepares each (fixed) statement once per
    connection instead of having it parsed and planned for every run."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _prep(field, value: Any) -> Any:
    return field.get_db_prep_save(value, connection)


@lru_cache(maxsize=8)
def _insert_sql(vendor: str) -> str:
    # SQL text is built once per process; only parameters vary per run.
    columns = ", ".join(_q(str(f.column)) for f in _RUN_FIELDS)
    exprs = ", ".join("j.id" if f.attname == "job_id" else "%s" for f in _RUN_FIELDS)
    return (
        f"INSERT INTO {_q(_RUN_TABLE)} ({columns}) SELECT {exprs} "
        f"FROM {_q(_JOB_TABLE)} j WHERE j.name = %s AND (j.enabled = %s OR %s) RETURNING id"
    )


def insert_run_if_enabled(
    job_name: str, values: dict[str, Any], *, force: bool
) -> uuid.UUID | None:
    """INSERT a queued run for the job named `job_name`, in the same statement
    that checks the job exists and is enabled (or `force`). Returns the new
    run's id, or None if no row was inserted."""
    values = {"id": uuid.uuid4(), **values}
    params = [
        _prep(f, values[f.attname] if f.attname in values else f.get_default())
        for f in _RUN_FIELDS
        if f.attname != "job_id"
    ]
    with _cursor() as cursor:
        cursor.execute(_insert_sql(connection.vendor), [*params, job_name, True, bool(force)])
        return values["id"] if cursor.fetchone() else None


_CLAIM_RETURNING = [
    "job_id",
    "attempt",
    "trigger",
    "parameters",
    "metadata",
    "first_attempt_id",
    "queued_at",
    "triggered_by",
    "reason",
    "scheduled_for",
    "cancel_requested_at",
]


@lru_cache(maxsize=8)
def _claim_sql(vendor: str) -> str:
    run, job = _q(_RUN_TABLE), _q(_JOB_TABLE)
    returning = ", ".join(_q(str(_RUN_BY_ATTNAME[a].column)) for a in _CLAIM_RETURNING)
    # The job's updated_at comes back too: a cached definition older than it
    # is re-read, so an edit applies to the very next run.
    return (
        f"UPDATE {run} SET status = 'running', started_at = %s, heartbeat_at = %s, "
        f"worker = %s, pid = %s WHERE id = %s AND status = 'queued' AND (trigger = 'forced' OR "
        f"job_id IN (SELECT id FROM {job} WHERE enabled = %s)) RETURNING {returning}, "
        f"(SELECT j.updated_at FROM {job} j WHERE j.id = {run}.job_id)"
    )


@lru_cache(maxsize=8)
def _claim_converters(vendor: str) -> list[tuple[str, Any, list]]:
    out = []
    for attname in _CLAIM_RETURNING:
        field = _RUN_BY_ATTNAME[attname]
        out.append(
            (
                attname,
                field,
                field.get_db_converters(connection)
                + connection.ops.get_db_converters(field.get_col(field.model._meta.db_table)),
            )
        )
    return out


def claim_run(run_id: str, *, now: datetime, worker: str, pid: int) -> JobRun | None:
    """queued → running, only if the job is enabled or the run is forced.
    Returns the run (without its job) or None if nothing was claimed."""
    f = _RUN_BY_ATTNAME
    when = _prep(f["started_at"], now)
    params = [when, when, worker[:255], pid, _prep(f["id"], run_id), True]
    with _cursor() as cursor:
        cursor.execute(_claim_sql(connection.vendor), params)
        row = cursor.fetchone()
    if row is None:
        return None
    data = {}
    converters = _claim_converters(connection.vendor)
    for (attname, field, field_converters), raw in zip(converters, row[:-1], strict=True):
        for convert in field_converters:
            raw = convert(raw, field, connection)
        data[attname] = raw
    run = JobRun(
        id=uuid.UUID(str(run_id)),
        status="running",
        started_at=now,
        heartbeat_at=now,
        worker=worker,
        pid=pid,
        **data,
    )
    run._job_changed_at = _to_datetime(row[-1])  # type: ignore[attr-defined]
    return run


def _to_datetime(raw: Any) -> datetime | None:
    if raw is None or isinstance(raw, datetime):
        return raw
    field = Job._meta.get_field("updated_at")
    for convert in connection.ops.get_db_converters(field.get_col(field.model._meta.db_table)):
        raw = convert(raw, field, connection)
    return raw


def record_end(
    run_id: Any,
    expected: str,
    run_values: dict[str, Any],
    job_sets: list[tuple[str, str, list[Any]]],
) -> tuple[int, int] | None:
    """Write the run's end and the job's live state atomically.

    `job_sets` are (column, SQL expression with %s, params) evaluated against
    the job row's current values, so concurrent finishes never lose counts.
    Returns (consecutive failures before, after), or None if the run was not
    in `expected` state (then nothing was written).
    """
    run_params = [_prep(_RUN_BY_ATTNAME[a], v) for a, v in run_values.items()]
    run_params += [_prep(_RUN_BY_ATTNAME["id"], run_id), expected]
    job_params = [p for _, _, params in job_sets for p in params]
    sql = _end_sql(connection.vendor, tuple(run_values), tuple((c, e) for c, e, _ in job_sets))
    with _cursor() as cursor:
        if not job_sets:
            cursor.execute(sql.run_update, run_params)
            return (0, 0) if cursor.rowcount else None
        if sql.combined:
            cursor.execute(sql.combined, run_params + job_params)
            row = cursor.fetchone()
            return (row[0], row[1]) if row else None
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.run_update + " RETURNING job_id", run_params)
        row = cursor.fetchone()
        if row is None:
            return None
        cursor.execute(sql.job_before, [row[0]])
        before = cursor.fetchone()[0]
        cursor.execute(sql.job_update, job_params + [row[0]])
        return before, cursor.fetchone()[0]


class _EndSQL(NamedTuple):
    run_update: str
    combined: str | None  # PostgreSQL: run + job in one statement
    job_before: str
    job_update: str


@lru_cache(maxsize=64)
def _end_sql(
    vendor: str, run_attnames: tuple[str, ...], job_shape: tuple[tuple[str, str], ...]
) -> _EndSQL:
    run_sets = ", ".join(f"{_q(str(_RUN_BY_ATTNAME[a].column))} = %s" for a in run_attnames)
    run_update = f"UPDATE {_q(_RUN_TABLE)} SET {run_sets} WHERE id = %s AND status = %s"
    job = _q(_JOB_TABLE)
    job_sql = ", ".join(f"{_q(column)} = {expr}" for column, expr in job_shape)
    combined = None
    if vendor == "postgresql":
        # The sub-select in RETURNING reads the statement's snapshot: the
        # value before this update.
        combined = (
            f"WITH r AS ({run_update} RETURNING job_id) "
            f"UPDATE {job} SET {job_sql} FROM r WHERE {job}.id = r.job_id "
            f"RETURNING (SELECT j0.consecutive_failures FROM {job} j0 WHERE j0.id = r.job_id), "
            f"{job}.consecutive_failures"
        )
    return _EndSQL(
        run_update=run_update,
        combined=combined,
        job_before=f"SELECT consecutive_failures FROM {job} WHERE id = %s",
        job_update=f"UPDATE {job} SET {job_sql} WHERE id = %s RETURNING consecutive_failures",
    )


def job_value(attname: str, value: Any) -> Any:
    """A Python value prepared for a Job column in record_end's job_sets."""
    return _prep(_JOB_BY_ATTNAME[attname], value)


class JobDefinitionCache:
    """Per-process cache of job rows for the per-run path (trigger, claim).

    A definition change (target, config, parameters, timeout, overlap)
    applies within JOBS_DEFINITION_CACHE_SECONDS; whether a job exists and
    is enabled is always checked by the insert and the claim statements
    themselves, never from the cache."""

    def __init__(self) -> None:
        self._rows: dict[Any, tuple[float, Job]] = {}
        self._lock = threading.Lock()

    def get(self, job_id: int) -> Job | None:
        return self._get(job_id, {"pk": job_id})

    def by_name(self, name: str) -> Job | None:
        return self._get(("name", name), {"name": name})

    def _get(self, key: Any, lookup: dict[str, Any]) -> Job | None:
        ttl = settings.JOBS_DEFINITION_CACHE_SECONDS
        now = time.monotonic()
        with self._lock:
            hit = self._rows.get(key)
        if hit and now - hit[0] < ttl:
            return hit[1]
        job = Job.objects.filter(**lookup).first()
        if job is not None:
            with self._lock:
                if len(self._rows) > 10_000:  # bounded, whatever the job count
                    self._rows.clear()
                self._rows[key] = (now, job)
        return job

    def fresh(self, job: Job, changed_at: datetime | None) -> Job:
        """`job`, or a re-read copy if the row changed since it was cached."""
        if changed_at is None or job.updated_at == changed_at:
            return job
        self.forget(job.pk)
        return self.get(job.pk) or job

    def forget(self, job_id: int) -> None:
        with self._lock:
            for key in [k for k, (_, j) in self._rows.items() if j.pk == job_id]:
                self._rows.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


job_cache = JobDefinitionCache()
