"""Process, HTTP and SQL jobs end to end: defined through the job services
(validated, secrets sealed), triggered with run_trigger, executed by real
Celery worker processes, recorded in PostgreSQL. Secrets are then searched
for in the raw rows and the worker's log."""

from __future__ import annotations

import json
import os
import time
import uuid

import psutil
import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import override_settings

from jobs.actors import Actor
from jobs.errors import Forbidden
from jobs.models import JobRun
from jobs.services.jobs import job_create, job_update
from jobs.services.runs import run_cancel, run_trigger
from tests.conftest import wait_until
from tests.factories import UserFactory
from tests.jobs.kinds_support import MARIADB, http_server, json_response
from tests.needs import needs_mariadb, odbc_connect

pytestmark = [pytest.mark.django_db(transaction=True)]
SYSTEM = Actor.system()
CLI = Actor(name="tester", source="cli")
# The same settings for this test process (validation on save) and the worker.
WORKER_ENV = {
    "JOBS_PROCESS_ALLOWED_EXECUTABLES": "/usr/bin/*,/bin/*",
    "JOBS_HTTP_ALLOWED_NETWORKS": "127.0.0.2/32",  # NOT 127.0.0.1: see the redirect test
    "JOBS_SQL_ALLOWED_DATABASES": "default",
    "JOBS_HTTP_CIRCUIT_FAILURES": "2",
    "JOBS_HTTP_CIRCUIT_COOLDOWN": "60s",
}
SETTINGS = override_settings(
    JOBS_PROCESS_ALLOWED_EXECUTABLES=["/usr/bin/*", "/bin/*"],
    JOBS_HTTP_ALLOWED_NETWORKS=["127.0.0.2/32"],
    JOBS_SQL_ALLOWED_DATABASES=["default"],
)
PROCESS_SECRET = "proc-secret-7d1e0c55"
HTTP_SECRET = "http-token-a91f33b2"
SQL_SECRET_MARK = "jw-secret-conn-marker"


@pytest.fixture(autouse=True)
def _settings():
    with SETTINGS:
        yield


def create(spec):
    base = {
        "cron": None,
        "overlap": "allow",
        "timeout": 30,
        "auto_disable_after": 0,
    }
    return job_create({**base, **spec}, actor=SYSTEM)


def trigger(job, **kw):
    return run_trigger(job.name, actor=CLI, trigger="cli", **kw)


def final(run_id, timeout=40):
    def done():
        run = JobRun.objects.get(pk=run_id)
        return run if run.status not in ("queued", "running") else None

    return wait_until(done, timeout=timeout, message=f"run {run_id} to finish")


def attempts(job, count, timeout=40):
    def done():
        runs = list(JobRun.objects.filter(job=job).order_by("attempt"))
        finished = [r for r in runs if r.status not in ("queued", "running")]
        return runs if len(finished) >= count else None

    return wait_until(done, timeout=timeout, message=f"{count} finished attempts of {job.name}")


def group_members(pgid):
    members = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
        except (ProcessLookupError, PermissionError):
            continue
    return members


def raw_rows_text(job_name):
    """Every stored byte about a job, read with raw SQL (not through models)."""
    with connection.cursor() as cur:
        cur.execute("SELECT row_to_json(j)::text FROM jobs_job j WHERE name = %s", [job_name])
        rows = [r[0] for r in cur.fetchall()]
        cur.execute(
            "SELECT row_to_json(r)::text FROM jobs_jobrun r JOIN jobs_job j ON j.id = r.job_id WHERE j.name = %s",
            [job_name],
        )
        rows += [r[0] for r in cur.fetchall()]
        cur.execute(
            "SELECT row_to_json(a)::text FROM jobs_auditevent a WHERE job_name = %s OR target = %s",
            [job_name, job_name],
        )
        rows += [r[0] for r in cur.fetchall()]
    return "\n".join(rows)


# --- process ------------------------------------------------------------------


