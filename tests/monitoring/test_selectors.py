"""Statistics, status, schedule preview and fire counting."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from jobs.errors import NotFound, ValidationError
from jobs.models import JobRun
from jobs.schedule import fires_between
from monitoring import selectors
from monitoring.fires import count_fires, last_fire_at_or_before
from monitoring.models import JobHealth
from monitoring.services import health_refresh
from tests.monitoring.history import T0, add_runs, hourly, recurring_job, set_live_state

db = pytest.mark.django_db
WINDOW = (T0 - timedelta(days=30), T0)


@db
def test_stats_counts_rate_and_duration_percentiles():
    job = recurring_job(cron="", schedule_type="manual")
    durations = list(range(1, 101))  # 1..100 s
    specs = [{"at": T0 - timedelta(hours=200 - i), "duration": d} for i, d in enumerate(durations)]
    specs += [
        {"at": T0 - timedelta(hours=50 - i), "status": "failed", "duration": 1000}
        for i in range(10)
    ]
    specs += [
        {"at": T0 - timedelta(hours=3), "status": "skipped"},
        {"at": T0 - timedelta(hours=2), "status": "cancelled"},
    ]
    specs += [{"at": T0 - timedelta(days=40), "duration": 5}]  # outside the window
    set_live_state(job, add_runs(job, specs))
    stats = selectors.job_stats(job.name, *WINDOW)
    assert (
        stats["total"],
        stats["succeeded"],
        stats["failed"],
        stats["skipped"],
        stats["cancelled"],
    ) == (112, 100, 10, 1, 1)
    assert stats["success_rate"] == pytest.approx(100 * 100 / 110, abs=0.01)
    every = [d * 1000 for d in durations] + [1_000_000] * 10
    d = stats["duration_ms"]
    assert d["min"] == 1000 and d["max"] == 1_000_000
    assert d["avg"] == pytest.approx(statistics.mean(every), abs=0.1)
    assert d["median"] == pytest.approx(statistics.median(every), abs=0.1)
    assert d["p95"] == pytest.approx(
        statistics.quantiles(every, n=100, method="inclusive")[94], abs=0.1
    )


@db
def test_stats_streaks_and_longest_downtime():
    job = recurring_job(cron="", schedule_type="manual")
    base = T0 - timedelta(days=2)
    pattern = [
        "succeeded",
        "failed",
        "failed",
        "succeeded",
        "failed",
        "failed",
        "failed",
        "failed",
        "succeeded",
        "failed",
    ]
    specs = [
        {"at": base + timedelta(hours=i), "status": s, "duration": 60}
        for i, s in enumerate(pattern)
    ]
    set_live_state(job, add_runs(job, specs))
    stats = selectors.job_stats(job.name, *WINDOW)
    assert stats["max_consecutive_failures"] == 4
    assert stats["consecutive_failures"] == 1  # the live streak
    # Longest span: first failure of the 4-streak ends at base+4h+60s; the
    # success that closes it ends at base+8h+60s -> exactly 4 h.
    assert stats["longest_downtime_seconds"] == pytest.approx(4 * 3600)


@db
def test_availability_counts_successful_scheduled_runs_against_cron_fires():
    job = recurring_job(cron="0 * * * *", created_at=T0 - timedelta(days=1))
    specs = hourly(T0 - timedelta(hours=23), 20, duration=1)  # 20 of 24 fires, all succeeded
    specs += [
        {"at": T0 - timedelta(hours=2), "trigger": "manual", "duration": 1}
    ]  # manual: not counted
    first = add_runs(
        job,
        [
            {
                "at": T0 - timedelta(hours=2, minutes=30),
                "scheduled_for": T0 - timedelta(hours=3),
                "status": "retrying",
                "duration": 1,
            }
        ],
    )[0]
    add_runs(job, specs)
    retry = add_runs(
        job, [{"at": T0 - timedelta(hours=2, minutes=20), "trigger": "retry", "duration": 1}]
    )[0]
    JobRun.objects.filter(pk=retry.pk).update(first_attempt=first)
    stats = selectors.job_stats(job.name, T0 - timedelta(days=1), T0)
    avail = stats["availability"]
    assert avail["expected_runs"] == 24  # (T0 - 1 day, T0]
    assert avail["successful_scheduled_runs"] == 21  # 20 scheduled + the retry of a scheduled fire
    assert avail["percent"] == pytest.approx(100 * 21 / 24, abs=0.01)


@db
def test_availability_is_null_for_a_manual_job():
    job = recurring_job(cron="", schedule_type="manual")
    add_runs(job, [{"at": T0 - timedelta(hours=1), "duration": 1}])
    assert selectors.job_stats(job.name, *WINDOW)["availability"]["percent"] is None


@db
def test_common_errors_group_messages_with_numbers_and_ids_normalised():
    job = recurring_job(cron="", schedule_type="manual")
    errors = [
        "TimeoutError: no answer after 31s from 10.0.0.7 (request 3f1e5c2a-1b2c-4d5e-8f90-123456789abc)",
        "TimeoutError: no answer after 29s from 10.0.0.8 (request 0a1e5c2a-1b2c-4d5e-8f90-abcdefabcdef)",
        "TimeoutError: no answer after 30s from 10.0.0.9 (request 9b1e5c2a-1b2c-4d5e-8f90-000000000000)\nTraceback ...",
        "KeyError: 'customer_id'",
        "KeyError: 'customer_id'",
        "ValueError: row 12 has hash deadbeef0123456789",
    ]
    add_runs(
        job,
        [
            {"at": T0 - timedelta(hours=10 - i), "status": "failed", "error": e, "duration": 1}
            for i, e in enumerate(errors)
        ],
    )
    top = selectors.job_stats(job.name, *WINDOW)["common_errors"]
    assert [(e["message"], e["count"]) for e in top] == [
        ("TimeoutError: no answer after <n>s from <n>.<n>.<n>.<n> (request <id>)", 3),
        ("KeyError: 'customer_id'", 2),
        ("ValueError: row <n> has hash <hex>", 1),
    ]
    assert top[0]["example"].startswith("TimeoutError")


@db
def test_daily_trend_uses_the_job_time_zone():
    job = recurring_job(cron="", schedule_type="manual", timezone="Asia/Tokyo")  # UTC+9
    # 2025-03-02 20:00 UTC is 3 March 05:00 in Tokyo.
    add_runs(
        job,
        [
            {"at": datetime(2025, 3, 2, 10, 0, tzinfo=UTC), "duration": 2},
            {"at": datetime(2025, 3, 2, 20, 0, tzinfo=UTC), "duration": 4},
            {"at": datetime(2025, 3, 2, 21, 0, tzinfo=UTC), "status": "failed", "duration": 6},
        ],
    )
    daily = selectors.job_stats(job.name, *WINDOW)["daily"]
    assert daily == [
        {"date": "2025-03-02", "runs": 1, "successes": 1, "failures": 0, "avg_duration_ms": 2000.0},
        {"date": "2025-03-03", "runs": 2, "successes": 1, "failures": 1, "avg_duration_ms": 5000.0},
    ]


@db
def test_recent_runs_are_the_last_ten_newest_first():
    job = recurring_job(cron="", schedule_type="manual")
    add_runs(job, [{"at": T0 - timedelta(hours=20 - i), "duration": i} for i in range(15)])
    recent = selectors.job_stats(job.name, *WINDOW)["recent_runs"]
    assert len(recent) == 10
    assert [r["duration_ms"] for r in recent] == [i * 1000 for i in range(14, 4, -1)]


@db
def test_stats_of_unknown_job_is_not_found():
    with pytest.raises(NotFound):
        selectors.job_stats("nope", *WINDOW)


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("yesterday", None, "from"),
        ("2025-03-05", "2025-03-01", "from"),
        ("2020-01-01", "2025-01-01", "from"),
        (None, "12/01/2025", "to"),
    ],
)
def test_stats_window_rejects_bad_input_naming_the_field(start, end, field):
    with pytest.raises(ValidationError) as exc:
        selectors.stats_window(start, end, now=T0)
    assert field in exc.value.fields


def test_stats_window_defaults_to_thirty_days_and_reads_dates_as_whole_days():
    assert selectors.stats_window(None, None, now=T0) == (T0 - timedelta(days=30), T0)
    start, end = selectors.stats_window("2025-03-01", "2025-03-01", now=T0)
    assert (start, end) == (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC))
    start, _ = selectors.stats_window("2025-03-01T10:00:00+01:00", None, now=T0)
    assert start == datetime(2025, 3, 1, 9, tzinfo=UTC)


def test_count_fires_matches_walking_every_fire():
    rng = random.Random(7)
    crons = [
        "* * * * *",
        "*/7 * * * *",
        "30 2 * * *",
        "30 1 * * *",
        "15 */3 * * *",
        "0 9 1,15 * 1-5",
        "0 0 * * 0",
        "0 0 L * *",
    ]
    zones = ["UTC", "America/New_York", "Europe/Prague", "Australia/Lord_Howe"]
    for _ in range(40):
        cron, tz = rng.choice(crons), rng.choice(zones)
        start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 365 * 86400))
        end = start + timedelta(seconds=rng.randint(0, 40 * 86400))
        assert count_fires(cron, tz, start, end) == fires_between(
            cron, tz, start, end, limit=10**9
        ), (cron, tz, start, end)


def test_last_fire_before_follows_the_dst_rule():
    # 02:30 does not exist in New York on 10 March 2024: the fire is at 03:00 EDT.
    at = datetime(2024, 3, 10, 8, 0, tzinfo=UTC)
    assert last_fire_at_or_before("30 2 * * *", "America/New_York", at) == datetime(
        2024, 3, 10, 7, 0, tzinfo=UTC
    )
    assert last_fire_at_or_before("0 0 29 2 *", "UTC", at) == datetime(2024, 2, 29, tzinfo=UTC)


@db
def test_schedule_preview_shows_the_offset_change_across_dst():
    job = recurring_job(cron="0 12 * * *", timezone="Europe/Prague")
    preview = selectors.schedule_preview(job.name, 3, now=datetime(2025, 3, 29, 13, 0, tzinfo=UTC))
    assert [f["at"] for f in preview["fires"]] == [
        "2025-03-30T12:00:00+02:00",
        "2025-03-31T12:00:00+02:00",
        "2025-04-01T12:00:00+02:00",
    ]
    before = selectors.schedule_preview(job.name, 1, now=datetime(2025, 3, 28, 13, 0, tzinfo=UTC))
    assert before["fires"][0]["utc_offset"] == "+01:00"
    assert before["fires"][0]["zone_abbreviation"] == "CET"


@db
@pytest.mark.parametrize("count", ["0", "501", "ten"])
def test_schedule_preview_rejects_a_bad_count(count):
    job = recurring_job()
    with pytest.raises(ValidationError):
        selectors.schedule_preview(job.name, count)


@db
def test_system_status_counts_jobs_health_runs_and_last_day():
    now = datetime.now(UTC)
    ok = recurring_job(cron="", schedule_type="manual")
    bad = recurring_job(cron="", schedule_type="manual", enabled=False)
    recurring_job(cron="", schedule_type="manual")  # never ran: unknown
    set_live_state(
        ok, add_runs(ok, [{"at": now - timedelta(hours=i + 1), "duration": 2} for i in range(3)])
    )
    set_live_state(
        bad,
        add_runs(
            bad,
            [
                {"at": now - timedelta(hours=i + 1), "status": "failed", "duration": 4}
                for i in range(5)
            ],
        ),
    )
    add_runs(
        ok,
        [
            {"at": now - timedelta(minutes=1), "status": "running", "heartbeat_at": now},
            {"at": now, "status": "queued"},
        ],
    )
    add_runs(ok, [{"at": now - timedelta(days=3), "duration": 1}])  # outside 24 h
    health_refresh(now=now)
    status = selectors.system_status(now=now, ping_workers=False)
    assert status["jobs"] == {
        "total": 3,
        "enabled": 2,
        "disabled": 1,
        "healthy": 1,
        "warning": 0,
        "critical": 1,
        "unknown": 1,
    }
    assert status["runs"] == {"running": 1, "queued": 1}
    day = status["last_24h"]
    assert (day["runs"], day["succeeded"], day["failed"]) == (10, 3, 5)
    assert day["success_rate"] == pytest.approx(37.5)
    assert day["avg_duration_ms"] == pytest.approx((3 * 2000 + 5 * 4000) / 8)
    assert [p["job"] for p in status["problematic_jobs"]] == [bad.name]
    assert status["active_alerts"] is None or set(status["active_alerts"]) >= {"critical"}
    assert JobHealth.objects.count() == 3
