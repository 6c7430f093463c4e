"""jobs.schedule: cron validation, descriptions and the DST rule."""

from datetime import UTC, datetime, timedelta

import pytest

from jobs.schedule import (
    ScheduleError,
    describe,
    fires_between,
    get_zone,
    next_fire,
    next_fires,
    normalize_cron,
    previous_fire,
)

NY = "America/New_York"


def local(instants, tz=NY):
    return [i.astimezone(get_zone(tz)).strftime("%Y-%m-%d %H:%M %Z") for i in instants]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("@daily", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("  */5   * * * 1-5 ", "*/5 * * * 1-5"),
        ("@WEEKLY", "0 0 * * 0"),
    ],
)
def test_normalize_expands_macros_and_whitespace(expr, expected):
    assert normalize_cron(expr) == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("61 * * * *", "invalid cron expression '61 \\* \\* \\* \\*'"),
        ("* * *", "has 3 fields; expected 5"),
        ("* * * * * *", "has 6 fields"),
        ("@sometimes", "unknown cron macro"),
        ("", "empty"),
        ("a b c d e", "invalid cron expression"),
    ],
)
def test_bad_cron_is_refused_with_a_reason(expr, message):
    with pytest.raises(ScheduleError, match=message):
        normalize_cron(expr)


def test_unknown_zone_is_refused():
    with pytest.raises(ScheduleError, match="unknown time zone 'Mars/Olympus'"):
        get_zone("Mars/Olympus")
    with pytest.raises(ScheduleError, match="unknown time zone"):
        get_zone("../etc/passwd")


def test_descriptions_are_human_readable():
    assert describe("0 2 * * *") == "At 02:00"
    assert describe("@hourly") == "Every hour"
    assert "Monday through Friday" in describe("*/15 9-17 * * 1-5")


def test_next_fires_are_in_the_jobs_zone():
    fires = next_fires("0 2 * * *", "Europe/Prague", datetime(2026, 6, 30, 12, tzinfo=UTC), 2)
    assert local(fires, "Europe/Prague") == ["2026-07-01 02:00 CEST", "2026-07-02 02:00 CEST"]
    assert fires[0] == datetime(2026, 7, 1, 0, 0, tzinfo=UTC)


def test_daily_0230_runs_exactly_once_on_spring_forward_day():
    # 2026-03-08 02:30 does not exist in New York: it fires when the clock jumps.
    fires = next_fires("30 2 * * *", NY, datetime(2026, 3, 7, 12, tzinfo=UTC), 3)
    assert local(fires) == ["2026-03-08 03:00 EDT", "2026-03-09 02:30 EDT", "2026-03-10 02:30 EDT"]


def test_daily_0230_runs_exactly_once_on_fall_back_day():
    fires = next_fires("30 2 * * *", NY, datetime(2026, 10, 31, 12, tzinfo=UTC), 3)
    assert local(fires) == ["2026-11-01 02:30 EST", "2026-11-02 02:30 EST", "2026-11-03 02:30 EST"]


def test_daily_job_in_the_repeated_hour_runs_once_at_the_first_occurrence():
    fires = next_fires("30 1 * * *", NY, datetime(2026, 10, 31, 12, tzinfo=UTC), 2)
    assert local(fires) == ["2026-11-01 01:30 EDT", "2026-11-02 01:30 EST"]


def test_hourly_job_never_runs_twice_in_one_real_hour_across_both_transitions():
    for start in (datetime(2026, 3, 8, 0, tzinfo=UTC), datetime(2026, 11, 1, 0, tzinfo=UTC)):
        fires = next_fires("0 * * * *", NY, start, 30)
        gaps = [(b - a) for a, b in zip(fires, fires[1:], strict=False)]
        assert all(gap == timedelta(hours=1) for gap in gaps), local(fires)
        assert fires == sorted(set(fires))


def test_every_15_minutes_stays_ordered_through_fall_back():
    fires = next_fires("*/15 * * * *", NY, datetime(2026, 11, 1, 4, 50, tzinfo=UTC), 12)
    assert all(b - a == timedelta(minutes=15) for a, b in zip(fires, fires[1:], strict=False))


def test_previous_fire_names_the_latest_fire_at_or_before_now():
    at = datetime(2026, 5, 5, 10, 7, 30, tzinfo=UTC)
    assert previous_fire("*/5 * * * *", "UTC", at, timedelta(hours=1)) == datetime(
        2026, 5, 5, 10, 5, tzinfo=UTC
    )
    assert previous_fire("0 0 1 1 *", "UTC", at, timedelta(hours=1)) is None


def test_fires_between_counts_expected_runs():
    start = datetime(2026, 5, 1, tzinfo=UTC)
    assert fires_between("0 * * * *", "UTC", start, start + timedelta(days=1)) == 24
    # Spring-forward day in New York has 23 real hours.
    day = datetime(2026, 3, 8, 5, tzinfo=UTC)
    assert fires_between("0 * * * *", NY, day, day + timedelta(hours=23)) == 23


def test_naive_after_is_a_programming_error():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire("* * * * *", "UTC", datetime(2026, 1, 1))
