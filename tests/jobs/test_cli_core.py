"""`manage.py jobs ...`: text and --json output, one-line errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from jobs.models import AuditEvent, Job, JobRun
from tests.conftest import ROOT, _process_env
from tests.factories import JobFactory

TARGET = "jobs.examples:report_progress"
JOB_KEYS = [
    "name",
    "description",
    "kind",
    "target",
    "parameters",
    "enabled",
    "cron",
    "timezone",
    "human_schedule",
    "next_run_at",
    "status",
    "timeout",
    "max_retries",
    "retry_delay",
    "overlap",
    "auto_disable_after",
    "execution_count",
    "success_count",
    "failure_count",
    "consecutive_failures",
    "last_run_at",
    "last_error",
]
RUN_KEYS = [
    "id",
    "job",
    "status",
    "trigger",
    "triggered_by",
    "attempt",
    "parameters",
    "queued_at",
    "started_at",
    "finished_at",
    "duration_ms",
    "progress",
    "result",
    "output",
    "error",
]


def jobs_cmd(*args, capsys):
    call_command("jobs", *args)
    return capsys.readouterr().out


def manage(*args, timeout=120):
    """Run `manage.py jobs ...` as its own process, against the test database."""
    env = _process_env()
    return subprocess.run(
        [sys.executable, "manage.py", "jobs", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write(tmp_path: Path, text: str, name="jobs.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = """
jobs:
  - name: report
    target: jobs.examples:report_progress
    cron: "0 2 * * *"
    timezone: Europe/Prague
    timeout: 20m
    tags: [nightly]
  - name: by-hand
    target: jobs.examples:report_progress
    cron: null
