"""`make bench`: throughput and latency figures measured in one run.

Runs against PostgreSQL and Redis (DATABASE_URL / REDIS_URL; defaults: a
local `jobwarden_bench` database and Redis db 13), never SQLite. The last line
is the tracked/bare throughput ratio (target ≥ 0.7).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jobwarden_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ.setdefault("JOBS_SECRET_KEYS", "YmVuY2gtb25seS1rZXktYmVuY2gtb25seS1rZXktMDA=")


def report(line: str) -> None:
    print(line, flush=True)


def _ensure_database() -> None:
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(os.environ["DATABASE_URL"])
    with psycopg.connect(
        host=cfg["HOST"] or "127.0.0.1",
        port=cfg["PORT"] or 5432,
        user=cfg["USER"] or "postgres",
        password=cfg["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]]
        ).fetchone():
            conn.execute(f'CREATE DATABASE "{cfg["NAME"]}"')


def main() -> int:
    (Path(__file__).resolve().parent.parent / "var").mkdir(exist_ok=True)
    _ensure_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # Throughput first, on a quiet machine: the monitoring bench's seeding
    # (a million rows) leaves PostgreSQL and the page cache busy a while.
    report("== throughput: tracked runs vs bare Celery tasks ==")
    from bench import throughput

    ratio = throughput.run(report)
    report("== job kinds: per-run overhead ==")
    try:
        from bench import kinds

        kinds.run(report)
    except ImportError:
        report("(job kinds bench not available)")
    report("== monitoring and API on 1,000 jobs / 1,000,000 runs ==")
    from bench import monitoring

    monitoring.run(report)
    report(f"tracked/bare ratio: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
