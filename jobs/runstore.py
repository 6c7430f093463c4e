"""SQL for the per-run path: a person's queued run, and the run journal's
batched writes (jobs.services.journal).

These bypass the ORM's per-query overhead (which alone cost more than Celery
itself per no-op run) but keep its semantics: columns come from the model's
fields, so a field added to JobRun is written here too. On PostgreSQL a batch
is one statement over column arrays (unnest), a fixed text prepared once per
connection; elsewhere one statement executed many times. Everything else
about runs uses the ORM.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection

from jobs.models import Job, JobRun

logger = logging.getLogger(__name__)

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


def runs_lock_status(run_ids: list[str]) -> dict[str, str]:
    """Current status of each existing run among `run_ids`, rows locked."""
    if not run_ids:
        return {}
    idf = _RUN_BY_ATTNAME["id"]
    if connection.vendor == "postgresql":
        sql = f"SELECT id, status FROM {_q(_RUN_TABLE)} WHERE id = ANY(%s::uuid[]) FOR UPDATE"
        params: list[Any] = [[uuid.UUID(r) for r in run_ids]]
    else:
        marks = ", ".join(["%s"] * len(run_ids))
        sql = f"SELECT id, status FROM {_q(_RUN_TABLE)} WHERE id IN ({marks})"
        params = [_prep(idf, r) for r in run_ids]
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return {str(uuid.UUID(str(i))): status for i, status in cursor.fetchall()}


def runs_insert(rows: list[dict[str, Any]]) -> None:
    """INSERT whole run rows (by attname; missing columns take defaults).
    On PostgreSQL one statement of column arrays (a fixed text, prepared
    once); elsewhere one statement executed many times."""
    if not rows:
        return
    table = _q(_RUN_TABLE)
    columns = ", ".join(_q(str(f.column)) for f in _RUN_FIELDS)
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%b::{_array_type(f)}" for f in _RUN_FIELDS)
        sql = f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays})"
        with _cursor() as cursor:
            cursor.execute(sql, _column_arrays(_RUN_FIELDS, rows))
        return
    marks = ", ".join(["%s"] * len(_RUN_FIELDS))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})",
            [[_prep(f, row.get(f.attname, f.get_default())) for f in _RUN_FIELDS] for row in rows],
        )


def runs_update(attnames: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    """Set the `attnames` columns of each run row (by id). The rows are
    locked and checked by the caller."""
    _update(JobRun, attnames, rows)


def jobs_update(attnames: tuple[str, ...], jobs: list[Job]) -> None:
    """Set the `attnames` columns of each job, from the instances, in one
    statement (a run journal batch writes its jobs' live state this way)."""
    _update(Job, attnames, [{"id": j.pk, **{a: getattr(j, a) for a in attnames}} for j in jobs])


def _update(model: Any, attnames: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    fields = [by_attname[a] for a in attnames]
    idf = by_attname["id"]
    table = _q(model._meta.db_table)
    if connection.vendor == "postgresql":
        names = ", ".join(_q(str(f.column)) for f in fields)
        sets = ", ".join(f"{_q(str(f.column))} = v.{_q(str(f.column))}" for f in fields)
        arrays = ", ".join(f"%b::{_array_type(f)}" for f in [idf, *fields])
        sql = (
            f"UPDATE {table} AS r SET {sets} FROM unnest({arrays}) AS v(id, {names}) "
            f"WHERE r.id = v.id"
        )
        with _cursor() as cursor:
            cursor.execute(sql, _column_arrays([idf, *fields], rows))
        return
    sets = ", ".join(f"{_q(str(f.column))} = %s" for f in fields)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET {sets} WHERE id = %s",
            [
                [_prep(f, row.get(f.attname)) for f in fields] + [_prep(idf, row["id"])]
                for row in rows
            ],
        )


@lru_cache(maxsize=256)
def _array_type(field) -> str:
    return f"{field.db_type(connection)}[]"


def _column_arrays(fields: list, rows: list[dict[str, Any]]) -> list[list[Any]]:
    """PostgreSQL parameters for unnest(): one list per column. Values go to
    psycopg as they are (it adapts them natively); JSON is wrapped."""
    from psycopg.types.json import Jsonb

    out: list[list[Any]] = []
    for f in fields:
        name = f.attname
        default = f.get_default()
        kind = (f.target_field if f.is_relation else f).get_internal_type()
        if kind == "JSONField":
            out.append(
                [
                    None if (v := row.get(name, default)) is None and f.null else Jsonb(v)
                    for row in rows
                ]
            )
        elif kind == "UUIDField":
            out.append(
                [
                    None if (v := row.get(name, default)) is None else uuid.UUID(str(v))
                    for row in rows
                ]
            )
        else:
            out.append([row.get(name, default) for row in rows])
    return out


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
        try:
            job = Job.objects.filter(**lookup).first()
        except DatabaseError:
            if hit is None:
                raise
            # Database unreachable: runs keep going on the definition read
            # last (an edit made meanwhile is still caught by the claim,
            # which compares the job's published version).
            logger.warning("job definition %s not refreshed: database unreachable", key)
            return hit[1]
        if job is not None:
            with self._lock:
                if len(self._rows) > 10_000:  # bounded, whatever the job count
                    self._rows.clear()
                self._rows[key] = (now, job)
        return job

    def forget(self, job_id: int) -> None:
        with self._lock:
            for key in [k for k, (_, j) in self._rows.items() if j.pk == job_id]:
                self._rows.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


job_cache = JobDefinitionCache()