@pytest.mark.worker
def test_process_jobs_through_a_worker(start_worker, tmp_path):
    worker = start_worker(concurrency=2, env=WORKER_ENV)
    marker = tmp_path / "pwned"

    # Success: static, macro, query and override parameters; output and exit
    # code recorded; a hostile argument stays one argv element.
    ok = create(
        {
            "name": "proc-ok",
            "kind": "process",
            "timezone": "Europe/Prague",
            "config": {
                "executable": "/usr/bin/printf",
                "args": [
                    "%s|",
                    "{Static}",
                    "{today:%Y}",
                    "{FromQuery}",
                    "{Override}",
                    "{Hostile}",
                    "{Token}",
                ],
                "env": {"JOB_API_PASSWORD": PROCESS_SECRET},
                "secret_parameters": {"Token": PROCESS_SECRET},
            },
            "parameters": {
                "Static": "static-value",
                "Override": "default",
                "Hostile": f"; touch {marker}",
            },
            "parameter_queries": [
                {
                    "name": "FromQuery",
                    "query": "SELECT 'q-' || (20 + 22)::text",
                    "database": "default",
                }
            ],
        }
    )
    run = final(trigger(ok, parameters={"Override": "overridden"}).pk)
    assert run.status == "succeeded", run.error
    year = time.strftime("%Y")
    assert run.output == f"static-value|{year}|q-42|overridden|; touch {marker}|********|"
    assert run.exit_code == 0 and run.result == {"exit_code": 0}
    assert run.parameters["Token"] == "********" and run.parameters["FromQuery"] == "q-42"
    assert not marker.exists()

    # Failure with a retry: both attempts recorded with exit code and stderr.
    failing = create(
        {
            "name": "proc-fail",
            "kind": "process",
            "config": {
                "executable": "/bin/sh",
                "args": ["-c", "echo to-out; echo broken >&2; exit 4"],
            },
            "max_retries": 1,
            "retry_delay": 0,
        }
    )
    trigger(failing)
    runs = attempts(failing, 2)
    assert [r.status for r in runs] == ["retrying", "failed"]
    assert all(r.exit_code == 4 and r.stderr == "broken\n" and r.output == "to-out\n" for r in runs)
    assert "exit code 4" in runs[-1].error

    # Timeout: recorded as timed_out, and the whole tree is gone.
    slow = create(
        {
            "name": "proc-slow",
            "kind": "process",
            "timeout": 3,
            "config": {
                "executable": "/bin/sh",
                "args": ["-c", "sleep 300 & sleep 300 & echo up; wait"],
            },
        }
    )
    run = final(trigger(slow).pk)
    assert run.status == "timed_out" and run.output == "up\n"
    assert group_members(run.metadata["pgid"]) == []

    # Cancel while running: cancelled, tree gone.
    long = create(
        {
            "name": "proc-long",
            "kind": "process",
            "config": {"executable": "/bin/sh", "args": ["-c", "sleep 300 & echo started; wait"]},
        }
    )
    run = trigger(long)
    wait_until(
        lambda: "started" in JobRun.objects.get(pk=run.pk).output,
        timeout=20,
        message="output streamed while running",
    )
    pgid = JobRun.objects.get(pk=run.pk).metadata.get("pgid") or _pgid_of_child(worker, "sleep 300")
    run_cancel(run.pk, actor=CLI, reason="enough")
    run = final(run.pk, timeout=20)
    assert run.status == "cancelled"
    if pgid:
        wait_until(lambda: group_members(pgid) == [], timeout=5, message="process group gone")

    stored = raw_rows_text("proc-ok")
    assert PROCESS_SECRET not in stored
    assert PROCESS_SECRET not in worker.text()


def _pgid_of_child(worker, needle):
    for pid in worker.child_pids():
        try:
            if needle in " ".join(psutil.Process(pid).cmdline()):
                return os.getpgid(pid)
        except (psutil.Error, ProcessLookupError):
            continue
    return None


# --- HTTP ---------------------------------------------------------------------


