"""jobs.specs: one validated shape for every door that defines a job."""

from __future__ import annotations

import pytest

from jobs.errors import ValidationError
from jobs.models import Job, ScheduleType
from jobs.specs import SPEC_FIELDS, load_spec_file, validate_spec

TARGET = "jobs.examples:report_progress"


def spec(**over):
    data = {"name": "nightly-report", "target": TARGET, "cron": "0 2 * * *"}
    data.update(over)
    return data


def error_of(data, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        validate_spec(data, **kwargs)
    return info.value


@pytest.mark.parametrize(
    ("over", "field", "fragment"),
    [
        ({"cron": "61 * * * *"}, "cron", "invalid cron expression '61 * * * *'"),
        ({"cron": "* * *"}, "cron", "has 3 fields"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone 'Mars/Olympus'"),
        ({"target": "no_such_module:run"}, "target", "is not a registered job function"),
        (
            {"target": "jobs.examples:no_such_function"},
            "target",
            "is not a registered job function",
        ),
        ({"target": "tests.jobs.no_such_module:run"}, "target", "cannot import module"),
        ({"target": "tests.jobs.sample_jobs:no_such"}, "target", "has no 'no_such'"),
        ({"colour": "blue"}, "colour", "unknown field"),
        ({"timeout": "20 parsecs"}, "timeout", "is not a duration"),
        ({"timeout": "9h"}, "timeout", "at most 14400s"),
        ({"retry_delay": -5}, "retry_delay", "must not be negative"),
        ({"overlap": "never"}, "overlap", "'never' is not one of skip, queue, allow"),
        ({"max_retries": "lots"}, "max_retries", "expected a whole number"),
        ({"priority": 12}, "priority", "between 0 and 9"),
        ({"retry_jitter": 1.5}, "retry_jitter", "between 0 and 1"),
        ({"enabled": "yes"}, "enabled", "expected true or false"),
        ({"kind": "cobol"}, "kind", "'cobol' is not one of"),
        ({"name": "has spaces"}, "name", "must be a slug"),
        (
            {"notification_emails": ["not-an-email"]},
            "notification_emails",
            "is not an email address",
        ),
        ({"run_at": "tomorrow-ish"}, "run_at", "is not an ISO 8601 date-time"),
        ({"run_at": "2030-01-01T02:00:00+00:00"}, "run_at", "not both"),
        ({"parameters": [1, 2]}, "parameters", "expected a mapping"),
    ],
)
def test_bad_input_gives_one_line_error_naming_job_and_field(over, field, fragment):
    err = error_of(spec(**over))

    name = over.get("name", "nightly-report")
    assert err.message.startswith(f"job {name!r}: {field}")
    assert fragment in err.message
    assert "\n" not in err.message
    assert field in err.fields
    assert err.code == "invalid"


def test_error_message_matches_the_documented_example():
    err = error_of(spec(cron="61 * * * *"))

    assert err.message.startswith(
        "job 'nightly-report': cron: invalid cron expression '61 * * * *': "
    )
    assert err.fields["cron"].startswith("invalid cron expression")


def test_all_wrong_fields_are_reported_the_first_in_the_message():
    err = error_of(spec(cron="bad", timezone="Nowhere/Land", colour="red"))

    assert set(err.fields) == {"cron", "timezone", "colour"}
    assert "(and 2 more:" in err.message


def test_missing_name_and_target_are_named():
    err = error_of({"cron": "@daily"})

    assert "name" in err.fields
    assert err.fields["name"] == "is required"


def test_python_job_needs_a_target():
    err = error_of({"name": "x"})

    assert err.fields == {"target": "is required for python jobs (module:function)"}


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [(90, 90.0), ("90s", 90.0), ("20m", 1200.0), ("1h", 3600.0), (2.5, 2.5), ("250ms", 0.25)],
)
def test_durations_accept_seconds_or_unit_strings(raw, seconds):
    assert validate_spec(spec(retry_delay=raw)).values["retry_delay"] == seconds


def test_omitted_fields_take_the_documented_defaults():
    values = validate_spec({"name": "x", "target": TARGET}).values

    assert set(values) == set(SPEC_FIELDS)
    assert values["timeout"] == 1200.0  # 20 minutes
    assert values["retry_backoff"] == 2.0
    assert values["retry_jitter"] == 0.2
    assert values["overlap"] == "skip"
    assert values["auto_disable_after"] == 5
    assert values["timezone"] == "UTC"
    assert values["enabled"] is True


@pytest.mark.parametrize("cron", [None, ""])
def test_no_cron_means_manual_only(cron):
    data = {"name": "x", "target": TARGET}
    if cron is not None:
        data["cron"] = cron
    assert validate_spec(data).schedule_type == ScheduleType.MANUAL
    assert validate_spec({**data, "cron": None}).schedule_type == ScheduleType.MANUAL


def test_run_at_makes_a_one_off_job_and_a_naive_time_is_the_jobs_wall_clock():
    result = validate_spec(
        {
            "name": "x",
            "target": TARGET,
            "run_at": "2030-07-01T02:00:00",
            "timezone": "Europe/Prague",
        }
    )

    assert result.schedule_type == ScheduleType.ONCE
    assert result.values["run_at"] == "2030-07-01T00:00:00+00:00"  # CEST is UTC+2


def test_cron_macros_and_whitespace_are_accepted():
    assert validate_spec(spec(cron="@hourly")).values["cron"] == "@hourly"
    assert validate_spec(spec(cron=" 0  2 * * * ")).values["cron"] == "0 2 * * *"


def test_tags_and_emails_accept_a_comma_separated_string():
    values = validate_spec(spec(tags="a, b", notification_emails="ops@example.com")).values

    assert values["tags"] == ["a", "b"]
    assert values["notification_emails"] == ["ops@example.com"]


def test_read_only_keys_of_the_job_json_are_refused_or_ignored():
    data = spec(status="failed", execution_count=3, human_schedule="At 02:00")

    err = error_of(data)
    assert err.fields == {
        "status": "is read-only",
        "execution_count": "is read-only",
        "human_schedule": "is read-only",
    }
    assert "status" not in validate_spec(data, read_only="ignore").values


@pytest.mark.django_db
def test_partial_validation_merges_changes_over_the_saved_job():
    job = Job.objects.create(name="x", target=TARGET, cron="0 2 * * *", timeout=60, max_retries=2)

    result = validate_spec({"cron": "30 3 * * *"}, existing=job, partial=True)

    assert result.values["cron"] == "30 3 * * *"
    assert result.values["timeout"] == 60.0
    assert result.values["max_retries"] == 2
    assert result.given == {"cron"}
    assert result.changed_fields(job) == ["cron"]


@pytest.mark.django_db
def test_partial_validation_names_the_existing_job_in_errors():
    job = Job.objects.create(name="billing", target=TARGET, cron="0 2 * * *")

    err = error_of({"timezone": "Atlantis/Capital"}, existing=job, partial=True)

    assert err.message.startswith("job 'billing': timezone: unknown time zone")


@pytest.mark.django_db
def test_a_job_cannot_be_renamed():
    job = Job.objects.create(name="billing", target=TARGET)

    err = error_of({"name": "other"}, existing=job, partial=True)

    assert "cannot be changed" in err.fields["name"]


@pytest.mark.django_db
def test_setting_run_at_on_a_recurring_job_makes_it_one_off():
    job = Job.objects.create(name="x", target=TARGET, cron="0 2 * * *")

    result = validate_spec({"run_at": "2030-01-01T00:00:00+00:00"}, existing=job, partial=True)

    assert result.values["cron"] is None
    assert result.schedule_type == ScheduleType.ONCE


@pytest.mark.django_db
def test_owner_must_be_an_existing_user(django_user_model):
    django_user_model.objects.create_user("alice")

    assert validate_spec(spec(owner="alice")).values["owner"] == "alice"
    assert error_of(spec(owner="mallory")).fields == {"owner": "unknown user 'mallory'"}


def test_spec_file_accepts_a_list_or_a_jobs_mapping(tmp_path):
    listed = tmp_path / "a.yaml"
    listed.write_text("- name: a\n  target: x:y\n")
    wrapped = tmp_path / "b.json"
    wrapped.write_text('{"jobs": [{"name": "b", "target": "x:y"}]}')

    assert load_spec_file(listed) == [{"name": "a", "target": "x:y"}]
    assert load_spec_file(wrapped) == [{"name": "b", "target": "x:y"}]


def test_unreadable_or_malformed_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("jobs: [\n  {name: a\n")

    with pytest.raises(ValidationError) as info:
        load_spec_file(bad)
    assert "not valid YAML/JSON at line" in info.value.message
    assert "\n" not in info.value.message
    with pytest.raises(ValidationError, match="cannot read"):
        load_spec_file(tmp_path / "missing.yaml")
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ValidationError, match="expected a list of job specs"):
        load_spec_file(scalar)
