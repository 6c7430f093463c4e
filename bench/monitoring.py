"""Monitoring/API latency on a large history (issue 4's `make bench` part).

Seeds a dedicated PostgreSQL database (<DB>_bench_monitoring) with 1,000 jobs
and 1,000,000 runs — one every-minute job holding 100,000 of them — using
INSERT … SELECT generate_series (seconds, not minutes), then times through
the full Django/DRF stack with token authentication:

  GET /api/v1/jobs/?page_size=1000      target < 300 ms
  GET /api/v1/jobs/bench-big/runs/      target <  50 ms (first page)
  GET /api/v1/jobs/bench-big/stats/     target < 500 ms (30-day window)
  monitoring.services.health_refresh()  target <   1 s (all 1,000 jobs)

Each figure is the median of several calls after one warm-up. The seed is
kept between invocations (re-seeded only if the counts differ).

    python -m bench.monitoring        # standalone
    bench.monitoring.run(report)      # from bench/__main__.py; report(line: str)
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

JOBS = 1000
BIG_RUNS = 100_000
OTHER_RUNS = 900_000
TARGETS_MS = {"list": 300, "runs": 50, "stats": 500, "refresh": 1000}
REPEAT = 5


def run(report: Callable[[str], Any] = print) -> dict[str, float]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        report("monitoring bench: skipped (needs PostgreSQL: set DATABASE_URL)")
        return {}
    original = _use_bench_database()
    try:
        return _measure(report)
    finally:
        _restore_database(original)


def _use_bench_database() -> str:
    import psycopg
    from django.db import connections

    conn = connections["default"]
    params = conn.get_connection_params()
    original = conn.settings_dict["NAME"]
    bench_name = f"{original}_bench_monitoring"
    admin = {k: v for k, v in params.items() if k in ("host", "port", "user", "password")}
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as pg:
        exists = pg.execute("SELECT 1 FROM pg_database WHERE datname = %s", [bench_name]).fetchone()
        if not exists:
            pg.execute(f'CREATE DATABASE "{bench_name}"')
    conn.close()
    conn.settings_dict["NAME"] = bench_name
    return original


def _restore_database(original: str) -> None:
    from django.db import connections

    conn = connections["default"]
    conn.close()
    conn.settings_dict["NAME"] = original


def _measure(report: Callable[[str], Any]) -> dict[str, float]:
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    _seed(report)
    token = _admin_token()
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    from monitoring.services import health_refresh

    def get(url: str) -> Callable[[], None]:
        def call() -> None:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code, response.content[:300])

        return call

    figures = {
        "list": _time(get("/api/v1/jobs/?page_size=1000")),
        "runs": _time(get("/api/v1/jobs/bench-big/runs/")),
        "stats": _time(get("/api/v1/jobs/bench-big/stats/")),
        "refresh": _time(lambda: health_refresh()),
    }
    labels = {
        "list": f"GET /jobs/ ({JOBS} jobs)",
        "runs": "GET /jobs/{name}/runs/ first page",
        "stats": f"GET /jobs/{{name}}/stats/ ({BIG_RUNS:,} runs)",
        "refresh": f"health refresh ({JOBS} jobs)",
    }
    report(f"monitoring bench: {JOBS} jobs, {BIG_RUNS + OTHER_RUNS:,} runs (median of {REPEAT})")
    for key, ms in figures.items():
        verdict = "ok" if ms < TARGETS_MS[key] else "SLOW"
        report(f"  {labels[key]:<40} {ms:8.1f} ms   target < {TARGETS_MS[key]} ms   {verdict}")
    return figures


def _time(call: Callable[[], Any]) -> float:
    call()  # warm-up: connections, caches, plans
    samples = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _admin_token() -> str:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from jobs.actors import Actor
    from monitoring.tokens import token_create

    user, _ = get_user_model().objects.get_or_create(username="bench-admin")
    user.groups.add(Group.objects.get(name="admin"))
    return token_create("bench-admin", actor=Actor.system(), rotate=True).key


# --- seeding ------------------------------------------------------------------------


def _seed(report: Callable[[str], Any]) -> None:
    from django.db import connection

    from jobs.models import Job, JobRun

    with connection.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM jobs_job), (SELECT count(*) FROM jobs_jobrun)")
        jobs, runs = cur.fetchone()
    if jobs == JOBS and runs == BIG_RUNS + OTHER_RUNS:
        return
    started = time.perf_counter()
    report("monitoring bench: seeding (one-off) …")
    job_overrides = {
        "name": "CASE WHEN i = 1 THEN 'bench-big' ELSE 'bench-' || lpad(i::text, 4, '0') END",
        "display_name": "'Bench job ' || i",
        "schedule_type": "'recurring'",
        "cron": "CASE WHEN i = 1 THEN '* * * * *' ELSE '0 * * * *' END",
        "timezone": "CASE WHEN i % 3 = 0 THEN 'Europe/Prague' ELSE 'UTC' END",
        "tags": "CASE WHEN i % 10 = 0 THEN '[\"etl\"]'::jsonb ELSE '[]'::jsonb END",
        "status": "'succeeded'",
        "next_run_at": "now() + interval '1 hour'",
        "last_duration_ms": "2000",
        "avg_duration_ms": "2000",
        "execution_count": "1000",
        "success_count": "950",
        "failure_count": "50",
        "created_at": "now() - interval '120 days'",
        "updated_at": "now()",
        "owner_id": "NULL",
        "last_run_id": "NULL",
    }
    run_overrides = {
        "id": "gen_random_uuid()",
        "job_id": "job_id",
        "trigger": "'scheduled'",
        "status": "CASE WHEN n % 20 = 0 THEN 'failed' ELSE 'succeeded' END",
        "scheduled_for": "at",
        "queued_at": "at",
        "started_at": "at",
        "finished_at": "at + (1000 + (n::bigint * 7919) % 5000) * interval '1 millisecond'",
        "duration_ms": "1000 + (n::bigint * 7919) % 5000",
        "error": "CASE WHEN n % 20 = 0 THEN 'TimeoutError: no answer after ' || (n % 60) || 's from 10.0.0.' || (n % 255) ELSE '' END",
        "first_attempt_id": "NULL",
    }
    job_cols, job_exprs, job_params = _columns(Job, job_overrides)
    run_cols, run_exprs, run_params = _columns(JobRun, run_overrides)
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE jobs_jobrun, jobs_job, monitoring_jobhealth, monitoring_healthevent CASCADE"
        )
        cur.execute(
            f"INSERT INTO jobs_job ({job_cols}) SELECT {job_exprs} FROM generate_series(1, %s) AS i",  # noqa: S608
            [*job_params, JOBS],
        )
        cur.execute("SELECT min(id) FROM jobs_job")
        first_id = cur.fetchone()[0]
        # bench-big: one run a minute, newest now.
        cur.execute(
            f"""INSERT INTO jobs_jobrun ({run_cols})
                SELECT {run_exprs} FROM (
                    SELECT n, %s::bigint AS job_id, date_trunc('minute', now()) - n * interval '1 minute' AS at
                    FROM generate_series(0, %s) AS n) s""",  # noqa: S608
            [*run_params, first_id, BIG_RUNS - 1],
        )
        # The other 999 jobs: hourly runs spread evenly.
        cur.execute(
            f"""INSERT INTO jobs_jobrun ({run_cols})
                SELECT {run_exprs} FROM (
                    SELECT n, %s::bigint + 1 + n %% %s AS job_id,
                           date_trunc('hour', now()) - (n / %s) * interval '1 hour' AS at
                    FROM generate_series(0, %s) AS n) s""",  # noqa: S608
            [*run_params, first_id, JOBS - 1, JOBS - 1, OTHER_RUNS - 1],
        )
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE jobs_jobrun")
        cur.execute("VACUUM ANALYZE jobs_job")
    _checkpoint()
    report(f"monitoring bench: seeded in {time.perf_counter() - started:.1f}s")


def _columns(model: Any, overrides: dict[str, str]) -> tuple[str, str, list[Any]]:
    """Column list, SELECT expressions and parameters for every concrete
    column: the override SQL, else NULL for nullable columns, else the
    field's Python default as a parameter (works whatever fields others add)."""
    from django.db import connection

    cols, exprs, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.get_internal_type() in ("AutoField", "BigAutoField", "SmallAutoField"):
            continue  # the database numbers the rows
        column = field.column
        cols.append(f'"{column}"')
        key = field.attname if field.attname in overrides else field.name
        if key in overrides:
            exprs.append(overrides[key].replace("%", "%%"))  # literal modulo, not a placeholder
        elif field.null:
            exprs.append("NULL")
        else:
            exprs.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
    return ", ".join(cols), ", ".join(exprs), params


def _checkpoint() -> None:
    """Write the seeding's dirty pages now: left to PostgreSQL's timed
    checkpoint, they were written during the throughput phases that follow
    (rounds ranged 0.61-0.84 right after a seeding, 0.65-0.75 otherwise)."""
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cur:
            cur.execute("CHECKPOINT")
    except DatabaseError:  # needs superuser or pg_checkpoint: then the bench is noisier
        pass


if __name__ == "__main__":
    run()