@pytest.mark.worker
def test_http_jobs_through_a_worker(start_worker):
    responses = {
        "/ok": lambda r: json_response({"ok": True, "echo": r.headers.get("Authorization")})
    }
    responses["/lying"] = lambda r: json_response({"error": "Invalid token"})
    responses["/down"] = lambda r: (500, {}, b"down")

    def route(req):
        return (
            responses[req.path.split("?")[0]](req)
            if req.path.split("?")[0] in responses
            else (404, {}, b"")
        )

    worker = start_worker(concurrency=2, env=WORKER_ENV)
    with (
        http_server(lambda r: json_response({"internal": True})) as internal,
        http_server(route, host="127.0.0.2") as api,
    ):
        responses["/bounce"] = lambda r: (302, {"Location": internal.url("/admin")}, b"")

        ok = create(
            {
                "name": "http-ok",
                "kind": "http",
                "config": {
                    "url": api.url("/ok?day={today}"),
                    "auth": {"type": "bearer", "token": HTTP_SECRET},
                    "expect_json": {"path": "$.ok", "equals": True},
                },
            }
        )
        run = final(trigger(ok).pk)
        assert run.status == "succeeded", run.error
        assert run.result["status"] == 200
        assert run.metadata["http"]["request"]["headers"]["Authorization"] == "********"
        assert HTTP_SECRET not in run.output and "********" in run.output

        # 200 with an error body: failed, permanently (retries not used).
        lying = create(
            {
                "name": "http-lying",
                "kind": "http",
                "max_retries": 2,
                "retry_delay": 0,
                "config": {
                    "url": api.url("/lying"),
                    "expect_json": {"path": "$.ok", "equals": True},
                },
            }
        )
        run = final(trigger(lying).pk)
        assert run.status == "failed" and "PermanentFailure" in run.error and "$.ok" in run.error
        time.sleep(1)
        assert JobRun.objects.filter(job=lying).count() == 1

        # SSRF: a redirect from the allowed origin to 127.0.0.1 is refused; a
        # name resolving to loopback is refused; the internal server is never hit.
        bounce = create(
            {"name": "http-bounce", "kind": "http", "config": {"url": api.url("/bounce")}}
        )
        run = final(trigger(bounce).pk)
        assert (
            run.status == "failed"
            and "refused to connect to 127.0.0.1: a loopback address" in run.error
        )
        by_name = create(
            {
                "name": "http-by-name",
                "kind": "http",
                "config": {"url": f"http://localhost:{internal.port}/admin"},
            }
        )
        run = final(trigger(by_name).pk)
        assert run.status == "failed" and "localhost (127.0.0.1)" in run.error
        assert internal.requests == []

        # 500: transient, retried; two failures open the circuit, the next run is skipped.
        down = create(
            {
                "name": "http-down",
                "kind": "http",
                "max_retries": 1,
                "retry_delay": 0,
                "config": {"url": api.url("/down")},
            }
        )
        trigger(down)
        runs = attempts(down, 2)
        assert [r.status for r in runs] == ["retrying", "failed"]
        skipped = final(trigger(down).pk)
        assert skipped.status == "skipped"
        assert (
            f"circuit open for 127.0.0.2:{api.port} after 2 consecutive failures" in skipped.error
        )
        assert sum(1 for r in api.requests if r.path == "/down") == 2

    assert HTTP_SECRET not in raw_rows_text("http-ok")
    assert HTTP_SECRET not in worker.text()


# --- SQL ----------------------------------------------------------------------


@pytest.fixture
def maria_procs():
    conn = odbc_connect(MARIADB, autocommit=True)
    p = f"jwi_{uuid.uuid4().hex[:8]}"
    conn.execute(f"CREATE TABLE {p}_log (day DATE, amount INT)")
    conn.execute(
        f"CREATE PROCEDURE {p}_close(IN d DATE, IN amt INT, OUT total INT) BEGIN INSERT INTO {p}_log VALUES (d, amt); SELECT SUM(amount) INTO total FROM {p}_log; SELECT * FROM {p}_log; END"
    )
    conn.execute(
        f"CREATE PROCEDURE {p}_fail() BEGIN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'period locked'; END"
    )
    conn.execute(
        f"CREATE PROCEDURE {p}_slow() BEGIN DECLARE i INT DEFAULT 0; WHILE i < 300 DO DO SLEEP(0.1); SET i = i + 1; END WHILE; END"
    )
    yield conn, p
    for name in ("close", "fail", "slow"):
        conn.execute(f"DROP PROCEDURE {p}_{name}")
    conn.execute(f"DROP TABLE {p}_log")
    conn.close()


