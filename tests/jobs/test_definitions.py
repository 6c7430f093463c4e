"""Jobs defined in code: the @job decorator, and the deploy rule of the sync."""

from __future__ import annotations

import pytest

from jobs import runlog
from jobs.actors import Actor
from jobs.definitions import Registry, definitions_sync
from jobs.errors import ValidationError
from jobs.execution.kinds.python import resolve_target
from jobs.models import AuditEvent, Job, JobRun, JobSource
from jobs.services.jobs import job_disable, job_update

OPS = Actor(name="ops", source="admin")

registry = Registry()


@registry.job(
    cron="0 2 * * *", timezone="Europe/Prague", timeout="30m", max_retries=3, tags=["reports"]
)
def nightly_report(ctx=None):
    """Build the nightly report.

    More text that is not the description.
    """
    return {"rows": 10}


@registry.job(name="custom-name", description="Explicit description", cron=None)
def _renamed(ctx=None):
    return "ok"


def sync(reg=registry):
    return definitions_sync(Actor.system(), using=reg)


def redefine(**options):
    """A new deploy of nightly_report with different decorator options."""
    reg = Registry()
    base = {
        "cron": "0 2 * * *",
        "timezone": "Europe/Prague",
        "timeout": "30m",
        "max_retries": 3,
        "tags": ["reports"],
    }
    base.update(options)
    reg.job(**base)(nightly_report.__wrapped_job__)
    reg.add(registry.get("custom-name"))
    return reg


# --- the decorator --------------------------------------------------------------------


def test_name_defaults_to_the_function_name_and_description_to_the_docstring():
    definition = registry.get("nightly-report")

    assert definition.spec["description"] == "Build the nightly report."
    assert definition.spec["target"] == "tests.jobs.test_definitions:nightly_report"
    assert definition.spec["kind"] == "python"
    assert registry.get("custom-name").spec["description"] == "Explicit description"


def test_the_decorated_function_stays_callable_and_exposes_the_original():
    assert nightly_report() == {"rows": 10}
    assert nightly_report.job_name == "nightly-report"
    assert (
        resolve_target("tests.jobs.test_definitions:nightly_report")
        is nightly_report.__wrapped_job__
    )


def test_a_bad_cron_fails_at_decoration_naming_the_job_and_field():
    with pytest.raises(ValidationError, match=r"^job 'broken': cron: invalid cron expression"):

        @Registry().job(cron="0 25 * * *")
        def broken(ctx):
            pass


def test_an_unknown_option_fails_at_decoration():
    with pytest.raises(ValidationError, match="job 'typo': schedule: unknown field"):

        @Registry().job(schedule="@daily")
        def typo(ctx):
            pass


def test_two_functions_cannot_share_a_job_name():
    reg = Registry()
    reg.job(name="same")(nightly_report.__wrapped_job__)

    with pytest.raises(ValidationError, match="already defined"):
        reg.job(name="same")(_renamed.__wrapped_job__)


# --- sync -------------------------------------------------------------------------------

with_db = pytest.mark.django_db


@with_db
def test_sync_creates_code_jobs_and_is_idempotent():
    first = sync()
    second = sync()

    job = Job.objects.get(name="nightly-report")
    assert sorted(first.created) == ["custom-name", "nightly-report"]
    assert sorted(second.unchanged) == ["custom-name", "nightly-report"]
    assert (second.created, second.changed) == ([], {})
    assert job.source == JobSource.CODE
    assert (job.cron, job.timezone, job.timeout, job.max_retries) == (
        "0 2 * * *",
        "Europe/Prague",
        1800,
        3,
    )
    assert job.next_run_at is not None
    assert Job.objects.get(name="custom-name").schedule_type == "manual"
    assert AuditEvent.objects.filter(action="job.create", job_name="nightly-report").count() == 1


@with_db
def test_an_operator_disabled_job_stays_disabled_across_a_deploy():
    sync()
    job_disable("nightly-report", actor=OPS, reason="vendor outage")

    report = sync()

    job = Job.objects.get(name="nightly-report")
    assert job.enabled is False
    assert job.disabled_reason == "vendor outage"
    assert "nightly-report" in report.unchanged


@with_db
def test_an_operator_edit_survives_a_deploy_that_did_not_touch_the_field():
    sync()
    job_update("nightly-report", {"cron": "0 4 * * *", "max_retries": 0}, actor=OPS)

    sync(redefine(timeout="45m"))  # the developer changed only the timeout

    job = Job.objects.get(name="nightly-report")
    assert job.cron == "0 4 * * *"
    assert job.max_retries == 0
    assert job.timeout == 2700


@with_db
def test_a_cron_changed_in_code_applies_even_over_an_operator_edit():
    sync()
    job_update("nightly-report", {"cron": "0 4 * * *"}, actor=OPS)
    job_disable("nightly-report", actor=OPS, reason="paused")

    report = sync(redefine(cron="15 3 * * *"))

    job = Job.objects.get(name="nightly-report")
    assert job.cron == "15 3 * * *"
    assert job.enabled is False  # the code did not change `enabled`
    assert report.changed == {"nightly-report": ["cron"]}
    event = AuditEvent.objects.filter(action="job.update", job_name="nightly-report").latest("at")
    assert event.changes["cron"] == ["0 4 * * *", "15 3 * * *"]
    assert event.actor == "system"


@with_db
def test_a_job_removed_from_code_is_disabled_and_comes_back_enabled():
    sync()
    Job.objects.filter(name="nightly-report").update(execution_count=7)
    without = Registry()
    without.add(registry.get("custom-name"))

    report = sync(without)

    job = Job.objects.get(name="nightly-report")
    assert report.removed == ["nightly-report"]
    assert (job.enabled, job.disabled_reason) == (False, "removed from code")
    assert job.execution_count == 7  # history kept

    sync()

    job.refresh_from_db()
    assert job.enabled is True
    assert job.disabled_reason == ""


@with_db
def test_a_job_an_operator_disabled_stays_disabled_when_it_comes_back_to_code():
    sync()
    job_disable("nightly-report", actor=OPS, reason="do not run")
    without = Registry()
    sync(without)

    sync()

    assert Job.objects.get(name="nightly-report").disabled_reason == "do not run"


@with_db
def test_a_database_job_with_the_same_name_is_not_taken_over():
    Job.objects.create(
        name="nightly-report", target="jobs.examples:always_fails", source=JobSource.DATABASE
    )

    report = sync()

    assert report.conflicts == ["nightly-report"]
    assert Job.objects.get(name="nightly-report").target == "jobs.examples:always_fails"


@with_db
def test_a_definition_that_fails_kind_validation_saves_nothing():
    reg = Registry()
    reg.add(registry.get("nightly-report"))
    bad = registry.get("custom-name")
    from dataclasses import replace

    reg.add(
        replace(
            bad, name="ghost", spec={**bad.spec, "name": "ghost", "target": "tests.jobs.nope:gone"}
        )
    )

    with pytest.raises(ValidationError, match="job 'ghost': target"):
        sync(reg)
    assert not Job.objects.exists()


@with_db
def test_delay_queues_a_tracked_run_with_the_code_trigger(django_capture_on_commit_callbacks):
    sync()

    with django_capture_on_commit_callbacks(execute=True):
        run = nightly_report.delay(day="2024-01-01")
    runlog.flush()  # code triggers reach the database through the run journal

    run = JobRun.objects.get(pk=run.pk)
    assert run.trigger == "code"
    assert run.parameters["day"] == "2024-01-01"
    assert run.job.name == "nightly-report"
