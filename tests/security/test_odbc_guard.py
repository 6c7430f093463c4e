"""Issue 12 item 15: SQL jobs' ODBC connection strings and procedures.

The attacks: `DRIVER=/path/lib.so` (the driver manager loads any shared
library), connection-string keys that load or write files or run SQL at
connect (PLUGIN_DIR, SAVEFILE, INITSTMT, ConnSettings), a server on the
metadata or loopback address (the SSRF the HTTP guard closes), and with
JOBS_SQL_ALLOWED_PROCEDURES empty, calling pg_read_file / LOAD_FILE."""

from __future__ import annotations

import sys

import pytest

from jobs.execution.context import PermanentFailure
from jobs.execution.kinds import get_kind
from tests.jobs.kinds_support import MARIADB, POSTGRES, make_ctx, make_job
from tests.needs import needs_odbc_drivers, needs_postgres_odbc
from tests.security.support import refused

JOBS = "/api/v1/jobs/"
sql = get_kind("sql")


def sql_job(connection: str, procedure: str = "reporting.daily", **config) -> dict:
    return {
        "name": "erp-close",
        "kind": "sql",
        "config": {"connection": connection, "procedure": procedure, **config},
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "connection, text",
    [
        ("DRIVER=/tmp/evil.so;SERVER=127.0.0.1", "not a file"),
        ("DRIVER={/usr/lib/x86_64-linux-gnu/odbc/libmaodbc.so};SERVER=127.0.0.1", "not a file"),
        ("DRIVER={No Such Driver};SERVER=127.0.0.1", "not registered in odbcinst.ini"),
        (MARIADB + ";PLUGIN_DIR=/tmp/plugins", "PLUGIN_DIR is not an allowed"),
        (MARIADB + ";INITSTMT={SET GLOBAL general_log=1}", "INITSTMT is not an allowed"),
        (POSTGRES + ";ConnSettings={SET default_transaction_read_only=off}", "CONNSETTINGS"),
        (POSTGRES + ";SAVEFILE=/tmp/x.dsn", "SAVEFILE is not an allowed"),
        ("FILEDSN=/etc/odbc/evil.dsn", "FILEDSN is not an allowed"),
        (MARIADB + ";OPTION=67108864", "OPTION is not an allowed"),
        (MARIADB + ";SERVER=127.0.0.2", "given twice"),
    ],
)
def test_connection_string_loading_code_or_files_is_refused(executor_client, connection, text):
    refused(executor_client, sql_job(connection), "config.connection", text)


@pytest.mark.django_db
@needs_odbc_drivers
def test_driver_allowlist_limits_registered_drivers(executor_client, settings):
    settings.JOBS_SQL_ALLOWED_DRIVERS = ["PostgreSQL Unicode"]
    refused(executor_client, sql_job(MARIADB), "config.connection", "JOBS_SQL_ALLOWED_DRIVERS")
    response = executor_client.post(JOBS, sql_job(POSTGRES), format="json")
    assert response.status_code == 201, response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "server, text",
    [
        ("169.254.169.254", "cloud metadata"),
        ("127.0.0.1", "loopback"),
        ("[::1]:5432", "loopback"),
        ("10.0.0.5,1433", "private"),
        ("tcp:192.168.1.10", "private"),
        ("2130706433", "non-canonical"),
        ("/var/run/postgresql", "Unix socket"),
        ("db.example.com:99999", "port"),
    ],
)
@needs_odbc_drivers
def test_server_goes_through_the_network_guard(executor_client, settings, server, text):
    settings.JOBS_SQL_ALLOWED_NETWORKS = []
    connection = f"DRIVER={{PostgreSQL Unicode}};SERVER={server};UID=u;DATABASE=d"
    refused(executor_client, sql_job(connection), "config.connection", text)


@pytest.mark.django_db
@needs_odbc_drivers
def test_parameter_query_connections_go_through_the_same_guard(executor_client, settings):
    settings.JOBS_SQL_ALLOWED_NETWORKS = []
    spec = {
        "name": "lookup",
        "kind": "sql",
        "config": {
            "connection": "DSN=erp",
            "procedure": "reporting.daily",
            "connections": {"meta": "DRIVER={PostgreSQL Unicode};SERVER=169.254.169.254"},
        },
    }
    refused(executor_client, spec, "config.connections.meta", "cloud metadata")


@needs_postgres_odbc
def test_a_name_resolving_to_loopback_is_refused_when_the_job_connects(settings):
    # At save only literal addresses are judged; the connect resolves the name.
    settings.JOBS_SQL_ALLOWED_NETWORKS = []
    job = make_job("sql", {"connection": POSTGRES.replace("127.0.0.1", "localhost"),
                           "procedure": "public.p"})  # fmt: skip
    with pytest.raises(PermanentFailure, match="refused to connect to localhost"):
        sql.execute(make_ctx(job))


@needs_postgres_odbc
def test_the_same_server_is_reachable_once_its_network_is_allowed(settings):
    settings.JOBS_SQL_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    job = make_job("sql", {"connection": POSTGRES, "procedure": "public.no_such_proc"})
    with pytest.raises(PermanentFailure, match="does not exist"):  # reached the server
        sql.execute(make_ctx(job))


# --- procedures -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "procedure, allowed, text",
    [
        ("pg_read_file", [], "system function"),
        ("pg_catalog.pg_read_file", [], "system function"),
        ("pg_catalog.query_to_xml", [], "system function"),
        ("lo_import", [], "system function"),
        ("public.dblink_exec", [], "system function"),
        ("sys.execute_prepared_stmt", [], "system function"),
        ("mysql.user", [], "system function"),
        ("information_schema.x", [], "system function"),
        ("load_file", [], "schema-qualified"),
        ("query_to_xml", [], "schema-qualified"),
        ("pg_read_file", ["*"], "system function"),
        ("pg_catalog.pg_ls_dir", ["pg_catalog.*"], "system function"),
    ],
)
@needs_odbc_drivers
def test_system_functions_are_refused(executor_client, settings, procedure, allowed, text):
    settings.JOBS_SQL_ALLOWED_PROCEDURES = allowed
    spec = sql_job(
        POSTGRES,
        procedure,
        call="function",
        params=[{"name": "f", "type": "text", "value": "/etc/passwd"}],
    )
    refused(executor_client, spec, "config.procedure", text)


@pytest.mark.django_db
@needs_odbc_drivers
def test_a_schema_qualified_procedure_is_accepted(executor_client):
    response = executor_client.post(JOBS, sql_job(POSTGRES, "reporting.close_day"), format="json")
    assert response.status_code == 201, response.content


def test_a_stored_pg_read_file_job_does_not_read_the_file():
    # A job saved before the fix: refused at run time, before connecting.
    job = make_job(
        "sql",
        {
            "connection": POSTGRES,
            "procedure": "pg_read_file",
            "call": "function",
            "params": [{"name": "f", "type": "text", "value": "/etc/hostname"}],
        },
    )
    with pytest.raises(PermanentFailure, match="system function"):
        sql.execute(make_ctx(job))


@pytest.mark.django_db
def test_without_libodbc_a_sql_job_is_refused_naming_the_driver(executor_client, monkeypatch):
    # A host without Debian's unixodbc, where importing pyodbc fails: a 400
    # naming the unregistered driver, not a 500.
    monkeypatch.setitem(sys.modules, "pyodbc", None)
    refused(
        executor_client, sql_job(POSTGRES), "config.connection", "not registered in odbcinst.ini"
    )
