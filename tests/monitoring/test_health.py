"""Every health rule, on run histories with controlled times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.models import Job, JobRun
from monitoring.models import HealthEvent, JobHealth
from monitoring.services import health_refresh
from monitoring.signals import health_changed
from tests.monitoring.history import T0, add_runs, hourly, recurring_job, set_live_state

pytestmark = pytest.mark.django_db


def refresh_one(job: Job, now: datetime) -> JobHealth:
    health_refresh([job.name], now=now)
    return JobHealth.objects.get(job=job)


def issue_types(health: JobHealth) -> list[str]:
    return [i["type"] for i in health.issues]


def history(job: Job, specs) -> None:
    set_live_state(job, add_runs(job, specs))


def test_job_that_never_ran_is_unknown():
    job = recurring_job(cron="", schedule_type="manual")
    assert refresh_one(job, T0).level == "unknown"


def test_successful_hourly_job_is_healthy():
    job = recurring_job()
    history(job, hourly(T0 - timedelta(hours=10), 10, duration=5))
    health = refresh_one(job, T0)
    assert health.level == "healthy", health.issues
    assert health.issues == []


@pytest.mark.parametrize(
    ("failures", "level"), [(2, "healthy"), (3, "warning"), (4, "warning"), (5, "critical")]
)
def test_consecutive_failures_warn_at_three_and_are_critical_at_five(failures, level):
    job = recurring_job(cron="", schedule_type="manual")
    runs = [{"at": T0 - timedelta(hours=20), "status": "succeeded", "duration": 1}]
    runs += [
        {"at": T0 - timedelta(hours=failures - i), "status": "failed", "duration": 1}
        for i in range(failures)
    ]
    history(job, runs)
    health = refresh_one(job, T0)
    assert health.level == level
    if level != "healthy":
        assert issue_types(health) == ["consecutive_failures"]
        assert health.issues[0]["details"]["consecutive_failures"] == failures


def test_example_failing_history_one_fire_and_its_retry_failed_is_a_warning():
    # Like `example-failing` (every 15 min, one retry) after its first fire:
    # two failed attempts, never a success. The streak rule alone said healthy.
    job = recurring_job(cron="*/15 * * * *", created_at=T0 - timedelta(minutes=20), max_retries=1)
    fire = T0 - timedelta(minutes=15)
    history(
        job,
        [
            {"at": fire, "scheduled_for": fire, "status": "retrying", "duration": 1},
            {"at": fire + timedelta(seconds=30), "trigger": "retry", "status": "failed"},
        ],
    )
    health = refresh_one(job, T0)
    assert health.level == "warning", health.issues
    assert issue_types(health) == ["never_succeeded"]
    assert health.issues[0]["message"] == "never succeeded in the last 2 runs"
    assert health.issues[0]["details"]["failed_runs"] == 2


def test_a_single_failed_run_of_a_job_that_never_succeeded_is_a_warning():
    job = recurring_job(cron="", schedule_type="manual")
    history(job, [{"at": T0 - timedelta(hours=1), "status": "timed_out", "duration": 60}])
    health = refresh_one(job, T0)
    assert health.level == "warning"
    assert [i["message"] for i in health.issues] == ["never succeeded in the last 1 run"]


def test_no_success_in_the_window_counts_even_after_older_successes(settings):
    settings.MONITORING_HEALTH_WINDOW = 7 * 86400
    weekly = recurring_job(cron="", schedule_type="manual")
    history(
        weekly,
        [
            {"at": T0 - timedelta(days=15), "duration": 1},
            {"at": T0 - timedelta(days=8), "duration": 1},
            {"at": T0 - timedelta(days=1), "status": "failed", "duration": 1},
        ],
    )
    assert issue_types(refresh_one(weekly, T0)) == ["never_succeeded"]
    # One success in the window: a lone failure is bad luck, not a verdict.
    history(weekly, [{"at": T0 - timedelta(hours=1), "duration": 1}])
    assert refresh_one(weekly, T0).level == "healthy"


def test_only_cancelled_or_skipped_runs_are_not_judged_as_never_succeeded():
    job = recurring_job(cron="", schedule_type="manual")
    history(
        job,
        [
            {"at": T0 - timedelta(hours=2), "status": "cancelled"},
            {"at": T0 - timedelta(hours=1), "status": "skipped"},
        ],
    )
    assert "never_succeeded" not in issue_types(refresh_one(job, T0))


@pytest.mark.parametrize(
    ("failures", "types"), [(3, ["consecutive_failures"]), (5, ["consecutive_failures"])]
)
def test_never_succeeded_does_not_repeat_what_the_failure_streak_says(failures, types):
    job = recurring_job(cron="", schedule_type="manual")
    history(
        job,
        [
            {"at": T0 - timedelta(hours=failures - i), "status": "failed", "duration": 1}
            for i in range(failures)
        ],
    )
    assert issue_types(refresh_one(job, T0)) == types


def test_re_enabled_job_with_only_failures_in_the_window_stays_critical():
    # Re-enabling clears the failure streak (a fresh auto-disable budget), but
    # the job still has not done its work once in the window.
    from jobs.actors import Actor
    from jobs.services import job_enable

    job = recurring_job(
        cron="",
        schedule_type="manual",
        enabled=False,
        disabled_by="system",
        disabled_reason="auto-disabled after 6 consecutive failures",
    )
    history(
        job,
        [{"at": T0 - timedelta(hours=6 - i), "status": "failed", "duration": 1} for i in range(6)],
    )
    with time_machine.travel(T0, tick=False):
        job_enable(job.name, actor=Actor(name="op", source="cli"))
    job.refresh_from_db()
    assert job.consecutive_failures == 0
    health = refresh_one(job, T0)
    assert health.level == "critical"
    assert issue_types(health) == ["never_succeeded"]
    assert health.issues[0]["severity"] == "critical"


def test_health_reset_starts_the_never_succeeded_count_over():
    from jobs.actors import Actor
    from monitoring.services import health_reset

    job = recurring_job(cron="", schedule_type="manual")
    history(job, [{"at": T0 - timedelta(hours=3), "status": "failed", "duration": 1}])
    with time_machine.travel(T0 - timedelta(hours=2), tick=False):
        health_reset(job.name, actor=Actor(name="op", source="cli"))
    assert refresh_one(job, T0).level == "healthy"
    history(job, [{"at": T0 - timedelta(hours=1), "status": "failed", "duration": 1}])
    health = refresh_one(job, T0)
    assert [i["message"] for i in health.issues] == ["never succeeded in the last 1 run"]


def test_low_success_rate_needs_more_than_ten_runs_in_the_window():
    job = recurring_job(cron="", schedule_type="manual")
    # 10 runs at 60 %: too few to judge.
    pattern = ["succeeded", "failed"] * 3 + ["succeeded"] * 4
    history(
        job,
        [
            {"at": T0 - timedelta(hours=30 - i), "status": s, "duration": 1}
            for i, s in enumerate(pattern)
        ],
    )
    assert "low_success_rate" not in issue_types(refresh_one(job, T0))
    # Two more runs (12 at 58 %, last one a success so no failure streak).
    history(
        job,
        [
            {"at": T0 - timedelta(hours=2), "status": "failed", "duration": 1},
            {"at": T0 - timedelta(hours=1), "status": "succeeded", "duration": 1},
        ],
    )
    health = refresh_one(job, T0)
    assert issue_types(health) == ["low_success_rate"]
    assert health.level == "warning"
    assert health.issues[0]["details"]["runs"] == 12


def test_runs_outside_the_health_window_do_not_count(settings):
    settings.MONITORING_HEALTH_WINDOW = 7 * 86400
    job = recurring_job(cron="", schedule_type="manual")
    old = [
        {"at": T0 - timedelta(days=10, hours=i), "status": "failed", "duration": 1}
        for i in range(20)
    ]
    recent = [
        {"at": T0 - timedelta(hours=i + 1), "status": "succeeded", "duration": 1} for i in range(3)
    ]
    history(job, old + recent)
    assert refresh_one(job, T0).level == "healthy"


def test_long_execution_uses_the_job_expected_maximum_or_one_hour():
    job = recurring_job(cron="", schedule_type="manual", expected_max_duration=60)
    history(job, [{"at": T0 - timedelta(hours=i + 1), "duration": 90} for i in range(3)])
    health = refresh_one(job, T0)
    assert issue_types(health) == ["long_execution"]
    assert health.issues[0]["details"]["expected_max_duration"] == 60

    default_job = recurring_job(cron="", schedule_type="manual")
    history(default_job, [{"at": T0 - timedelta(hours=i + 1), "duration": 3000} for i in range(3)])
    assert "long_execution" not in issue_types(refresh_one(default_job, T0))  # 50 min < 1 h


def test_duration_anomaly_when_last_run_takes_three_times_the_median():
    job = recurring_job(cron="", schedule_type="manual")
    runs = [{"at": T0 - timedelta(hours=30 - i), "duration": 600 + i} for i in range(20)]
    runs.append({"at": T0 - timedelta(minutes=50), "duration": 2000})  # > 3 x ~610 s
    history(job, runs)
    health = refresh_one(job, T0)
    assert issue_types(health) == ["duration_anomaly"]
    assert health.issues[0]["details"]["samples"] == 20
    assert health.issues[0]["details"]["median_ms"] == pytest.approx(609_500)


def test_duration_anomaly_when_a_run_succeeds_faster_than_the_job_minimum():
    job = recurring_job(cron="", schedule_type="manual", min_duration=60)
    runs = [{"at": T0 - timedelta(hours=10 - i), "duration": 600} for i in range(5)]
    runs.append({"at": T0 - timedelta(minutes=10), "duration": 0.1})
    history(job, runs)
    health = refresh_one(job, T0)
    assert issue_types(health) == ["duration_anomaly"]
    assert "minimum" in health.issues[0]["message"]


def test_no_duration_verdict_without_enough_previous_runs():
    job = recurring_job(cron="", schedule_type="manual")
    history(
        job,
        [
            {"at": T0 - timedelta(hours=3), "duration": 1},
            {"at": T0 - timedelta(hours=2), "duration": 1},
            {"at": T0 - timedelta(hours=1), "duration": 100},
        ],
    )
    assert refresh_one(job, T0).level == "healthy"


def test_missed_execution_when_a_fire_is_overdue_past_the_grace_time():
    job = recurring_job(cron="0 * * * *", grace_time=1800)
    history(job, hourly(T0 - timedelta(hours=5), 3, duration=1))  # last fire run: T0 - 3h
    health = refresh_one(job, T0 + timedelta(minutes=10))
    assert health.level == "critical"
    assert issue_types(health) == ["missed_execution"]
    # The latest fire older than the grace time is T0 - 1h (T0 + 10 min - 30 min = T0 - 20 min).
    assert health.issues[0]["details"]["expected_at"] == (T0 - timedelta(hours=1)).isoformat()


def test_a_fire_within_its_grace_time_is_not_missed():
    job = recurring_job(cron="0 * * * *", grace_time=1800)
    history(job, hourly(T0 - timedelta(hours=3), 3, duration=1))  # fires up to T0 - 1h ran
    # T0's fire is 20 minutes late: still within 30 minutes of grace.
    assert refresh_one(job, T0 + timedelta(minutes=20)).level == "healthy"


def test_disabled_job_and_job_created_after_the_fire_are_not_missed():
    disabled = recurring_job(cron="0 * * * *", enabled=False, disabled_by="alice")
    late = recurring_job(cron="0 * * * *", created_at=T0 - timedelta(minutes=5))
    # At T0 + 25 min the last fire past its grace is T0 - 1 h, before `late` existed.
    health_refresh(now=T0 + timedelta(minutes=25))
    assert JobHealth.objects.get(job=disabled).level == "unknown"
    assert JobHealth.objects.get(job=late).level == "unknown"
    # At T0 + 45 min the T0 fire (after creation) is overdue: missed.
    health_refresh(now=T0 + timedelta(minutes=45))
    assert issue_types(JobHealth.objects.get(job=late)) == ["missed_execution"]
    assert JobHealth.objects.get(job=disabled).level == "unknown"


def test_job_re_enabled_after_a_fire_owes_nothing_for_it():
    job = recurring_job(cron="0 * * * *", next_run_at=T0 + timedelta(hours=1))
    history(job, hourly(T0 - timedelta(hours=5), 2, duration=1))  # then disabled for hours
    assert refresh_one(job, T0 + timedelta(minutes=45)).level == "healthy"


NY_SPRING = datetime(2024, 3, 10, tzinfo=UTC)  # America/New_York springs forward at 02:00 EST
NY_FALL = datetime(2024, 11, 3, tzinfo=UTC)  # falls back at 02:00 EDT


def test_missed_execution_across_spring_forward_uses_the_dst_rule():
    # Daily 02:30 New York: that wall time does not exist on 10 March 2024;
    # the rule fires at the jump (03:00 EDT = 07:00 UTC).
    job = recurring_job(
        cron="30 2 * * *",
        timezone="America/New_York",
        grace_time=1800,
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    day_before = datetime(2024, 3, 9, 7, 30, tzinfo=UTC)  # 02:30 EST
    history(job, [{"at": day_before, "scheduled_for": day_before, "duration": 1}])
    at_0745 = datetime(2024, 3, 10, 7, 45, tzinfo=UTC)  # 03:45 EDT: 45 min after the fire
    health = refresh_one(job, at_0745)
    assert issue_types(health) == ["missed_execution"]
    assert health.issues[0]["details"]["expected_at"] == "2024-03-10T07:00:00+00:00"
    # At 07:20 UTC the 07:00 fire is within its grace: nothing is overdue yet
    # (a naive 02:30 EST = 07:30 UTC reading would say the same only by luck).
    assert refresh_one(job, datetime(2024, 3, 10, 7, 20, tzinfo=UTC)).level == "healthy"
    # Once the fire ran, the job is healthy.
    fired = datetime(2024, 3, 10, 7, 0, tzinfo=UTC)
    history(job, [{"at": fired, "scheduled_for": fired, "duration": 1}])
    assert refresh_one(job, at_0745).level == "healthy"


def test_fall_back_repeated_hour_is_not_expected_twice():
    # Daily 01:30 New York fires once on 3 November 2024, at the first 01:30
    # (EDT, 05:30 UTC). The second 01:30 (EST, 06:30 UTC) owes no run.
    job = recurring_job(
        cron="30 1 * * *",
        timezone="America/New_York",
        grace_time=1800,
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    first = datetime(2024, 11, 3, 5, 30, tzinfo=UTC)
    history(job, [{"at": first, "scheduled_for": first, "duration": 1}])
    assert refresh_one(job, datetime(2024, 11, 3, 7, 30, tzinfo=UTC)).level == "healthy"


def test_stuck_run_with_a_stale_heartbeat_is_critical(settings):
    settings.JOBS_ORPHAN_AFTER = 90
    job = recurring_job(cron="", schedule_type="manual", timeout=3600)
    history(job, [{"at": T0 - timedelta(hours=2), "duration": 1}])
    add_runs(
        job,
        [
            {
                "at": T0 - timedelta(minutes=10),
                "status": "running",
                "heartbeat_at": T0 - timedelta(minutes=5),
            }
        ],
    )
    health = refresh_one(job, T0)
    assert health.level == "critical"
    assert issue_types(health) == ["stuck_run"]
    assert health.issues[0]["details"]["runs"][0]["reasons"] == ["stale_heartbeat"]


def test_stuck_run_past_its_timeout_is_critical(settings):
    settings.JOBS_ORPHAN_AFTER = 90
    job = recurring_job(cron="", schedule_type="manual", timeout=60)
    add_runs(
        job,
        [
            {
                "at": T0 - timedelta(minutes=30),
                "status": "running",
                "heartbeat_at": T0 - timedelta(seconds=5),
            }
        ],
    )
    health = refresh_one(job, T0)
    assert issue_types(health) == ["stuck_run"]
    assert health.issues[0]["details"]["runs"][0]["reasons"] == ["past_timeout"]


def test_running_run_with_fresh_heartbeat_is_fine(settings):
    settings.JOBS_ORPHAN_AFTER = 90
    job = recurring_job(cron="", schedule_type="manual", timeout=3600)
    history(job, [{"at": T0 - timedelta(hours=2), "duration": 1}])
    add_runs(
        job,
        [
            {
                "at": T0 - timedelta(minutes=1),
                "status": "running",
                "heartbeat_at": T0 - timedelta(seconds=5),
            }
        ],
    )
    assert refresh_one(job, T0).level == "healthy"


def test_auto_disabled_job_is_critical_but_an_operator_disable_is_not():
    auto = recurring_job(
        cron="",
        schedule_type="manual",
        enabled=False,
        disabled_by="system",
        disabled_reason="auto-disabled after 5 consecutive failures",
    )
    manual = recurring_job(cron="", schedule_type="manual", enabled=False, disabled_by="alice")
    for job in (auto, manual):
        history(job, [{"at": T0 - timedelta(hours=1), "duration": 1}])
    health_refresh(now=T0)
    auto_health = JobHealth.objects.get(job=auto)
    assert auto_health.level == "critical"
    assert issue_types(auto_health) == ["auto_disabled"]
    assert JobHealth.objects.get(job=manual).level == "healthy"


def test_level_changes_are_recorded_as_events_and_signalled():
    job = recurring_job(cron="", schedule_type="manual")
    history(job, [{"at": T0 - timedelta(hours=1), "duration": 1}])
    received = []

    def receiver(sender, job, previous, current, issues, **kw):
        received.append((job.name, previous, current, [i["type"] for i in issues]))

    health_changed.connect(receiver)
    try:
        with time_machine.travel(T0, tick=False):
            health_refresh(now=T0)  # unknown -> healthy
            history(
                job,
                [
                    {"at": T0 - timedelta(minutes=50 - i), "status": "failed", "duration": 1}
                    for i in range(5)
                ],
            )
            health_refresh(now=T0)  # healthy -> critical
            health_refresh(now=T0)  # unchanged: no event
    finally:
        health_changed.disconnect(receiver)
    events = list(
        HealthEvent.objects.filter(job=job).order_by("id").values_list("previous", "current")
    )
    assert events == [("unknown", "healthy"), ("healthy", "critical")]
    # on_commit callbacks do not run inside the test transaction; events are the record.
    assert JobHealth.objects.get(job=job).level_since == T0


@pytest.mark.django_db(transaction=True)
def test_health_changed_is_sent_after_commit():
    job = recurring_job(cron="", schedule_type="manual")
    history(job, [{"at": T0 - timedelta(hours=1), "duration": 1}])
    received = []
    health_changed.connect(
        lambda sender, **kw: received.append((kw["previous"], kw["current"])),
        weak=False,
        dispatch_uid="t",
    )
    try:
        health_refresh(now=T0)
    finally:
        health_changed.disconnect(dispatch_uid="t")
    assert received == [("unknown", "healthy")]


def test_refresh_uses_the_same_number_of_queries_for_3_or_30_jobs():
    def build(n):
        for i in range(n):
            job = recurring_job(cron="0 * * * *")
            # Every third job has never succeeded: its rule reads the same batch.
            status = "failed" if i % 3 == 0 else "succeeded"
            history(job, hourly(T0 - timedelta(hours=2), 2, duration=1 + i % 3, status=status))

    build(3)
    with CaptureQueriesContext(connection) as few:
        health_refresh(now=T0)
    JobHealth.objects.all().delete()
    HealthEvent.objects.all().delete()
    build(27)
    with CaptureQueriesContext(connection) as many:
        health_refresh(now=T0)
    assert len(many) == len(few) <= 10
    assert JobHealth.objects.count() == 30
    warnings = JobHealth.objects.filter(level="warning")
    assert [issue_types(h) for h in warnings] == [["never_succeeded"]] * 10


def test_reset_counts_only_runs_after_it(django_user_model):
    from jobs.actors import Actor
    from jobs.models import AuditEvent
    from monitoring.services import health_reset

    job = recurring_job(cron="", schedule_type="manual")
    history(
        job,
        [{"at": T0 - timedelta(hours=6 - i), "status": "failed", "duration": 1} for i in range(6)],
    )
    assert refresh_one(job, T0).level == "critical"
    with time_machine.travel(T0, tick=False):
        health = health_reset(
            job.name,
            actor=Actor(name="op", source="api", client_ip="10.0.0.9"),
            reason="fixed the DSN",
        )
    assert health.level == "healthy"
    job.refresh_from_db()
    assert job.consecutive_failures == 0
    event = AuditEvent.objects.get(action="health.reset")
    assert event.changes["consecutive_failures"] == [6, 0]
    assert event.changes["health"] == ["critical", "healthy"]
    assert (event.actor, event.client_ip, event.reason) == ("op", "10.0.0.9", "fixed the DSN")
    assert JobRun.objects.filter(job=job).count() == 6  # history kept
