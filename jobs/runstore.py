"""SQL for the per-run path: a person's queued run, and the run journal's
batched writes (jobs.services.journal).

These bypass the ORM's per-query overhead (which alone cost more than Celery
itself per no-op run) but keep its semantics: columns come from the model's
fields, so a field added to JobRun is written here too. On PostgreSQL a batch
of new rows is one COPY, and a batch of updates one statement over a JSON
array of rows (jsonb_to_recordset), a fixed text prepared once per
connection; elsewhere one statement executed many times.
Everything else about runs uses the ORM.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection

from jobs.models import Job, JobRun

logger = logging.getLogger(__name__)

_RUN_FIELDS = [f for f in JobRun._meta.concrete_fields]
_RUN_TABLE = JobRun._meta.db_table
_JOB_TABLE = Job._meta.db_table
_JOB_ATTNAMES = [f.attname for f in Job._meta.concrete_fields]


@lru_cache(maxsize=4)
def _by_attname(label: str) -> dict[str, Any]:
    from django.apps import apps

    return {f.attname: f for f in apps.get_model(label)._meta.concrete_fields}


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


@lru_cache(maxsize=1)
def _run_columns() -> str:
    return ", ".join(_q(str(f.column)) for f in _RUN_FIELDS)


def _prep(field, value: Any) -> Any:
    return field.get_db_prep_save(value, connection)


@lru_cache(maxsize=8)
def _insert_sql(vendor: str) -> str:
    # SQL text is built once per process; only parameters vary per run.
    exprs = ", ".join("j.id" if f.attname == "job_id" else "%s" for f in _RUN_FIELDS)
    return (
        f"INSERT INTO {_q(_RUN_TABLE)} ({_run_columns()}) SELECT {exprs} "
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
    if connection.vendor == "postgresql":
        # ids as text both ways: parsing thousands of UUID objects is not free
        sql = (
            f"SELECT id::text, status FROM {_q(_RUN_TABLE)} "
            f"WHERE id = ANY(%s::text[]::uuid[]) FOR UPDATE"
        )
        with _cursor() as cursor:
            cursor.execute(sql, [run_ids])
            return dict(cursor.fetchall())
    idf = _by_attname(JobRun._meta.label)["id"]
    marks = ", ".join(["%s"] * len(run_ids))
    sql = f"SELECT id, status FROM {_q(_RUN_TABLE)} WHERE id IN ({marks})"
    with _cursor() as cursor:
        cursor.execute(sql, [_prep(idf, r) for r in run_ids])
        return {str(uuid.UUID(str(i))): status for i, status in cursor.fetchall()}


def runs_insert(rows: list[dict[str, Any]]) -> None:
    """INSERT whole run rows (by attname; missing columns take defaults).
    On PostgreSQL a COPY (measured: a third less server CPU per row than an
    INSERT over a JSON array, which the server parses whole); elsewhere one
    statement executed many times."""
    if not rows:
        return
    defaults = _defaults(JobRun)
    if connection.vendor == "postgresql":
        from psycopg.types.json import Jsonb

        columns = _copy_columns()
        with _cursor() as cursor, cursor.copy(_copy_runs_sql()) as copy:
            for row in rows:
                values = []
                for name, is_json, nullable in columns:
                    value = row.get(name, defaults[name])
                    is_sql_null = value is None and nullable
                    values.append(Jsonb(value) if is_json and not is_sql_null else value)
                copy.write_row(values)
        return
    sql = _insert_runs_sql(connection.vendor)
    with connection.cursor() as cursor:
        cursor.executemany(
            sql,
            [
                [_prep(f, row.get(f.attname, defaults[f.attname])) for f in _RUN_FIELDS]
                for row in rows
            ],
        )


@lru_cache(maxsize=1)
def _copy_runs_sql() -> str:
    return f"COPY {_q(_RUN_TABLE)} ({_run_columns()}) FROM STDIN"


@lru_cache(maxsize=1)
def _copy_columns() -> list[tuple[str, bool, bool]]:
    # (attname, is JSON, nullable): a None goes in as SQL NULL where the
    # column allows it, else as JSON null, as the ORM stores it.
    return [(f.attname, f.get_internal_type() == "JSONField", f.null) for f in _RUN_FIELDS]


@lru_cache(maxsize=4)
def _insert_runs_sql(vendor: str) -> str:
    marks = ", ".join(["%s"] * len(_RUN_FIELDS))
    return f"INSERT INTO {_q(_RUN_TABLE)} ({_run_columns()}) VALUES ({marks})"


def runs_update(attnames: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    """Set the `attnames` columns of each run row (by id). The rows are
    locked and checked by the caller."""
    _update(JobRun, attnames, rows)


def jobs_lock(job_ids: list[int]) -> dict[int, Job]:
    """The jobs with these ids, rows locked for the rest of the transaction
    (a run journal batch computes their live state from them)."""
    if not job_ids:
        return {}
    if connection.vendor == "postgresql":
        sql = (
            _select_jobs_sql(connection.vendor)
            + " WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE"
        )
        params: list[Any] = [sorted(job_ids)]
    else:
        marks = ", ".join(["%s"] * len(job_ids))
        sql = _select_jobs_sql(connection.vendor) + f" WHERE id IN ({marks}) ORDER BY id"
        params = sorted(job_ids)
    converters = _converters(connection.vendor)
    out: dict[int, Job] = {}
    with _cursor() as cursor:
        cursor.execute(sql, params)
        for values in cursor.fetchall():
            values = list(values)
            for i, expression, funcs in converters:
                for func in funcs:
                    values[i] = func(values[i], expression, connection)
            job = Job.from_db(connection.alias, _JOB_ATTNAMES, values)
            out[job.pk] = job
    return out


@lru_cache(maxsize=4)
def _select_jobs_sql(vendor: str) -> str:
    names = ", ".join(_q(str(f.column)) for f in Job._meta.concrete_fields)
    return f"SELECT {names} FROM {_q(_JOB_TABLE)}"


@lru_cache(maxsize=4)
def _converters(vendor: str) -> list[tuple[int, Any, list[Any]]]:
    # What the ORM would apply to each column read (JSON decoding, etc.).
    out = []
    for i, f in enumerate(Job._meta.concrete_fields):
        col = f.get_col(_JOB_TABLE)
        funcs = connection.ops.get_db_converters(col) + f.get_db_converters(connection)
        if funcs:
            out.append((i, col, funcs))
    return out


def jobs_update(attnames: tuple[str, ...], jobs: list[Job]) -> None:
    """Set the `attnames` columns of each job, from the instances, in one
    statement (a run journal batch writes its jobs' live state this way)."""
    _update(Job, attnames, [{"id": j.pk, **{a: getattr(j, a) for a in attnames}} for j in jobs])


def _update(model: Any, attnames: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    sql = _update_sql(model._meta.label, attnames, connection.vendor)
    if connection.vendor == "postgresql":
        names = ("id", *attnames)  # only what the statement reads
        with _cursor() as cursor:
            cursor.execute(sql, [_json([{n: row.get(n) for n in names} for row in rows])])
        return
    by_attname = _by_attname(model._meta.label)
    fields = [by_attname[a] for a in attnames]
    idf = by_attname["id"]
    with connection.cursor() as cursor:
        cursor.executemany(
            sql,
            [
                [_prep(f, row.get(f.attname)) for f in fields] + [_prep(idf, row["id"])]
                for row in rows
            ],
        )


@lru_cache(maxsize=32)
def _update_sql(label: str, attnames: tuple[str, ...], vendor: str) -> str:
    from django.apps import apps

    model = apps.get_model(label)
    by_attname = _by_attname(label)
    fields = [by_attname[a] for a in attnames]
    idf = by_attname["id"]
    table = _q(model._meta.db_table)
    if vendor == "postgresql":
        sets = ", ".join(f"{_q(str(f.column))} = {_recordset_value(f)}" for f in fields)
        return (
            f"UPDATE {table} AS r SET {sets} FROM {_recordset(model, [idf, *fields])} "
            f"WHERE r.id = x.{_q(str(idf.column))}"
        )
    sets = ", ".join(f"{_q(str(f.column))} = %s" for f in fields)
    return f"UPDATE {table} SET {sets} WHERE id = %s"


# --- PostgreSQL: a batch of rows as one JSON parameter ------------------------
#
# jsonb_to_recordset() turns a JSON array of objects into typed rows inside
# the server: one parameter, parsed in C, instead of one Python-dumped array
# per column. Keys are attnames (equal to the column names for these models).


def _recordset(model: Any, fields: list[Any]) -> str:
    return _recordset_sql(model._meta.label, tuple(f.attname for f in fields))


@lru_cache(maxsize=32)
def _recordset_sql(label: str, attnames: tuple[str, ...]) -> str:
    by_attname = _by_attname(label)
    columns = ", ".join(
        f"{_q(str(by_attname[a].column))} {by_attname[a].db_type(connection)}" for a in attnames
    )
    return f"jsonb_to_recordset(%s::jsonb) AS x({columns})"


def _recordset_value(field: Any) -> str:
    col = f"x.{_q(str(field.column))}"
    if field.get_internal_type() == "JSONField" and not field.null:
        # JSON null arrives as SQL NULL; a NOT NULL JSON column stores it as 'null'
        return f"COALESCE({col}, 'null'::jsonb)"
    return col


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)  # UUID, Decimal


def _json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=_json_default, separators=(",", ":"))


def _defaults(model: Any) -> dict[str, Any]:
    # Once per batch: shared by its rows, which are only serialized.
    return {f.attname: f.get_default() for f in model._meta.concrete_fields}


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
