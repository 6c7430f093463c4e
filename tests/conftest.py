"""Shared fixtures: real Celery worker and beat processes against the test
database and the test Redis database. No eager mode, no mocks of the broker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).with_name("celery"))

# Short intervals so crash and orphan tests finish in seconds; the same
# values go to the worker and beat processes.
FAST_ENV = {
    "JOBS_HEARTBEAT_INTERVAL": "1s",
    "JOBS_LEASE_TTL": "3s",
    "JOBS_ORPHAN_AFTER": "5s",
    "JOBS_SWEEP_INTERVAL": "1s",
    "JOBS_TIMEOUT_GRACE": "2s",
    "JOBS_CANCEL_GRACE": "2s",
    "CELERY_BEAT_MAX_LOOP_INTERVAL": "1",
}
for _k, _v in FAST_ENV.items():
    os.environ.setdefault(_k, _v)


def _process_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(FAST_ENV)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": os.environ.get(
                "DJANGO_SETTINGS_MODULE", "config.settings.test"
            ),
            # pytest-django renamed NAME to the test database in this process.
            "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "REDIS_URL": settings.REDIS_URL,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


class Proc:
    def __init__(self, args: list[str], log: Path, env: dict[str, str], cwd: Path = ROOT):
        self.log = log
        self.args = args
        self._fh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, marker: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.text():
                return
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.args[0]} exited early:\n{self.text()[-4000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"{marker!r} not seen in {self.log}:\n{self.text()[-4000:]}")

    def child_pids(self) -> list[int]:
        import psutil

        try:
            return [p.pid for p in psutil.Process(self.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill9(self) -> None:
        """Kill the whole process group at once, as a crashed host would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 15) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
            except ProcessLookupError:
                pass
        self._fh.close()


@pytest.fixture(scope="session", autouse=True)
def _sample_jobs_registered() -> None:
    """The suite's job functions are @runnable: registered when imported, as
    discovery imports an app's jobs.py (the worker imports them by target)."""
    import tests.jobs.sample_jobs  # noqa: F401


@pytest.fixture(scope="session")
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture(scope="session")
def _flush_redis_at_start(redis_client) -> None:
    redis_client.flushdb()


@pytest.fixture
def start_worker(
    django_db_setup, django_db_blocker, tmp_path_factory, _flush_redis_at_start
) -> Iterator[Callable[..., Proc]]:
    """Start a dedicated worker process (prefork) for this test; stopped after."""
    procs: list[Proc] = []

    def start(
        name: str = "w",
        concurrency: int = 2,
        queues: str = "celery,jobs",
        env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
        nodename: str | None = None,
    ) -> Proc:
        log = tmp_path_factory.mktemp("worker") / f"{name}.log"
        args = [
            CELERY,
            "-A",
            "config",
            "worker",
            "--loglevel=INFO",
            "-P",
            "prefork",
            "-c",
            str(concurrency),
            "-Q",
            queues,
            "-n",
            nodename or f"{name}-{os.getpid()}-{len(procs)}@%h",
            "--without-gossip",
            "--without-mingle",
            *(extra_args or []),
        ]
        proc = Proc(args, log, _process_env(env))
        procs.append(proc)
        proc.wait_for("ready.")
        return proc

    yield start
    for proc in procs:
        proc.stop()


@pytest.fixture
def start_beat(
    django_db_setup, tmp_path_factory, _flush_redis_at_start
) -> Iterator[Callable[..., Proc]]:
    procs: list[Proc] = []

    def start(name: str = "beat", env: dict[str, str] | None = None) -> Proc:
        workdir = tmp_path_factory.mktemp("beat")
        log = workdir / f"{name}.log"
        args = [
            CELERY,
            "-A",
            "config",
            "beat",
            "--loglevel=DEBUG",
            "--pidfile",
            str(workdir / "beat.pid"),
        ]
        proc = Proc(args, log, _process_env(env))
        procs.append(proc)
        proc.wait_for("beat: Starting", timeout=60)
        return proc

    yield start
    for proc in procs:
        proc.stop()


def wait_until(
    predicate: Callable[[], object], timeout: float = 30, interval: float = 0.1, message: str = ""
) -> object:
    """Poll `predicate` until truthy; used only by real-worker tests."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


# --- a read-only database role (compliance SQL rules) --------------------------

READONLY_TABLES = ("compliance_stock", "compliance_product", "compliance_warehouse")


@pytest.fixture(scope="session")
def readonly_role(django_db_setup, django_db_blocker) -> str:
    """A PostgreSQL login role that can only read the demo's business tables
    of the test database: not a superuser, default_transaction_read_only on.
    Created (committed) through its own connection, so other sessions see it."""
    import psycopg

    db = settings.DATABASES["default"]
    role = f"jw_ro_{db['NAME']}"[:63]
    dsn = f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER'] or 'postgres'}"
    with psycopg.connect(f"{dsn} dbname={db['NAME']}", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
        if not exists:
            conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'ALTER ROLE "{role}" SET default_transaction_read_only = on')
        conn.execute(f'GRANT SELECT ON {", ".join(READONLY_TABLES)} TO "{role}"')
    return role


def role_url(role: str) -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{role}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


# Tests that run SQL rules declare both aliases: @pytest.mark.django_db(databases=RULE_DATABASES).
RULE_DATABASES = ["default", "compliance"]


@pytest.fixture(scope="session")
def compliance_alias(readonly_role) -> Iterator[str]:
    """The "compliance" alias (what COMPLIANCE_DATABASE_URL configures) on the
    read-only role, for the whole session: it must exist before a test case
    that declares it starts. Marked a mirror so test cases neither wrap it in
    a transaction nor flush it (the role cannot); rules open their own
    connection to it anyway."""
    import dj_database_url
    from django.db import connections

    url = role_url(readonly_role)
    alias = {**settings.DATABASES["default"], **dj_database_url.parse(url)}
    alias.update(CONN_MAX_AGE=0, TEST={**alias.get("TEST", {}), "MIRROR": "default"})
    settings.DATABASES["compliance"] = alias
    connections.settings["compliance"] = alias
    yield url
    settings.DATABASES.pop("compliance", None)
    connections.settings.pop("compliance", None)


@pytest.fixture
def compliance_db(compliance_alias, settings) -> str:
    """SQL rules allowed on the "compliance" alias; returns its URL (for a
    worker process: COMPLIANCE_DATABASE_URL)."""
    settings.COMPLIANCE_SQL_DATABASES = ["compliance"]
    return compliance_alias
