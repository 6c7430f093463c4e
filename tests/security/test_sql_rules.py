"""Issue 12 item 2: compliance SQL rules and dynamic parameter queries.

The attacks: a second statement smuggled past the single-SELECT check inside
a string literal (`SELECT '/*'; COMMIT; CREATE TABLE …; SELECT '*/'`) or a
backslash that PostgreSQL does not treat as an escape; a rule reading
Jobwarden's own database; a rule on a superuser or writer role (where
`COPY … TO PROGRAM` runs a shell command)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from compliance.models import Rule
from compliance.services import compliance_check
from jobs.params import resolve_parameters
from jobs.params.render import UnresolvedParameter
from tests.conftest import RULE_DATABASES
from tests.factories import JobFactory
from tests.jobs.kinds_support import make_job
from tests.needs import needs_mariadb, needs_odbc_drivers, odbc_connect

pytestmark = pytest.mark.usefixtures("compliance_db")
RULES = "/api/v1/compliance/rules/"


def smuggle(table: str) -> list[str]:
    """Queries that are one SELECT to a comment-stripping regex (or to a
    parser that treats backslash as an escape) but several to PostgreSQL."""
    return [
        f"SELECT '/*'; COMMIT; CREATE TABLE {table}(); SELECT '*/'",
        f"SELECT 1; COMMIT; CREATE TABLE {table}()",
        f"SELECT 'a\\'; COMMIT; CREATE TABLE {table}(); --'",
        f"SELECT $$;$$; COMMIT; CREATE TABLE {table}()",
    ]


def table_exists(name: str) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cur.fetchone()[0]


def compliance_job():
    return JobFactory(
        name="compliance-check", target="compliance.jobs:compliance_check", overlap="skip"
    )


@pytest.mark.django_db(databases=RULE_DATABASES)
@pytest.mark.parametrize("index", range(4))
def test_statement_smuggled_in_a_string_literal_is_refused_by_the_rules_api(admin_client, index):
    query = smuggle("jw_smuggled")[index]
    response = admin_client.post(
        RULES, {"name": "smuggler", "area": "a", "query": query}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "single statement" in response.json()["error"]["fields"]["query"]
    assert not Rule.objects.filter(name="smuggler").exists()


@pytest.mark.django_db(transaction=True, databases=RULE_DATABASES)
def test_a_stored_smuggling_rule_is_refused_at_run_time_and_creates_nothing():
    # A row written before the fix (or straight into the database).
    table = f"jw_smuggled_{uuid.uuid4().hex[:6]}"
    for i, query in enumerate(smuggle(table)):
        Rule.objects.create(
            name=f"old-{i}", kind="sql", area="a", query=query, database="compliance"
        )
    results = compliance_check(job=compliance_job())["rules"]
    assert {r["status"] for r in results if r["rule"].startswith("old-")} == {"error"}
    assert all("single statement" in r["error"] for r in results if r["rule"].startswith("old-"))
    assert not table_exists(table)


@pytest.mark.django_db(databases=RULE_DATABASES)
def test_jobwardens_own_database_is_never_a_rule_target(admin_client, settings):
    settings.COMPLIANCE_SQL_DATABASES = ["default", "compliance"]
    body = {"name": "tokens", "area": "a", "database": "default"}
    body["query"] = "SELECT key FROM authtoken_token"
    response = admin_client.post(RULES, body, format="json")
    assert response.status_code == 400
    assert "Jobwarden's own database" in response.json()["error"]["fields"]["database"]


@pytest.mark.django_db(databases=RULE_DATABASES)
def test_without_a_configured_rule_database_a_rule_has_no_target(admin_client, settings):
    settings.COMPLIANCE_SQL_DATABASES = []
    body = {"name": "tokens", "area": "a", "query": "SELECT key FROM authtoken_token"}
    response = admin_client.post(RULES, body, format="json")
    assert response.status_code == 400
    assert "no database is configured" in response.json()["error"]["message"]


def test_shipped_settings_give_rules_no_database():
    from config.settings import base

    assert base.COMPLIANCE_SQL_DATABASES == [] or base.COMPLIANCE_DATABASE_URL


def _odbc(role: str) -> str:
    db = connection.settings_dict
    return (
        f"DRIVER={{PostgreSQL Unicode}};SERVER=127.0.0.1;PORT=5432;UID={role};DATABASE={db['NAME']}"
    )


@pytest.fixture
def writer_role(readonly_role):
    """A non-superuser that may INSERT into one table: not read-only."""
    import psycopg

    role = f"{readonly_role}_w"[:63]
    db = connection.settings_dict
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={db['NAME']}", autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
            c.execute(f'CREATE ROLE "{role}" LOGIN')
        c.execute(f'ALTER ROLE "{role}" SET default_transaction_read_only = on')
        c.execute(f'GRANT SELECT, INSERT ON compliance_warehouse TO "{role}"')
    return role


@pytest.mark.django_db(databases=RULE_DATABASES)
@needs_odbc_drivers
def test_rules_refuse_a_superuser_or_writer_role_at_connect(admin_client, writer_role):
    for name, role in (("as-superuser", "postgres"), ("as-writer", writer_role)):
        body = {
            "name": name,
            "area": "roles",
            "query": "SELECT 1 AS n FROM (SELECT pg_sleep(0)) s",
            "connection": _odbc(role),
        }
        assert admin_client.post(RULES, body, format="json").status_code == 201
    results = {r["rule"]: r for r in compliance_check(job=compliance_job(), area="roles")["rules"]}
    assert results["as-superuser"]["status"] == "error"
    assert "is a superuser" in results["as-superuser"]["error"]
    assert results["as-writer"]["status"] == "error"
    assert "may write to tables" in results["as-writer"]["error"]


@pytest.mark.django_db(databases=RULE_DATABASES)
@needs_odbc_drivers
def test_a_read_only_role_runs_its_rule(admin_client, readonly_role):
    body = {
        "name": "as-reader",
        "area": "roles",
        "query": "SELECT n FROM generate_series(1, 3) AS n",
        "connection": _odbc(readonly_role),
    }
    assert admin_client.post(RULES, body, format="json").status_code == 201
    (result,) = compliance_check(job=compliance_job(), area="roles")["rules"]
    assert (result["status"], result["violations"]) == ("violations", 3)


# --- dynamic parameter queries ------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("index", range(4))
@needs_odbc_drivers
def test_smuggled_parameter_query_is_refused_by_jobs_apply(tmp_path, index, settings):
    import yaml
    from django.core.management import CommandError, call_command

    settings.JOBS_PROCESS_ALLOWED_EXECUTABLES = ["/bin/true", "/usr/bin/true"]
    query = smuggle("jw_smuggled")[index]
    spec = {
        "name": "lookup",
        "kind": "process",
        "config": {"executable": "/bin/true", "connections": {"erp": _odbc("postgres")}},
        "parameter_queries": [{"name": "Day", "query": query, "connection": "erp"}],
    }
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump({"jobs": [spec]}))
    with pytest.raises(CommandError, match=r"parameter_queries\[0\]\.query: .*single statement"):
        call_command("jobs", "apply", str(path))


@pytest.mark.django_db(transaction=True)
@needs_odbc_drivers
def test_a_stored_smuggling_parameter_query_runs_nothing():
    # Before the fix, this left the read-only transaction and created the table.
    table = f"jw_smuggled_{uuid.uuid4().hex[:6]}"
    for query in smuggle(table):
        job = make_job(
            "process",
            {"executable": "/bin/true", "connections": {"erp": _odbc("postgres")}},
            parameter_queries=[{"name": "Day", "query": query, "connection": "erp"}],
        )
        with pytest.raises(UnresolvedParameter, match="single statement"):
            resolve_parameters(job, run_id="r1")
    assert not table_exists(table)


@pytest.fixture
def maria_reader():
    """A MariaDB account holding SELECT on the test schema only."""
    from tests.jobs.kinds_support import MARIADB

    admin = odbc_connect(MARIADB, autocommit=True)
    admin.execute("CREATE USER IF NOT EXISTS 'jw_rule_reader'@'%'")
    admin.execute("GRANT SELECT ON test.* TO 'jw_rule_reader'@'%'")
    admin.close()
    return MARIADB.replace("UID=root", "UID=jw_rule_reader")


@pytest.mark.django_db(databases=RULE_DATABASES)
@needs_mariadb
def test_mariadb_rules_refuse_an_account_with_write_grants(admin_client, maria_reader):
    from tests.jobs.kinds_support import MARIADB

    for name, odbc in (("maria-root", MARIADB), ("maria-reader", maria_reader)):
        body = {"name": name, "area": "maria", "query": "SELECT 1 AS n", "connection": odbc}
        assert admin_client.post(RULES, body, format="json").status_code == 201
    results = {r["rule"]: r for r in compliance_check(job=compliance_job(), area="maria")["rules"]}
    assert results["maria-root"]["status"] == "error"
    assert "connection refused: the account" in results["maria-root"]["error"]
    assert (results["maria-reader"]["status"], results["maria-reader"]["violations"]) == (
        "violations",
        1,
    )
