"""jobs.services.jobs: every write to a job definition is validated,
transactional, audited and keeps beat's schedule in step."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django_celery_beat.models import PeriodicTask

from jobs.actors import Actor
from jobs.errors import Forbidden, NotFound, ValidationError
from jobs.models import AuditEvent, Job, JobSource, ScheduleType
from jobs.secrets import MASK
from jobs.services.jobs import (
    job_create,
    job_delete,
    job_disable,
    job_enable,
    job_update,
    jobs_apply,
)

pytestmark = pytest.mark.django_db

TARGET = "jobs.examples:report_progress"
OPS = Actor(name="ops", source="cli")


def spec(name="nightly-report", **over):
    data = {"name": name, "target": TARGET, "cron": "0 2 * * *", "timezone": "Europe/Prague"}
    data.update(over)
    return data


def audit(action, name):
    return list(AuditEvent.objects.filter(action=action, job_name=name))


# --- create ---------------------------------------------------------------------


def test_create_saves_the_job_schedules_it_and_audits():
    job = job_create(spec(timeout="30m", max_retries=3), actor=OPS)

    job.refresh_from_db()
    assert job.schedule_type == ScheduleType.RECURRING
    assert job.timeout == 1800
    assert job.max_retries == 3
    assert job.source == JobSource.DATABASE
    assert job.next_run_at is not None
    assert PeriodicTask.objects.filter(name="job:nightly-report", enabled=True).exists()
    [event] = audit("job.create", "nightly-report")
    assert event.actor == "ops"
    assert event.source == "cli"
    assert event.changes["cron"] == [None, "0 2 * * *"]


def test_create_refuses_a_duplicate_name():
    job_create(spec(), actor=OPS)

    with pytest.raises(ValidationError, match="already exists"):
        job_create(spec(), actor=OPS)
    assert Job.objects.count() == 1


def test_create_with_a_bad_spec_saves_nothing():
    with pytest.raises(ValidationError, match="job 'nightly-report': cron"):
        job_create(spec(cron="99 * * * *"), actor=OPS)

    assert not Job.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_manual_job_has_no_beat_entry_and_no_next_run():
    job = job_create(spec(cron=None), actor=OPS)

    assert job.schedule_type == ScheduleType.MANUAL
    assert job.next_run_at is None
    assert not PeriodicTask.objects.filter(name="job:nightly-report").exists()


def test_a_job_created_disabled_records_who_and_why():
    job = job_create(spec(enabled=False), actor=OPS, reason="not yet")

    assert job.disabled_reason == "not yet"
    assert job.disabled_by == "ops"
    assert job.disabled_at is not None


def test_secrets_are_masked_in_the_audit_trail():
    job_create(spec(config={"secret_parameters": {"api_key": "s3cret"}}), actor=OPS)

    [event] = audit("job.create", "nightly-report")
    assert "s3cret" not in str(event.changes)
    assert event.changes["config"][1]["secret_parameters"]["api_key"] == MASK
    assert "s3cret" not in str(Job.objects.get().config)


# --- update -----------------------------------------------------------------------


def test_update_changes_only_the_given_fields_and_resyncs_the_schedule():
    job_create(spec(max_retries=2), actor=OPS)

    job = job_update("nightly-report", {"cron": "30 4 * * *"}, actor=OPS)

    job.refresh_from_db()
    assert job.cron == "30 4 * * *"
    assert job.max_retries == 2
    entry = PeriodicTask.objects.get(name="job:nightly-report")
    assert (entry.crontab.minute, entry.crontab.hour) == ("30", "4")
    [event] = audit("job.update", "nightly-report")
    assert event.changes == {"cron": ["0 2 * * *", "30 4 * * *"]}


def test_update_with_the_same_values_writes_and_audits_nothing():
    job_create(spec(), actor=OPS)

    job_update("nightly-report", {"cron": "0 2 * * *", "timezone": "Europe/Prague"}, actor=OPS)

    assert audit("job.update", "nightly-report") == []


def test_update_of_an_unknown_job_is_not_found():
    with pytest.raises(NotFound, match="job 'ghost' not found"):
        job_update("ghost", {"cron": "@daily"}, actor=OPS)


def test_update_with_a_bad_value_leaves_the_job_as_it_was():
    job_create(spec(), actor=OPS)

    with pytest.raises(ValidationError, match="job 'nightly-report': timezone"):
        job_update("nightly-report", {"cron": "@hourly", "timezone": "Moon/Base"}, actor=OPS)
    assert Job.objects.get().cron == "0 2 * * *"


def test_a_masked_secret_sent_back_keeps_the_stored_secret():
    from jobs.secrets import open_config

    job_create(spec(config={"secret_parameters": {"api_key": "s3cret"}}), actor=OPS)

    job_update(
        "nightly-report",
        {"config": {"secret_parameters": {"api_key": MASK}}, "max_retries": 1},
        actor=OPS,
    )

    job = Job.objects.get()
    assert open_config(job)["secret_parameters"]["api_key"] == "s3cret"
    [event] = audit("job.update", "nightly-report")
    assert set(event.changes) == {"max_retries"}


# --- enable / disable ---------------------------------------------------------------


def test_disable_keeps_reason_time_and_actor_and_stops_the_beat_entry():
    job_create(spec(), actor=OPS)

    job = job_disable("nightly-report", actor=OPS, reason="maintenance")

    assert (job.enabled, job.disabled_reason, job.disabled_by) == (False, "maintenance", "ops")
    assert job.next_run_at is None
    assert PeriodicTask.objects.get(name="job:nightly-report").enabled is False
    [event] = audit("job.disable", "nightly-report")
    assert event.reason == "maintenance"


def test_disable_is_idempotent_and_keeps_the_first_reason():
    job_create(spec(), actor=OPS)
    first = job_disable("nightly-report", actor=OPS, reason="maintenance")

    again = job_disable("nightly-report", actor=Actor(name="bob", source="api"), reason="other")

    assert again.disabled_reason == "maintenance"
    assert again.disabled_by == "ops"
    assert again.disabled_at == first.disabled_at
    assert len(audit("job.disable", "nightly-report")) == 1


def test_enable_clears_the_reason_resets_failures_and_reschedules():
    job_create(spec(), actor=OPS)
    job_disable("nightly-report", actor=OPS, reason="too many failures")
    Job.objects.update(consecutive_failures=5)

    job = job_enable("nightly-report", actor=OPS)

    job.refresh_from_db()
    assert job.enabled and job.disabled_reason == "" and job.disabled_at is None
    assert job.consecutive_failures == 0
    assert job.next_run_at is not None
    assert PeriodicTask.objects.get(name="job:nightly-report").enabled is True
    job_enable("nightly-report", actor=OPS)
    assert len(audit("job.enable", "nightly-report")) == 1


def test_enable_of_an_unknown_job_is_not_found():
    with pytest.raises(NotFound):
        job_enable("ghost", actor=OPS)


# --- delete -------------------------------------------------------------------------


def test_delete_removes_the_job_and_its_beat_entry_and_audits():
    job_create(spec(), actor=OPS)

    job_delete("nightly-report", actor=OPS, reason="obsolete")

    assert not Job.objects.exists()
    assert not PeriodicTask.objects.filter(name="job:nightly-report").exists()
    [event] = audit("job.delete", "nightly-report")
    assert event.reason == "obsolete"


# --- apply --------------------------------------------------------------------------


def test_apply_creates_then_is_idempotent():
    specs = [spec("a"), spec("b", cron=None)]

    first = jobs_apply(specs, actor=OPS)
    second = jobs_apply(specs, actor=OPS)

    assert first.created == ["a", "b"]
    assert (second.created, second.changed, second.unchanged) == ([], {}, ["a", "b"])
    assert AuditEvent.objects.filter(action="job.create").count() == 2
    assert not AuditEvent.objects.filter(action="job.update").exists()


def test_apply_reports_changed_fields():
    jobs_apply([spec("a")], actor=OPS)

    report = jobs_apply([spec("a", cron="@hourly", timeout="5m")], actor=OPS)

    assert report.changed == {"a": ["cron", "timeout"]}
    assert Job.objects.get(name="a").timeout == 300


def test_apply_with_one_bad_spec_saves_nothing():
    with pytest.raises(ValidationError, match="job 'b': timezone: unknown time zone"):
        jobs_apply([spec("a"), spec("b", timezone="Nowhere/Land")], actor=OPS)

    assert not Job.objects.exists()
    assert not PeriodicTask.objects.filter(name__startswith="job:").exists()


def test_apply_refuses_a_name_given_twice():
    with pytest.raises(ValidationError, match="defined twice"):
        jobs_apply([spec("a"), spec("a")], actor=OPS)
    assert not Job.objects.exists()


def test_apply_dry_run_reports_without_saving():
    report = jobs_apply([spec("a")], actor=OPS, dry_run=True)

    assert report.created == ["a"]
    assert not Job.objects.exists()


def test_reapplying_a_file_does_not_reenable_an_operator_disabled_job():
    jobs_apply([spec("a")], actor=OPS)
    job_disable("a", actor=OPS, reason="investigating")

    report = jobs_apply([spec("a")], actor=OPS)

    assert report.unchanged == ["a"]
    assert Job.objects.get(name="a").enabled is False


# --- permissions ----------------------------------------------------------------------


def process_spec():
    return {"name": "shell", "kind": "process", "config": {"command": ["/bin/true"]}}


def test_process_jobs_need_the_execution_permission(django_user_model):
    user = django_user_model.objects.create_user("eve", is_staff=True)
    actor = Actor.for_user(user, "api")

    with pytest.raises(Forbidden, match="manage_execution_jobs"):
        job_create(process_spec(), actor=actor)
    with pytest.raises(Forbidden):
        jobs_apply([process_spec()], actor=actor)
    assert not Job.objects.exists()


def test_editing_an_existing_sql_job_into_python_still_needs_the_permission(django_user_model):
    Job.objects.create(name="proc", kind="sql", config={})
    user = django_user_model.objects.create_user("eve")

    with pytest.raises(Forbidden):
        job_update("proc", {"kind": "python", "target": TARGET}, actor=Actor.for_user(user, "api"))
    with pytest.raises(Forbidden):
        job_delete("proc", actor=Actor.for_user(user, "api"))


def test_a_user_with_the_permission_passes_the_check(django_user_model):
    user = django_user_model.objects.create_user("root")
    user.user_permissions.add(Permission.objects.get(codename="manage_execution_jobs"))
    from jobs.services.jobs import check_execution_permission

    check_execution_permission(Actor.for_user(user, "api"), ["process"])  # no raise


# --- parameter queries: SQL run before a job of any kind --------------------------------

QUERIES = [{"name": "Since", "query": "SELECT DATE '2024-01-01'", "database": "default"}]


@pytest.fixture
def query_settings(settings):
    # Queries may target "default" only when it is listed explicitly.
    settings.JOBS_SQL_ALLOWED_DATABASES = ["default"]
    return settings


@pytest.fixture
def editor(django_user_model):
    """An operator-like user: may add and change jobs, may not run SQL."""
    user = django_user_model.objects.create_user("olga", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_job", "change_job", "view_job"])
    )
    return Actor.for_user(user, "api")


def test_a_python_job_with_parameter_queries_needs_the_execution_permission(editor, query_settings):
    with pytest.raises(Forbidden, match="parameter_queries.*manage_execution_jobs") as exc:
        job_create(spec(parameter_queries=QUERIES), actor=editor)
    assert exc.value.fields == {"parameter_queries": "needs manage_execution_jobs"}
    with pytest.raises(Forbidden, match="parameter_queries"):
        jobs_apply([spec("other"), spec(parameter_queries=QUERIES)], actor=editor)

    assert not Job.objects.exists()
    assert not AuditEvent.objects.exists()


def test_adding_parameter_queries_to_an_existing_job_is_refused_and_nothing_saved(
    editor, query_settings
):
    job_create(spec(), actor=OPS)

    with pytest.raises(Forbidden, match="parameter_queries"):
        job_update("nightly-report", {"parameter_queries": QUERIES, "max_retries": 5}, actor=editor)
    with pytest.raises(Forbidden, match="parameter_queries"):
        jobs_apply([spec(parameter_queries=QUERIES)], actor=editor)

    job = Job.objects.get(name="nightly-report")
    assert job.parameter_queries == []
    assert job.max_retries != 5
    assert audit("job.update", "nightly-report") == []


def test_changing_the_sql_of_existing_parameter_queries_is_refused(editor, query_settings):
    job_create(spec(parameter_queries=QUERIES), actor=OPS)
    changed = [{**QUERIES[0], "query": "SELECT password FROM auth_user LIMIT 1"}]

    with pytest.raises(Forbidden, match="parameter_queries"):
        job_update("nightly-report", {"parameter_queries": changed}, actor=editor)

    assert Job.objects.get(name="nightly-report").parameter_queries == QUERIES


def test_other_edits_of_a_job_with_parameter_queries_and_clearing_them_are_allowed(
    editor, query_settings
):
    job_create(spec(parameter_queries=QUERIES), actor=OPS)

    job_update("nightly-report", {"max_retries": 4}, actor=editor)
    jobs_apply([spec(parameter_queries=QUERIES, max_retries=5)], actor=editor)
    assert Job.objects.get(name="nightly-report").max_retries == 5

    job_update("nightly-report", {"parameter_queries": []}, actor=editor)
    assert Job.objects.get(name="nightly-report").parameter_queries == []


def test_a_superuser_may_set_parameter_queries(django_user_model, query_settings):
    root = Actor.for_user(django_user_model.objects.create_superuser("root"), "api")

    job_create(spec(), actor=root)
    job = job_update("nightly-report", {"parameter_queries": QUERIES}, actor=root)

    job.refresh_from_db()
    assert job.parameter_queries == QUERIES
    [event] = audit("job.update", "nightly-report")
    assert event.changes["parameter_queries"] == [[], QUERIES]


def test_a_user_granted_the_execution_permission_may_set_parameter_queries(
    editor, query_settings, django_user_model
):
    user = django_user_model.objects.get(pk=editor.user_id)
    user.user_permissions.add(Permission.objects.get(codename="manage_execution_jobs"))

    job = job_create(spec(parameter_queries=QUERIES), actor=editor)

    assert job.parameter_queries == QUERIES


@pytest.mark.parametrize(
    "over, field",
    [
        ({"parameter_queries": [{"name": "X", "query": "SELECT 1"}]}, "parameter_queries[0]"),
        (
            {"parameter_queries": [{"name": "X", "query": "SELECT 1", "connection": "nope"}]},
            "parameter_queries[0].connection",
        ),
        (
            {"parameter_queries": [{"name": "X", "query": "SELECT 1", "database": "default"}]},
            "parameter_queries[0].database",  # "default" is not an allowed query target here
        ),
        ({"parameters": {"bad name": 1}}, "parameters"),
    ],
)
def test_a_python_job_with_a_bad_parameter_spec_is_refused_at_save(over, field):
    with pytest.raises(ValidationError) as exc:
        job_create(spec(**over), actor=OPS)

    assert exc.value.message.startswith(f"job 'nightly-report': {field}"), exc.value.message
    assert field in exc.value.fields
    assert not Job.objects.exists()


def test_a_bad_parameter_query_on_an_existing_python_job_is_refused_at_save():
    job_create(spec(), actor=OPS)

    with pytest.raises(ValidationError, match=r"parameter_queries\[0\]\.query is required"):
        job_update(
            "nightly-report",
            {"parameter_queries": [{"name": "X", "query": " ", "database": "default"}]},
            actor=OPS,
        )
    with pytest.raises(ValidationError, match=r"parameter_queries\[0\]"):
        jobs_apply([spec(parameter_queries=[{"name": "X", "query": "SELECT 1"}])], actor=OPS)

    assert Job.objects.get(name="nightly-report").parameter_queries == []