@needs_mariadb
@pytest.mark.worker
def test_sql_jobs_through_a_worker(start_worker, maria_procs):
    conn, p = maria_procs
    secret_connection = MARIADB + f";APP={SQL_SECRET_MARK}"
    worker = start_worker(concurrency=2, env=WORKER_ENV)
    ok = create(
        {
            "name": "sql-ok",
            "kind": "sql",
            "config": {
                "connection": secret_connection,
                "procedure": f"test.{p}_close",
                "params": [
                    {"name": "d", "type": "date", "value": "{Day}"},
                    {"name": "amt", "type": "int", "value": "{Amount}"},
                    {"name": "total", "type": "int", "direction": "out"},
                ],
            },
            "parameters": {"Amount": 5},
            "parameter_queries": [
                {"name": "Day", "query": "SELECT DATE '2024-02-28' + 1", "database": "default"}
            ],
        }
    )
    run = final(trigger(ok).pk)
    assert run.status == "succeeded", run.error
    assert run.result["output"] == {"total": 5}
    assert run.result["rows"] == [{"day": "2024-02-29", "amount": 5}]
    run = final(trigger(ok, parameters={"Amount": 7}).pk)
    assert run.result["output"] == {"total": 12}

    failing = create(
        {
            "name": "sql-fail",
            "kind": "sql",
            "config": {"connection": secret_connection, "procedure": f"test.{p}_fail"},
        }
    )
    run = final(trigger(failing).pk)
    assert run.status == "failed" and "period locked" in run.error

    slow = create(
        {
            "name": "sql-slow",
            "kind": "sql",
            "timeout": 3,
            "config": {"connection": secret_connection, "procedure": f"test.{p}_slow"},
        }
    )
    run = final(trigger(slow).pk)
    assert run.status == "timed_out"

    # Injection attempt in an override: stored as data, the table survives.
    hostile = f"1); DROP TABLE {p}_log; --"
    run = final(trigger(ok, parameters={"Amount": hostile}).pk)
    assert run.status == "failed" and "not a valid int" in run.error
    assert conn.execute(f"SELECT COUNT(*) FROM {p}_log").fetchone()[0] == 2

    for name in ("sql-ok", "sql-fail", "sql-slow"):
        assert SQL_SECRET_MARK not in raw_rows_text(name)
    assert SQL_SECRET_MARK not in worker.text()


# --- permissions --------------------------------------------------------------


def test_only_users_with_the_execution_permission_define_process_and_sql_jobs():
    operator = UserFactory(username="operator")
    operator.user_permissions.add(Permission.objects.get(codename="trigger_job"))
    spec = {
        "name": "op-proc",
        "kind": "process",
        "cron": None,
        "config": {"executable": "/bin/true"},
    }
    with pytest.raises(Forbidden, match="manage_execution_jobs"):
        job_create(spec, actor=Actor.for_user(operator, "api"))
    admin = UserFactory(username="root-admin", is_superuser=True)
    job = job_create(spec, actor=Actor.for_user(admin, "api"))
    with pytest.raises(Forbidden):
        job_update(
            job.name,
            {"config": {"executable": "/bin/false"}},
            actor=Actor.for_user(operator, "api"),
        )
    # An HTTP job does not execute code on the worker: the operator may define one.
    job_create(
        {**spec, "name": "op-http", "kind": "http", "config": {"url": "https://example.com/"}},
        actor=Actor.for_user(operator, "api"),
    )


def test_a_secret_change_is_audited_masked():
    job = create(
        {
            "name": "audited",
            "kind": "http",
            "config": {"url": "https://example.com/", "headers": {"X-Api-Key": "first-key-0001"}},
        }
    )
    job_update(
        job.name,
        {"config": {"url": "https://example.com/", "headers": {"X-Api-Key": "second-key-0002"}}},
        actor=SYSTEM,
    )
    stored = raw_rows_text("audited")
    assert "first-key-0001" not in stored and "second-key-0002" not in stored
    assert json.loads(json.dumps(job.config))["headers"]["X-Api-Key"] == "********"
