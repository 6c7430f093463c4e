"""Issue 12 items 8 and 16: every duration, number, text and JSON value a user
stores is bounded at validation; rows saved before the bounds can neither
stop the health refresh of other jobs nor leave a run `running` forever."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from alerts.models import Channel
from alerts.services import alert_raise
from compliance.models import Rule
from jobs import runlog
from jobs.models import Job, JobRun
from jobs.redis import get_redis
from monitoring.models import JobHealth
from monitoring.services import health_refresh
from tests.api.conftest import _client, assert_error
from tests.factories import JobFactory
from tests.monitoring.history import add_runs, recurring_job, user_with_role

pytestmark = pytest.mark.django_db

PYTHON = {"name": "bounded", "kind": "python", "target": "tests.jobs.sample_jobs:succeed"}


def _nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


# --- item 8: durations and numbers -------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("grace_time", 1e11),
        ("grace_time", "100000000d"),
        ("retry_delay", 1e300),
        ("retry_max_delay", 1e12),
        ("retry_backoff", 1e300),
        ("retry_backoff", 11),
        ("expected_max_duration", 1e20),
        ("min_duration", 1e20),
        ("notify_on_duration_exceeds", 1e20),
        ("auto_disable_after", 10**20),
        ("auto_disable_after", 1e300),
        ("timeout", 1e300),
    ],
)
def test_a_duration_or_number_beyond_its_bound_is_refused(admin_client, field, value):
    response = admin_client.post("/api/v1/jobs/", {**PYTHON, field: value}, format="json")
    assert field in assert_error(response, 400, "invalid")["fields"]
    assert not Job.objects.filter(name="bounded").exists()


def test_a_viewer_owner_cannot_set_a_grace_time_that_breaks_the_fleet(job):
    """The reported attack: a viewer-role owner patches grace_time: 1e11."""
    owner = user_with_role("viewer", "vic")
    Job.objects.filter(pk=job.pk).update(owner=owner)
    response = _client(owner).patch(
        f"/api/v1/jobs/{job.name}/", {"grace_time": 1e11}, format="json"
    )
    assert "grace_time" in assert_error(response, 400)["fields"]
    job.refresh_from_db()
    assert job.grace_time == 1800


def test_bounded_values_within_the_limits_are_accepted(admin_client):
    spec = {**PYTHON, "grace_time": "31d", "retry_backoff": 10, "retry_max_delay": "1d"}
    assert admin_client.post("/api/v1/jobs/", spec, format="json").status_code == 201


def test_the_health_refresh_isolates_a_job_whose_row_overflows():
    """Rows saved before the bounds: a grace time of 1e11 s once failed the
    refresh of every job; a timeout of 1e300 s still overflows its own rule."""
    now = datetime.now(UTC)
    huge_grace = recurring_job(name="huge-grace", cron="* * * * *", grace_time=1e11)
    huge_timeout = recurring_job(name="huge-timeout", timeout=1e300)
    add_runs(huge_timeout, [{"at": now - timedelta(hours=1), "status": "running"}])
    healthy = recurring_job(name="healthy", cron="* * * * *")
    add_runs(healthy, [{"at": now - timedelta(minutes=i), "duration": 1} for i in range(3)])
    JobHealth.objects.create(job=huge_timeout, level="warning", issues=[], checked_at=now)

    summary = health_refresh(now=now)

    assert JobHealth.objects.filter(job=healthy).exists()
    assert JobHealth.objects.filter(job=huge_grace).exists()  # its grace is clamped
    assert JobHealth.objects.get(job=huge_timeout).level == "warning"  # kept, not lost
    assert summary["jobs"] == Job.objects.count() - 1


@pytest.fixture
def empty_journal():
    get_redis().delete(runlog.KEY)
    yield
    get_redis().delete(runlog.KEY)


@pytest.mark.parametrize(
    "policy",
    [
        {"retry_delay": 1e300},
        {"retry_delay": 60, "retry_backoff": 1e300, "retry_max_delay": 0},
        {"retry_delay": 60, "retry_jitter": 1e300},
    ],
)
def test_a_failed_run_with_overflowing_retry_settings_still_ends_and_retries(
    empty_journal, django_capture_on_commit_callbacks, policy
):
    """Rows saved before the bounds: the retry delay is clamped, so the run's
    end is applied (not left `running` with its end set aside)."""
    from jobs.actors import Actor
    from jobs.services.runs import Outcome, run_finish, run_trigger
    from tests.jobs.test_runlog import start

    job = JobFactory(max_retries=3, **policy)
    Job.objects.filter(pk=job.pk).update(**policy)  # as an old row would hold it
    with django_capture_on_commit_callbacks(execute=True):
        run = run_trigger(job.name, actor=Actor(name="tests", source="code"), trigger="code")
    started = start(run)
    run_finish(started, Outcome(status="failed", error="flaky"))
    runlog.flush()
    assert JobRun.objects.get(pk=run.pk).status == "retrying"
    retry = JobRun.objects.get(first_attempt_id=run.pk)
    from django.conf import settings

    latest = datetime.now(UTC) + timedelta(seconds=settings.JOBS_MAX_DURATION + 60)
    assert retry.scheduled_for <= latest


# --- item 16: sizes ----------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("description", "x" * 10_001),
        ("display_name", "x" * 201),
        ("tags", ["x" * (1024 * 1024)]),
        ("tags", [f"t{i}" for i in range(51)]),
        ("notification_emails", [f"u{i}@example.com" for i in range(51)]),
        ("parameters", {"blob": "x" * (64 * 1024)}),
        ("parameters", _nested(21)),
        ("parameters", {"nul": "a\u0000b"}),
        ("config", {"connections": {"x": "y" * (64 * 1024)}}),
        ("parameter_queries", [{"name": f"q{i}"} for i in range(51)]),
    ],
)
def test_a_text_or_json_value_over_its_limit_is_refused(admin_client, field, value):
    response = admin_client.post("/api/v1/jobs/", {**PYTHON, field: value}, format="json")
    assert field in assert_error(response, 400, "invalid")["fields"]
    assert not Job.objects.filter(name="bounded").exists()


def test_parameters_just_within_the_limits_are_accepted(admin_client):
    spec = {**PYTHON, "parameters": {"deep": _nested(19), "blob": "x" * 60_000}, "tags": ["a"] * 50}
    assert admin_client.post("/api/v1/jobs/", spec, format="json").status_code == 201


def test_a_huge_trigger_override_is_refused_and_no_run_is_queued(operator_client, job):
    """The reported 2.4 MB parameter override."""
    body = {"parameters": {"days": "x" * (2_400_000)}}
    response = operator_client.post(f"/api/v1/jobs/{job.name}/trigger/", body, format="json")
    assert "parameters" in assert_error(response, 400, "invalid")["fields"]
    assert not JobRun.objects.filter(job=job).exists()


def test_a_deep_trigger_override_is_refused(operator_client, job):
    body = json.dumps({"parameters": _nested(50)})
    response = operator_client.post(
        f"/api/v1/jobs/{job.name}/trigger/", data=body, content_type="application/json"
    )
    assert_error(response, 400)
    assert not JobRun.objects.filter(job=job).exists()


def test_a_jobs_apply_file_with_an_oversized_tag_is_refused(tmp_path):
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps([{**PYTHON, "tags": ["x" * 1000]}]))
    with pytest.raises(CommandError, match="tags: a tag has at most 100 characters"):
        call_command("jobs", "apply", str(spec))
    assert not Job.objects.filter(name="bounded").exists()


def test_alert_resolution_notes_are_bounded(operator_client):
    alert = alert_raise(type="job_failure", severity="high", title="t", job=JobFactory())
    response = operator_client.post(
        f"/api/v1/alerts/{alert.pk}/resolve/", {"notes": "x" * 20_000}, format="json"
    )
    assert "notes" in assert_error(response, 400)["fields"]
    alert.refresh_from_db()
    assert alert.status == "open"


def test_channel_config_and_name_are_bounded(admin_client):
    body = {
        "name": "mail",
        "kind": "email",
        "config": {"recipients": ["a@example.com"], "x": "y" * 70_000},
    }
    response = admin_client.post("/api/v1/channels/", body, format="json")
    assert "config" in assert_error(response, 400)["fields"]
    body = {"name": "m" * 101, "kind": "email", "config": {"recipients": ["a@example.com"]}}
    assert (
        "name"
        in assert_error(admin_client.post("/api/v1/channels/", body, format="json"), 400)["fields"]
    )
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("description", "x" * 10_001),
        ("query", "SELECT 1 WHERE 'x' = '" + "x" * 10_000 + "'"),
        ("area", "x" * 201),
        ("params", [_nested(25)]),
    ],
)
def test_compliance_rule_fields_are_bounded(admin_client, field, value):
    body = {"name": "big-rule", "area": "material", "query": "SELECT 1", field: value}
    response = admin_client.post("/api/v1/compliance/rules/", body, format="json")
    assert field in assert_error(response, 400)["fields"]
    assert not Rule.objects.filter(name="big-rule").exists()
