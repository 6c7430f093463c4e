"""`manage.py jobs stats|health|status|cleanup|schedule` (token: tests/security)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs.models import AuditEvent, JobRun
from monitoring.services import health_refresh
from tests.monitoring.history import add_runs, recurring_job, set_live_state

pytestmark = pytest.mark.django_db


def run_cli(*args, capsys) -> str:
    call_command("jobs", *args)
    return capsys.readouterr().out


def test_stats_json_has_the_api_keys(capsys):
    now = datetime.now(UTC)
    job = recurring_job(cron="", schedule_type="manual")
    add_runs(job, [{"at": now - timedelta(hours=i + 1), "duration": 2} for i in range(4)])
    data = json.loads(run_cli("stats", job.name, "--json", capsys=capsys))
    assert data["job"] == job.name and data["total"] == 4 and data["success_rate"] == 100.0
    assert data["from"].endswith("+00:00")
    text = run_cli(
        "stats", job.name, "--from", (now - timedelta(days=2)).date().isoformat(), capsys=capsys
    )
    assert "success rate 100.0%" in text


def test_stats_errors_are_one_line(capsys):
    with pytest.raises(CommandError, match="unknown job 'nope'"):
        call_command("jobs", "stats", "nope")
    job = recurring_job()
    with pytest.raises(CommandError, match="'from'"):
        call_command("jobs", "stats", job.name, "--from", "last tuesday")


def test_health_lists_worst_first_and_shows_one(capsys):
    now = datetime.now(UTC)
    good = recurring_job(cron="", schedule_type="manual", name="a-good")
    bad = recurring_job(cron="", schedule_type="manual", name="b-bad")
    set_live_state(good, add_runs(good, [{"at": now - timedelta(hours=1), "duration": 1}]))
    set_live_state(
        bad,
        add_runs(
            bad,
            [
                {"at": now - timedelta(hours=i + 1), "status": "failed", "duration": 1}
                for i in range(5)
            ],
        ),
    )
    health_refresh()
    items = json.loads(run_cli("health", "--json", capsys=capsys))
    assert [(i["job"], i["level"]) for i in items] == [("b-bad", "critical"), ("a-good", "healthy")]
    one = json.loads(run_cli("health", "b-bad", "--json", capsys=capsys))
    assert one["issues"][0]["type"] == "consecutive_failures"
    assert "CRITICAL  b-bad" in run_cli("health", capsys=capsys)


def test_status_json(capsys):
    recurring_job()
    data = json.loads(run_cli("status", "--json", "--no-workers", capsys=capsys))
    assert data["jobs"]["total"] == 1 and data["workers"] is None
    assert "jobs     1 (1 enabled" in run_cli("status", "--no-workers", capsys=capsys)


def test_cleanup_deletes_and_audits(capsys):
    job = recurring_job(cron="", schedule_type="manual")
    add_runs(
        job,
        [
            {"at": datetime.now(UTC) - timedelta(days=40), "duration": 1},
            {"at": datetime.now(UTC), "duration": 1},
        ],
    )
    assert json.loads(run_cli("cleanup", "--older-than", "30", "--json", capsys=capsys)) == {
        "deleted": 1,
        "older_than_days": 30,
    }
    assert JobRun.objects.count() == 1
    event = AuditEvent.objects.get(action="runs.cleanup")
    assert event.source == "cli"
    with pytest.raises(CommandError, match="older_than_days"):
        call_command("jobs", "cleanup", "--older-than", "0")


def test_schedule_shows_next_fires_with_offsets(capsys):
    job = recurring_job(cron="30 2 * * *", timezone="Europe/Prague")
    data = json.loads(run_cli("schedule", job.name, "--count", "3", "--json", capsys=capsys))
    assert data["count"] == 3
    assert all(f["at"][-6:] in ("+01:00", "+02:00") for f in data["fires"])
    with pytest.raises(CommandError, match="count"):
        call_command("jobs", "schedule", job.name, "--count", "0")
