"""`manage.py jobs import crontab|csv`: real files in tmp_path, the command
through call_command, and --apply into the test database."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from jobs.importers.crontab import is_system_crontab
from jobs.models import Job
from jobs.secrets import open_config

ALLOWED = ["/usr/bin/echo", "/usr/bin/find", "/bin/sh", "/bin/bash", "/usr/local/bin/*"]

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _allowlist():
    with override_settings(JOBS_PROCESS_ALLOWED_EXECUTABLES=ALLOWED):
        yield


def run(tmp_path, text, *args, source="crontab", name="crontab"):
    """(exit status, parsed --json output, stderr lines) of `jobs import`."""
    path = tmp_path / name
    path.write_text(text)
    return run_path(str(path), *args, source=source)


def run_path(path, *args, source="crontab"):
    path_args = [path] if path else []
    import io
    import sys

    out, err = io.StringIO(), io.StringIO()
    saved = sys.stderr
    sys.stderr = err  # the command's stderr wrapper is made from sys.stderr
    try:
        call_command("jobs", "import", source, *path_args, "--json", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.stderr = saved
    return code, json.loads(out.getvalue()), err.getvalue().splitlines()


def only(result):
    code, data, err = result
    assert code == 0, err
    assert len(data["jobs"]) == 1, data
    return data["jobs"][0]


# --- crontab: lines → process jobs ---------------------------------------------------


def test_crontab_line_becomes_process_job_split_with_shlex(tmp_path):
    job = only(
        run(tmp_path, "15 3 * * 1-5 /usr/bin/find /tmp -name '*.tmp' -mtime \"+7\" -delete\n")
    )
    assert job["kind"] == "process"
    assert job["cron"] == "15 3 * * 1-5"
    assert job["config"] == {
        "executable": "/usr/bin/find",
        "args": ["/tmp", "-name", "*.tmp", "-mtime", "+7", "-delete"],
    }
    assert job["tags"] == ["imported", "imported:crontab"]


def test_system_crontab_reads_the_user_column(tmp_path):
    job = only(run(tmp_path, "0 4 * * * root /usr/bin/echo hi\n", "--system"))
    assert job["config"] == {"executable": "/usr/bin/echo", "args": ["hi"]}
    assert job["description"].endswith("line 1 (user root)")
    # Without --system, the user column would be read as the command.
    assert (
        only(run(tmp_path, "0 4 * * * root /usr/bin/echo hi\n"))["config"]["executable"] == "root"
    )


def test_system_format_is_detected_by_path():
    assert is_system_crontab("/etc/crontab")
    assert is_system_crontab("/etc/cron.d/backup")
    assert not is_system_crontab("/home/ann/crontab.txt")


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("/usr/bin/echo hi | grep h", "pipe"),
        ("/usr/bin/echo hi > /tmp/out", "redirection"),
        ("/usr/bin/echo a && /usr/bin/echo b", "&&"),
        ("/usr/bin/echo a; /usr/bin/echo b", "command list"),
        ("/usr/bin/echo $HOME", "variable"),
        ('/usr/bin/echo "$HOME"', "variable"),
        ("/usr/bin/echo `date`", "command substitution"),
        ("/usr/bin/echo /tmp/*.log", "glob"),
        ("/usr/bin/echo ~/x", "home directory"),
        ("cd /tmp", "builtin"),
        ("X=1 /usr/bin/echo", "assignment"),
    ],
)
def test_line_needing_a_shell_is_reported_without_allow_shell(tmp_path, command, reason):
    code, data, err = run(tmp_path, f"0 * * * * {command}\n")
    assert code == 1
    assert data["jobs"] == []
    assert len(err) == 1 and "line 1: needs a shell" in err[0] and reason in err[0]
    assert data["problems"][0]["entry"] == f"0 * * * * {command}"


def test_quoted_shell_characters_need_no_shell(tmp_path):
    job = only(run(tmp_path, "0 * * * * /usr/bin/echo 'a | b > c $X'\n"))
    assert job["config"]["args"] == ["a | b > c $X"]


def test_allow_shell_maps_the_line_to_an_explicit_sh_c_job_and_applies(tmp_path):
    line = "*/5 * * * * /usr/bin/echo {x} | grep x > /dev/null\n"
    job = only(run(tmp_path, line, "--allow-shell", "--apply"))
    assert job["config"] == {
        "executable": "/bin/sh",
        "args": ["-c", "/usr/bin/echo {{x}} | grep x > /dev/null"],
    }
    saved = Job.objects.get(name=job["name"])
    assert open_config(saved)["args"][0] == "-c"


def test_allow_shell_uses_the_crontab_shell(tmp_path):
    job = only(run(tmp_path, "SHELL=/bin/bash\n0 * * * * echo $RANDOM\n", "--allow-shell"))
    assert job["config"]["executable"] == "/bin/bash"


def test_reboot_is_reported(tmp_path):
    code, data, err = run(tmp_path, "@reboot /usr/bin/echo up\n@daily /usr/bin/echo ok\n")
    assert code == 1
    assert [j["cron"] for j in data["jobs"]] == ["0 0 * * *"]
    assert len(err) == 1 and "line 1: @reboot has no equivalent" in err[0]


@pytest.mark.parametrize(
    ("macro", "cron"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ],
)
def test_macros_are_mapped_to_cron(tmp_path, macro, cron):
    assert only(run(tmp_path, f"{macro} /usr/bin/echo x\n"))["cron"] == cron


def test_invalid_schedule_is_reported(tmp_path):
    code, data, err = run(tmp_path, "61 * * * * /usr/bin/echo x\n")
    assert code == 1 and data["jobs"] == []
    assert "line 1: invalid cron expression '61 * * * *'" in err[0]


def test_mailto_and_cron_tz_apply_to_the_lines_below(tmp_path):
    text = (
        "0 1 * * * /usr/bin/echo before\n"
        "MAILTO=ops@example.com, dev@example.com\n"
        "CRON_TZ=Europe/Prague\n"
        "0 2 * * * /usr/bin/echo after\n"
        'MAILTO=""\n'
        "TZ=America/New_York\n"
        "0 3 * * * /usr/bin/echo last\n"
    )
    code, data, err = run(tmp_path, text, "--apply")
    assert code == 0, err
    before, after, last = data["jobs"]
    assert "notification_emails" not in before and "timezone" not in before
    assert after["notification_emails"] == ["ops@example.com", "dev@example.com"]
    assert after["timezone"] == "Europe/Prague"
    assert last["notification_emails"] == [] and last["timezone"] == "America/New_York"
    saved = Job.objects.get(name=after["name"])
    assert saved.timezone == "Europe/Prague"
    assert saved.notification_emails == ["ops@example.com", "dev@example.com"]


def test_mailto_to_a_local_user_and_an_unknown_zone_are_reported(tmp_path):
    code, data, err = run(tmp_path, "MAILTO=root\nCRON_TZ=Mars/Base\n0 * * * * /usr/bin/echo\n")
    assert code == 1
    assert len(data["jobs"]) == 1
    assert "line 1: MAILTO 'root' is not an email address" in err[0]
    assert "line 2: CRON_TZ:" in err[1]


def test_timezone_option_sets_the_zone_of_lines_without_cron_tz(tmp_path):
    job = only(run(tmp_path, "0 * * * * /usr/bin/echo\n", "--timezone", "Europe/Berlin"))
    assert job["timezone"] == "Europe/Berlin"


def test_comments_directly_above_become_the_description(tmp_path):
    text = (
        "# not about anything\n"
        "\n"
        "# Clean the temp dir\n"
        "#   (daily)\n"
        "@daily /usr/bin/find /tmp -delete\n"
        "@hourly /usr/bin/echo plain\n"
    )
    code, data, _ = run(tmp_path, text)
    described, plain = data["jobs"]
    assert described["description"] == (
        f"Clean the temp dir\n(daily)\nimported from crontab {tmp_path / 'crontab'} line 5"
    )
    assert plain["description"] == f"imported from crontab {tmp_path / 'crontab'} line 6"


def test_names_are_derived_from_the_command_and_unique(tmp_path):
    text = (
        "0 1 * * * /usr/local/bin/backup.sh --full\n"
        "0 2 * * * /usr/local/bin/backup.sh --full\n"
        "0 3 * * * /usr/local/bin/backup.sh --full\n"
    )
    code, data, _ = run(tmp_path, text, "--apply")
    names = [j["name"] for j in data["jobs"]]
    assert names == ["backup-sh-full", "backup-sh-full-2", "backup-sh-full-3"]
    assert set(Job.objects.values_list("name", flat=True)) >= set(names)


def test_unescaped_percent_is_reported_and_escaped_percent_is_literal(tmp_path):
    code, data, err = run(tmp_path, "0 * * * * /usr/bin/date +%s\n0 * * * * /usr/bin/echo 50\\%\n")
    assert code == 1
    assert data["jobs"][0]["config"]["args"] == ["50%"]
    assert len(err) == 1 and "line 1: an unescaped '%'" in err[0]


def test_braces_are_escaped_so_they_are_not_placeholders(tmp_path):
    job = only(run(tmp_path, "0 * * * * /usr/bin/echo {who} {}\n", "--apply"))
    assert job["config"]["args"] == ["{{who}}", "{}"]
    assert open_config(Job.objects.get(name=job["name"]))["args"] == ["{{who}}", "{}"]


def test_variables_go_into_env_and_apply_refuses_what_the_allowlist_refuses(tmp_path):
    text = "JOB_MODE=fast\nPATH=/opt/bin\n0 * * * * /usr/bin/echo a\nSECRET_THING=x\n0 * * * * /usr/bin/echo b\n"
    code, data, err = run(tmp_path, text, "--apply")
    assert code == 1
    assert data["jobs"][0]["config"]["env"] == {"JOB_MODE": "fast"}  # PATH is Jobwarden's
    assert data["applied"] is None
    assert any("SECRET_THING" in e and "JOBS_PROCESS_ALLOWED_ENV" in e for e in err)
    assert err[-1] == "nothing saved"
    assert not Job.objects.filter(tags__contains=["imported"]).exists()


def test_apply_refuses_an_executable_off_the_allowlist_and_saves_nothing(tmp_path):
    code, data, err = run(
        tmp_path, "0 * * * * /usr/bin/echo ok\n0 * * * * /usr/bin/rm -rf /tmp/x\n", "--apply"
    )
    assert code == 1
    assert any("'/usr/bin/rm'" in e and "JOBS_PROCESS_ALLOWED_EXECUTABLES" in e for e in err)
    assert data["problems"][0]["where"] == "apply"
    assert not Job.objects.filter(name__in=["echo-ok", "rm-rf-x"]).exists()


def test_apply_with_an_unmapped_entry_saves_nothing(tmp_path):
    code, data, err = run(
        tmp_path, "0 * * * * /usr/bin/echo ok\n@reboot /usr/bin/echo up\n", "--apply"
    )
    assert code == 1
    assert err[-1] == "1 entries could not be mapped; nothing saved"
    assert not Job.objects.filter(name="echo-ok").exists()


def test_apply_creates_tagged_jobs_and_reimport_changes_nothing(tmp_path):
    text = "# say hi\n30 2 * * * /usr/bin/echo hi\n"
    code, data, _ = run(tmp_path, text, "--apply")
    assert code == 0 and data["applied"]["created"] == ["echo-hi"]
    job = Job.objects.get(name="echo-hi")
    assert job.kind == "process" and job.cron == "30 2 * * *" and job.enabled
    assert job.tags == ["imported", "imported:crontab"]
    assert job.description.splitlines()[-1].startswith("imported from crontab ")
    assert run(tmp_path, text, "--apply")[1]["applied"]["unchanged"] == ["echo-hi"]


def test_dry_run_validates_and_saves_nothing(tmp_path):
    code, data, _ = run(tmp_path, "0 * * * * /usr/bin/echo hi\n", "--apply", "--dry-run")
    assert code == 0 and data["applied"] == {
        "created": ["echo-hi"],
        "changed": {},
        "unchanged": [],
        "dry_run": True,
    }
    assert not Job.objects.filter(name="echo-hi").exists()
    with pytest.raises(CommandError, match="--dry-run goes with --apply"):
        call_command("jobs", "import", "crontab", str(tmp_path / "crontab"), "--dry-run")


def test_output_file_is_a_jobs_apply_file(tmp_path, capsys):
    source = tmp_path / "crontab"
    source.write_text("0 * * * * /usr/bin/echo hi\n@reboot /usr/bin/echo up\n")
    target = tmp_path / "jobs.yaml"
    with pytest.raises(SystemExit):
        call_command("jobs", "import", "crontab", str(source), "--output", str(target))
    captured = capsys.readouterr()
    assert f"wrote 1 jobs to {target}" in captured.out
    assert "@reboot has no equivalent" in captured.err
    call_command("jobs", "apply", str(target))
    assert Job.objects.get(name="echo-hi").tags == ["imported", "imported:crontab"]


def test_unreadable_file_is_one_line(tmp_path):
    with pytest.raises(CommandError, match=r"^cannot read .*missing: No such file"):
        call_command("jobs", "import", "crontab", str(tmp_path / "missing"))


# --- csv: rows → specs through a column mapping ------------------------------------------

CSV = """JobName,Schedule,Type,Command,Args,Active,Labels
Nightly report,0 2 * * *,process,/usr/bin/echo,"[""report"", ""--all""]",yes,"finance, nightly"
cleanup,*/10 * * * *,process,/usr/bin/find,"[""/tmp""]",0,
"""
CSV_MAP = (
    "name=JobName,cron=Schedule,kind=Type,config.executable=Command,config.args=Args,"
    "enabled=Active,tags=Labels"
)


def test_csv_rows_become_jobs_through_the_mapping_and_apply(tmp_path):
    code, data, err = run(tmp_path, CSV, "--map", CSV_MAP, "--apply", source="csv", name="jobs.csv")
    assert code == 0, err
    report, cleanup = data["jobs"]
    assert report["name"] == "nightly-report" and report["display_name"] == "Nightly report"
    assert report["config"] == {"executable": "/usr/bin/echo", "args": ["report", "--all"]}
    assert report["enabled"] is True and cleanup["enabled"] is False
    assert report["tags"] == ["finance", "nightly", "imported", "imported:csv"]
    assert report["description"] == f"imported from csv {tmp_path / 'jobs.csv'} row 2"
    saved = Job.objects.get(name="cleanup")
    assert saved.cron == "*/10 * * * *" and not saved.enabled
    assert saved.tags == ["imported", "imported:csv"]


def test_csv_unknown_spec_key_in_map_is_refused_in_one_line(tmp_path):
    with pytest.raises(
        CommandError, match=r"^--map: unknown spec key 'schedule' \(use one of name, "
    ):
        run(tmp_path, CSV, "--map", "name=JobName,schedule=Schedule", source="csv")


def test_csv_map_needs_name_and_existing_columns(tmp_path):
    with pytest.raises(CommandError, match="name=COLUMN is required"):
        run(tmp_path, CSV, "--map", "cron=Schedule", source="csv")
    with pytest.raises(CommandError, match="no column 'When'"):
        run(tmp_path, CSV, "--map", "name=JobName,cron=When", source="csv")


def test_csv_rows_that_cannot_be_mapped_are_reported_and_the_rest_kept(tmp_path):
    text = (
        "name,cron,enabled,target\n"
        "good,0 * * * *,true,jobs.examples:report_progress\n"
        "flag,0 * * * *,maybe,jobs.examples:report_progress\n"
        "bad-cron,0 0 30 2 *,true,jobs.examples:report_progress\n"
    )
    code, data, err = run(
        tmp_path, text, "--map", "name=name,cron=cron,enabled=enabled,target=target", source="csv"
    )
    assert code == 1
    assert [j["name"] for j in data["jobs"]] == ["good"]
    assert "row 3: enabled: 'maybe' is not true/false" in err[0]
    assert "row 4: job 'bad-cron': cron expression '0 0 30 2 *' never fires" in err[1]
    assert err[1].endswith(": bad-cron,0 0 30 2 *,true,jobs.examples:report_progress")


def test_unknown_timezone_option_is_one_line(tmp_path):
    with pytest.raises(CommandError, match="^--timezone: "):
        run(tmp_path, "0 * * * * /usr/bin/echo\n", "--timezone", "Mars/Base")


# --- beat: PeriodicTask rows and CELERY_BEAT_SCHEDULE → python jobs ----------------------

TASK = "jobs.examples.report_progress"  # a registered @job function, spelled as a task name


def beat(*args):
    return run_path(None, *args, source="beat")


@pytest.fixture
def beat_rows():
    from django_celery_beat.models import (
        ClockedSchedule,
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
        SolarSchedule,
    )

    def interval(every, period):
        return IntervalSchedule.objects.create(every=every, period=period)

    nightly = CrontabSchedule.objects.create(minute="30", hour="2", timezone="Europe/Prague")
    rows = {
        "Nightly report": {
            "crontab": nightly,
            "kwargs": '{"steps": 3}',
            "description": "the report",
        },
        "every quarter hour": {"interval": interval(15, "minutes")},
        "every 2 hours": {"interval": interval(7200, "seconds")},
        "every 7 minutes": {"interval": interval(7, "minutes")},
        "every 2 days": {"interval": interval(2, "days")},
        "once": {
            "clocked": ClockedSchedule.objects.create(clocked_time="2031-01-01T10:00:00Z"),
            "one_off": True,
        },
        "at dawn": {
            "solar": SolarSchedule.objects.create(event="dawn_civil", latitude=50, longitude=14)
        },
        "positional": {"interval": interval(1, "hours"), "args": "[1]"},
        "paused": {"interval": interval(1, "days"), "enabled": False},
    }
    for name, fields in rows.items():
        PeriodicTask.objects.create(name=name, task=TASK, **fields)
    PeriodicTask.objects.create(
        name="foreign", task="billing.tasks.charge", interval=interval(1, "hours")
    )
    PeriodicTask.objects.create(name="job:mine", task="jobs.fire_scheduled", crontab=nightly)


def test_beat_rows_and_setting_become_python_jobs(beat_rows, settings):
    from celery.schedules import crontab

    settings.CELERY_BEAT_SCHEDULE = {
        "jobwarden-sweep": {"task": "jobs.sweep", "schedule": 20},
        "weekday-report": {"task": TASK, "schedule": crontab(minute=5, hour=6, day_of_week="1-5")},
        "every-minute": {"task": TASK, "schedule": 60.0},
    }
    code, data, err = beat("--apply")
    jobs = {j["display_name"]: j for j in data["jobs"]}
    assert set(jobs) == {
        "Nightly report",
        "every quarter hour",
        "every 2 hours",
        "once",
        "paused",
        "weekday-report",
        "every-minute",
    }
    report = jobs["Nightly report"]
    assert report["name"] == "nightly-report" and report["kind"] == "python"
    assert report["target"] == "jobs.examples:report_progress"
    assert (report["cron"], report["timezone"]) == ("30 2 * * *", "Europe/Prague")
    assert report["parameters"] == {"steps": 3}
    assert report["description"] == "the report\nimported from beat PeriodicTask 'Nightly report'"
    assert jobs["every quarter hour"]["cron"] == "*/15 * * * *"
    assert jobs["every 2 hours"]["cron"] == "0 */2 * * *"
    assert jobs["once"]["run_at"] == "2031-01-01T10:00:00+00:00"
    assert jobs["paused"]["enabled"] is False
    assert jobs["weekday-report"]["cron"] == "5 6 * * 1-5"
    assert jobs["every-minute"]["cron"] == "* * * * *"
    # Reported, one line each: exit 1 and (with --apply) nothing saved.
    assert code == 1
    reasons = {p["entry"].split(" (")[0]: p["reason"] for p in data["problems"]}
    assert set(reasons) == {"every 7 minutes", "every 2 days", "at dawn", "positional", "foreign"}
    assert "is not expressible as a cron" in reasons["every 7 minutes"]
    assert "is not expressible as a cron" in reasons["every 2 days"]
    assert reasons["at dawn"] == "a solar schedule has no equivalent"
    assert "positional args" in reasons["positional"]
    assert "'billing.tasks:charge' is not a registered job function" in reasons["foreign"]
    assert err[-1] == "5 entries could not be mapped; nothing saved"
    assert not Job.objects.filter(name="nightly-report").exists()


def test_beat_import_applies_when_every_entry_maps(beat_rows, settings):
    from django_celery_beat.models import PeriodicTask

    settings.CELERY_BEAT_SCHEDULE = {}
    PeriodicTask.objects.exclude(name__in=["Nightly report", "job:mine"]).delete()
    code, data, err = beat("--apply")
    assert code == 0, err
    job = Job.objects.get(name="nightly-report")
    assert job.kind == "python" and job.cron == "30 2 * * *" and job.parameters == {"steps": 3}
    assert job.tags == ["imported", "imported:beat"]


def test_apply_with_output_also_writes_the_file(tmp_path):
    target = tmp_path / "jobs.yaml"
    code, data, _ = run(
        tmp_path, "0 * * * * /usr/bin/echo hi\n", "--apply", "--output", str(target)
    )
    assert code == 0 and data["applied"]["created"] == ["echo-hi"]
    assert "name: echo-hi" in target.read_text()


def test_a_command_shlex_cannot_split_is_reported(tmp_path):
    code, data, err = run(tmp_path, "0 * * * * /usr/bin/echo a\\\n")
    assert code == 1 and data["jobs"] == []
    assert "line 1: cannot split the command: No escaped character" in err[0]