"""


# --- apply ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_apply_prints_what_it_created_then_nothing_changes(tmp_path, capsys):
    path = write(tmp_path, GOOD)

    first = jobs_cmd("apply", str(path), capsys=capsys)
    second = jobs_cmd("apply", str(path), capsys=capsys)

    assert "created   report" in first and "created   by-hand" in first
    assert "2 created, 0 changed, 0 unchanged" in first
    assert "0 created, 0 changed, 2 unchanged" in second
    assert Job.objects.get(name="by-hand").schedule_type == "manual"


@pytest.mark.django_db
def test_apply_names_changed_fields(tmp_path, capsys):
    jobs_cmd("apply", str(write(tmp_path, GOOD)), capsys=capsys)

    out = jobs_cmd(
        "apply", str(write(tmp_path, GOOD.replace("20m", "1h"), "v2.yaml")), capsys=capsys
    )

    assert "changed   report: timeout" in out


@pytest.mark.django_db
def test_apply_dry_run_saves_nothing(tmp_path, capsys):
    out = jobs_cmd("apply", str(write(tmp_path, GOOD)), "--dry-run", capsys=capsys)

    assert "2 would be created" in out
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_apply_accepts_the_json_that_info_prints(tmp_path, capsys):
    jobs_cmd("apply", str(write(tmp_path, GOOD)), capsys=capsys)
    exported = json.loads(jobs_cmd("info", "report", "--json", capsys=capsys))

    out = jobs_cmd("apply", str(write(tmp_path, json.dumps([exported]), "x.json")), capsys=capsys)

    assert "unchanged report" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace('"0 2 * * *"', '"61 * * * *"'),
            "job 'report': cron: invalid cron expression '61 * * * *'",
        ),
        (
            GOOD.replace("Europe/Prague", "Europe/Atlantis"),
            "job 'report': timezone: unknown time zone",
        ),
        (
            GOOD.replace(
                "jobs.examples:report_progress\n    cron: null",
                "jobs.examples:nope\n    cron: null",
            ),
            "job 'by-hand': target",
        ),
        (
            GOOD.replace("timeout: 20m", "timeout: 20m\n    colour: blue"),
            "job 'report': colour: unknown field",
        ),
        (
            GOOD.replace("timeout: 20m", "timeout: soon"),
            "job 'report': timeout: 'soon' is not a duration",
        ),
        ("jobs: [\n  {name: a\n", "not valid YAML/JSON"),
    ],
    ids=["cron", "zone", "target", "unknown-field", "duration", "syntax"],
)
@pytest.mark.django_db
def test_a_bad_file_is_one_error_line_and_saves_nothing(tmp_path, text, message):
    with pytest.raises(CommandError) as info:
        call_command("jobs", "apply", str(write(tmp_path, text)))

    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.returncode == 1
    assert not Job.objects.exists()
    assert not AuditEvent.objects.exists()


# --- list / info / history -------------------------------------------------------------


@pytest.mark.django_db
def test_list_shows_an_aligned_table_and_json_with_the_issue_keys(tmp_path, capsys):
    jobs_cmd("apply", str(write(tmp_path, GOOD)), capsys=capsys)

    text = jobs_cmd("list", capsys=capsys)
    data = json.loads(jobs_cmd("list", "--json", capsys=capsys))

    lines = text.splitlines()
    assert lines[0].split()[:3] == ["NAME", "ENABLED", "SCHEDULE"]
    assert lines[0].index("SCHEDULE") == lines[1].index("Manual only")  # aligned columns
    assert "At 02:00 (Europe/Prague)" in text
    assert [j["name"] for j in data] == ["by-hand", "report"]
    assert set(JOB_KEYS) <= set(data[1])
    report = data[1]
    assert (
        report["timeout"] == 1200 and report["overlap"] == "skip" and report["cron"] == "0 2 * * *"
    )
    assert report["next_run_at"].endswith("+00:00")
    assert data[0]["cron"] is None
    tagged = json.loads(jobs_cmd("list", "--tag", "nightly", "--json", capsys=capsys))
    assert [j["name"] for j in tagged] == ["report"]


@pytest.mark.django_db
def test_info_shows_the_schedule_and_next_runs(tmp_path, capsys):
    jobs_cmd("apply", str(write(tmp_path, GOOD)), capsys=capsys)

    out = jobs_cmd("info", "report", capsys=capsys)

    assert "At 02:00 (Europe/Prague)" in out
    assert "next runs" in out
    assert out.count(" UTC (") == 5  # five fire times, with the local time


@pytest.mark.django_db
def test_history_lists_runs_newest_first(tmp_path, capsys):
    jobs_cmd("apply", str(write(tmp_path, GOOD)), capsys=capsys)
    job = Job.objects.get(name="report")
    old = JobRun.objects.create(job=job, trigger="cli", status="failed", error="boom\ntrace")
    new = JobRun.objects.create(job=job, trigger="api", status="succeeded", duration_ms=1500)
    JobRun.objects.filter(pk=old.pk).update(queued_at=new.queued_at.replace(year=2020))

    text = jobs_cmd("history", "report", capsys=capsys)
    data = json.loads(jobs_cmd("history", "report", "--json", "--limit", "1", capsys=capsys))

    assert text.index(str(new.id)) < text.index(str(old.id))
    assert "1.50s" in text and "boom" in text
    assert [r["id"] for r in data] == [str(new.id)]
    assert set(RUN_KEYS) <= set(data[0])
    assert data[0]["job"] == "report"


# --- enable / disable / run -----------------------------------------------------------


@pytest.mark.django_db
def test_disable_then_enable_with_a_reason(tmp_path, capsys):
    jobs_cmd("apply", str(write(tmp_path, GOOD)), capsys=capsys)

    out = jobs_cmd("disable", "report", "--reason", "vendor outage", capsys=capsys)
    again = jobs_cmd("disable", "report", capsys=capsys)

    assert "disabled: vendor outage" in out
    assert "already disabled: vendor outage" in again
    event = AuditEvent.objects.get(action="job.disable")
    assert event.source == "cli" and event.reason == "vendor outage"
    assert "enabled" in jobs_cmd("enable", "report", capsys=capsys)
    assert Job.objects.get(name="report").enabled


@pytest.mark.django_db
def test_run_without_wait_prints_the_queued_run(tmp_path, capsys):
    jobs_cmd("apply", str(write(tmp_path, GOOD)), capsys=capsys)

    data = json.loads(
        jobs_cmd("run", "report", "--param", "steps=2", "--reason", "test", "--json", capsys=capsys)
    )

    assert data["status"] == "queued"
    assert data["trigger"] == "cli"
    assert data["parameters"] == {"steps": 2}
    assert data["queued_at"].endswith("+00:00")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "ghost"], "job 'ghost' not found"),
        (["run", "ghost"], "job 'ghost' not found"),
        (["run", "ghost", "--param", "novalue"], "bad parameter 'novalue': expected key=value"),
        (["enable", "ghost"], "job 'ghost' not found"),
        (["history", "ghost"], "job 'ghost' not found"),
        (["cancel", "not-a-uuid"], "bad run id 'not-a-uuid'"),
    ],
)
@pytest.mark.django_db
def test_bad_input_is_one_line_error(args, message):
    with pytest.raises(CommandError) as info:
        call_command("jobs", *args)

    assert message in str(info.value)
    assert info.value.returncode == 1


# --- as a process: exit codes and stderr ----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_errors_exit_non_zero_with_one_line_on_stderr(tmp_path):
    bad = write(tmp_path, GOOD.replace("Europe/Prague", "Mars/Olympus"))

    results = [
        manage("info", "ghost"),
        manage("apply", str(bad)),
        manage("run", "ghost", "--param", "=1"),
    ]

    for result in results:
        assert result.returncode != 0
        assert result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "job 'ghost' not found" in results[0].stderr
    assert "job 'report': timezone: unknown time zone 'Mars/Olympus'" in results[1].stderr
    assert "bad parameter" in results[2].stderr
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_run_wait_says_why_a_run_may_sit_queued_and_stops_at_its_timeout(capsys, monkeypatch):
    from jobs.cli import core

    monkeypatch.setattr(core, "QUEUED_HINT_AFTER", 0.5)
    # A queue no worker reads: the run stays queued.
    JobFactory(name="lonely", queue="nobody-reads-this")
    with pytest.raises(SystemExit) as exit_info:
        call_command("jobs", "run", "lonely", "--wait", "--timeout", "2")
    code = exit_info.value.code
    err = capsys.readouterr().err
    assert code == 2
    assert "still queued after 0.5s: is a worker consuming queue 'nobody-reads-this' on" in err
    assert err.count("still queued") == 1
    assert "still not finished after 2s" in err


@pytest.mark.django_db(transaction=True)
def test_run_wait_gives_no_queued_hint_while_a_retry_waits_out_its_delay(monkeypatch):
    from django.utils import timezone

    from jobs.cli import core
    from jobs.services.runs.retry import create_retry

    monkeypatch.setattr(core, "QUEUED_HINT_AFTER", 0.5)
    job = JobFactory(name="flaky", queue="nobody-reads-this", max_retries=1, retry_delay=60)
    failed = JobRun.objects.create(
        job=job, trigger="cli", status="failed", finished_at=timezone.now()
    )
    retry, _ = create_retry(failed, job, None, timezone.now(), "boom")  # due in ~60 s
    said: list[str] = []

    assert core._wait(failed, 1.5, said.append, warn=said.append) is None
    assert any("attempt 2" in line for line in said)
    assert not any("still queued" in line for line in said), said

    # Once its delay has passed, a retry nobody starts is worth the hint.
    JobRun.objects.filter(pk=retry.pk).update(scheduled_for=timezone.now() - timedelta(seconds=1))
    assert core._wait(retry, 1.5, said.append, warn=said.append) is None
    assert sum("still queued" in line for line in said) == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_run_wait_shows_progress_and_exits_by_outcome(tmp_path, start_worker):
    from jobs.actors import Actor
    from jobs.services.jobs import jobs_apply

    jobs_apply(
        [
            # Steps slower than the run path's progress flush (1 s), so each is seen.
            {"name": "ok", "target": TARGET, "parameters": {"steps": 3, "pause": 1.5}},
            {"name": "bad", "target": "jobs.examples:always_fails", "auto_disable_after": 0},
        ],
        actor=Actor.system(),
    )
    start_worker()

    ok = manage("run", "ok", "--wait", "--json", "--timeout", "60")
    bad = manage("run", "bad", "--wait", "--timeout", "60")

    assert ok.returncode == 0, ok.stderr
    run = json.loads(ok.stdout)
    assert run["status"] == "succeeded"
    assert run["result"] == {"steps": 3}
    assert run["progress"] == 100
    assert " 33.3%  step 1 of 3" in ok.stderr and " 66.7%  step 2 of 3" in ok.stderr
    assert ok.stderr.strip().splitlines()[-1].startswith("succeeded in ")
    assert bad.returncode == 1
    assert "failed" in bad.stdout and "this example job always fails" in bad.stdout


@pytest.mark.django_db
def test_sync_discovers_the_jobs_modules_of_installed_apps(capsys):
    out = jobs_cmd("sync", capsys=capsys)
    again = json.loads(jobs_cmd("sync", "--json", capsys=capsys))

    code_jobs = set(Job.objects.filter(source="code").values_list("name", flat=True))
    assert code_jobs  # e.g. the built-in monitoring jobs in monitoring/jobs.py
    assert f"{len(code_jobs)} created" in out
    assert sorted(again["unchanged"]) == sorted(code_jobs)
    assert again["created"] == [] and again["changed"] == {}
