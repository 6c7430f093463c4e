"""Compliance: severity thresholds, isolation of failing rules (through a
real worker), the demo, the rules API and the CLI."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from rest_framework.test import APIClient

from alerts.models import Alert
from compliance.demo import demo_load
from compliance.engine import severity_for
from compliance.models import Rule, Stock
from compliance.services import compliance_check, rule_create
from jobs.actors import Actor
from jobs.errors import ValidationError
from jobs.models import AuditEvent, JobRun
from jobs.services.runs import run_trigger
from tests.conftest import RULE_DATABASES, wait_until
from tests.factories import JobFactory, UserFactory

# SQL rules run on the "compliance" alias: a read-only role (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("compliance_db")
ADMIN = Actor(name="admin", source="cli")
SERIES = "SELECT n FROM generate_series(1, %s) AS n"


def compliance_job():
    return JobFactory(
        name="compliance-check",
        target="compliance.jobs:compliance_check",
        overlap="skip",
        overridable_parameters=["rules", "area"],  # as its @job declares
    )


@pytest.mark.parametrize(
    ("violations", "severity"),
    [(0, None), (1, "medium"), (5, "medium"), (6, "high"), (10, "high"), (11, "critical")],
)
def test_severity_thresholds(violations, severity):
    assert severity_for(violations) == severity


@pytest.mark.django_db(databases=RULE_DATABASES)
@pytest.mark.parametrize(
    ("violations", "severity"),
    [(0, None), (1, "medium"), (5, "medium"), (6, "high"), (10, "high"), (11, "critical")],
)
def test_one_alert_per_area_with_severity_by_violation_count(violations, severity):
    job = compliance_job()
    rule_create(
        {"name": "series", "area": "material", "query": SERIES, "params": [violations]}, actor=ADMIN
    )
    result = compliance_check(job=job, rules=["series"])
    assert result["totals"]["violations"] == violations
    alerts = list(Alert.objects.filter(type="compliance_violation"))
    if severity is None:
        assert alerts == [] and result["rules"][0]["status"] == "passed"
    else:
        (alert,) = alerts
        assert (alert.severity, alert.area, alert.job_name) == (
            severity,
            "material",
            "compliance-check",
        )
        assert alert.details["violations"] == violations


@pytest.mark.django_db(databases=RULE_DATABASES)
def test_row_limit_and_sample_bound_what_is_kept(settings):
    settings.COMPLIANCE_SAMPLE_ROWS = 3
    rule_create(
        {"name": "many", "area": "a", "query": SERIES, "params": [50], "row_limit": 20}, actor=ADMIN
    )
    (result,) = compliance_check(job=compliance_job(), rules=["many"])["rules"]
    assert (result["violations"], result["truncated"], len(result["sample"])) == (20, True, 3)
    assert result["sample"][0] == {"n": 1}


@pytest.mark.django_db(databases=RULE_DATABASES)
def test_sql_rules_run_read_only_and_time_out():
    with pytest.raises(ValidationError, match="query must only read"):
        rule_create(
            {
                "name": "cte-writer",
                "area": "a",
                "query": "WITH x AS (DELETE FROM compliance_stock RETURNING id) SELECT * FROM x",
            },
            actor=ADMIN,
        )
    # The rule's role reads only what it was granted: not Jobwarden's tables.
    rule_create({"name": "own-tables", "area": "a", "query": "SELECT * FROM jobs_job"}, actor=ADMIN)
    rule_create(
        {"name": "slow", "area": "b", "query": "SELECT pg_sleep(3)", "timeout": "1s"}, actor=ADMIN
    )
    results = {r["rule"]: r for r in compliance_check(job=compliance_job())["rules"]}
    assert results["own-tables"]["status"] == "error"
    assert "permission denied" in results["own-tables"]["error"]
    assert results["slow"]["status"] == "error" and "timeout" in results["slow"]["error"].lower()


@pytest.mark.django_db(databases=RULE_DATABASES)
def test_a_violation_alert_is_resolved_when_its_area_is_clean_again():
    job = compliance_job()
    rule = rule_create(
        {"name": "series", "area": "product", "query": SERIES, "params": [2]}, actor=ADMIN
    )
    compliance_check(job=job)
    Rule.objects.filter(pk=rule.pk).update(params=[0])
    compliance_check(job=job)
    alert = Alert.objects.get(type="compliance_violation")
    assert alert.status == "resolved" and alert.resolved_by == "system"


@pytest.mark.django_db(transaction=True, databases=RULE_DATABASES)
@pytest.mark.worker
def test_a_failing_rule_does_not_stop_the_others(start_worker, compliance_db):
    start_worker(
        env={
            "COMPLIANCE_RULE_MODULES": "tests.compliance.rules_for_tests",
            "COMPLIANCE_DATABASE_URL": compliance_db,
        }
    )
    job = compliance_job()
    rule_create(
        {"name": "bad-sql", "area": "material", "query": "SELECT * FROM no_such_table"}, actor=ADMIN
    )
    rule_create({"name": "good", "area": "material", "query": SERIES, "params": [7]}, actor=ADMIN)
    rule_create({"name": "clean", "area": "product", "query": SERIES, "params": [0]}, actor=ADMIN)
    Rule.objects.create(name="broken-python-check", kind="python", area="material")
    run = run_trigger(job.name, actor=ADMIN, trigger="cli")
    run = wait_until(
        lambda: JobRun.objects.filter(pk=run.pk, status__in=["succeeded", "failed"]).first(),
        timeout=60,
    )
    assert run.status == "succeeded", run.error
    totals = run.result["totals"]
    # + the built-in negative-stock check, which passes
    assert totals == {
        "rules_run": 5,
        "passed": 2,
        "with_violations": 1,
        "errors": 2,
        "violations": 7,
    }
    by_rule = {r["rule"]: r for r in run.result["rules"]}
    assert "no_such_table" in by_rule["bad-sql"]["error"]
    assert "the ERP is unreachable" in by_rule["broken-python-check"]["error"]
    violation = Alert.objects.get(type="compliance_violation")
    assert (violation.area, violation.severity, violation.run_id) == ("material", "high", run.pk)
    error_alert = Alert.objects.get(type="compliance_rule_error")
    assert {r["rule"] for r in error_alert.details["rules"]} == {"bad-sql", "broken-python-check"}


@pytest.mark.django_db(
    transaction=True, databases=RULE_DATABASES
)  # rules read through their own connection
def test_demo_is_idempotent_and_raises_one_alert_per_warehouse():
    first = demo_load()
    assert first["rules"] == 3 and first["warehouses"] == 3
    assert demo_load() == {"warehouses": 0, "products": 0, "stock": 0, "rules": 0}
    stock = Stock.objects.count()
    call_command("compliance", "demo")
    assert Stock.objects.count() == stock
    result = compliance_check(job=compliance_job())
    severities = dict(
        Alert.objects.filter(type="compliance_violation").values_list("area", "severity")
    )
    assert severities == {"material": "medium", "product": "high", "semi-product": "critical"}
    assert result["totals"]["violations"] == 3 + 7 + 12


@pytest.mark.django_db(databases=RULE_DATABASES)
def test_rule_validation_names_the_field():
    with pytest.raises(ValidationError) as err:
        rule_create(
            {"name": "x", "area": "a", "query": "DELETE FROM compliance_stock"}, actor=ADMIN
        )
    assert "query" in err.value.fields
    with pytest.raises(ValidationError) as err:
        rule_create({"name": "y", "area": "a", "query": "SELECT 1; SELECT 2"}, actor=ADMIN)
    assert "query" in err.value.fields
    with pytest.raises(ValidationError) as err:
        rule_create(
            {"name": "z", "area": "a", "query": "SELECT 1", "database": "nope"}, actor=ADMIN
        )
    assert "database" in err.value.fields
    assert not Rule.objects.filter(kind="sql").exists()


@pytest.mark.django_db(databases=RULE_DATABASES)
def test_odbc_connection_strings_are_encrypted_and_masked():
    rule = rule_create(
        {"name": "erp", "area": "a", "query": "SELECT 1", "connection": "DSN=erp;PWD=hunter2"},
        actor=ADMIN,
    )
    assert "hunter2" not in rule.connection_secret
    assert "hunter2" not in json.dumps(AuditEvent.objects.get(action="rule.create").changes)


def _client(role):
    user = UserFactory(username=f"{role}-c")
    user.groups.add(Group.objects.get(name=role))
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.django_db(databases=RULE_DATABASES)
def test_rules_api_admin_manages_operator_runs_viewer_reads():
    body = {"name": "api-rule", "area": "material", "query": SERIES, "params": [1]}
    assert (
        _client("viewer").post("/api/v1/compliance/rules/", body, format="json").status_code == 403
    )
    admin = _client("admin")
    created = admin.post("/api/v1/compliance/rules/", body, format="json")
    assert created.status_code == 201 and created.json()["kind"] == "sql"
    pk = created.json()["id"]
    patched = admin.patch(f"/api/v1/compliance/rules/{pk}/", {"enabled": False}, format="json")
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    bad = admin.patch(f"/api/v1/compliance/rules/{pk}/", {"query": "DROP TABLE x"}, format="json")
    assert bad.status_code == 400 and "query" in bad.json()["error"]["fields"]
    names = [
        r["name"] for r in _client("viewer").get("/api/v1/compliance/rules/").json()["results"]
    ]
    assert "api-rule" in names and "negative-stock" in names  # Python checks listed too
    admin.patch(f"/api/v1/compliance/rules/{pk}/", {"enabled": True}, format="json")

    compliance_job()
    assert (
        _client("viewer")
        .post("/api/v1/compliance/run/", {"area": "material"}, format="json")
        .status_code
        == 403
    )
    operator = _client("operator")
    typo = operator.post("/api/v1/compliance/run/", {"rules": ["nope"]}, format="json")
    assert typo.status_code == 400
    queued = operator.post("/api/v1/compliance/run/", {"area": "material"}, format="json")
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    assert queued.json()["parameters"] == {"area": "material"}
    runs = operator.get("/api/v1/compliance/runs/").json()["results"]
    assert runs[0]["id"] == queued.json()["id"]
    assert AuditEvent.objects.filter(action="compliance.run").count() == 1
    assert set(AuditEvent.objects.filter(target_type="rule").values_list("action", flat=True)) == {
        "rule.create",
        "rule.update",
    }


@pytest.mark.django_db(databases=RULE_DATABASES)
def test_builtin_system_jobs_are_declared_as_seed_001_demands():
    from jobs.definitions import definitions_sync, discover
    from jobs.models import Job

    discover()
    definitions_sync()
    job = Job.objects.get(name="compliance-check")
    assert (job.cron, job.overlap, job.timeout, job.enabled) == ("0 * * * *", "skip", 1200, True)
    assert Job.objects.filter(name__in=["alerts-escalate", "alerts-cleanup"]).count() == 2
