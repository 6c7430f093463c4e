"""The health rules, as pure functions over facts gathered in bulk.

monitoring.selectors.health_facts gathers one HealthFacts per job with a few
aggregate queries; evaluate() turns facts into a level and a list of issues
without I/O, so every rule is testable on its own and 1,000 jobs cost 1,000
cheap function calls, not 1,000 queries.

Levels: an issue is a warning or critical; a job's level is its worst issue.
With no issue a job is healthy, or unknown if it never ran. Critical means
"not doing its work": >= MONITORING_FAILURES_CRITICAL consecutive failures (or
that many failed runs in the health window without a success), a missed
scheduled execution, a stuck run, or an automatic disable. The other rules
(low success rate, long execution, duration anomaly, a few failures in a row,
no success yet in the window) are warnings: the job runs, but something
deserves a look.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from jobs.limits import clamp_seconds
from monitoring.fires import last_fire_at_or_before
from monitoring.models import HealthLevel, IssueType

WARNING, CRITICAL = HealthLevel.WARNING.value, HealthLevel.CRITICAL.value


@dataclass
class StuckRun:
    run_id: str
    started_at: datetime | None
    heartbeat_at: datetime | None


@dataclass
class HealthFacts:
    """Everything the rules need about one job (gathered in bulk)."""

    job_id: int
    name: str
    enabled: bool = True
    cron: str = ""  # empty: not recurring
    timezone: str = "UTC"
    created_at: datetime | None = None
    next_run_at: datetime | None = None
    disabled_by: str = ""
    disabled_reason: str = ""
    timeout: float = 1200.0
    grace_time: float = 1800.0
    expected_max_duration: float | None = None  # seconds
    min_duration: float | None = None  # seconds
    consecutive_failures: int = 0
    execution_count: int = 0
    last_status: str = "idle"
    last_duration_ms: int | None = None
    # Window (since max(now - MONITORING_HEALTH_WINDOW, reset)) aggregates.
    window_succeeded: int = 0
    window_failed: int = 0
    window_avg_duration_ms: float | None = None
    # Median of the successful runs before the last one, and how many.
    median_ms: float | None = None
    median_samples: int = 0
    latest_scheduled_for: datetime | None = None
    ran_at_all: bool = False
    stuck: list[StuckRun] = field(default_factory=list)


def issue(type_: str, severity: str, message: str, **details: Any) -> dict[str, Any]:
    return {"type": type_, "severity": severity, "message": message, "details": details}


def evaluate(
    facts: HealthFacts, now: datetime, *, fire_cache: dict | None = None
) -> tuple[str, list[dict]]:
    """(level, issues) for one job at `now`; no I/O."""
    issues: list[dict] = []
    for rule in RULES:
        found = rule(facts, now, fire_cache) if rule is _missed_execution else rule(facts, now)
        if found:
            issues.append(found)
    if issues:
        level = CRITICAL if any(i["severity"] == CRITICAL for i in issues) else WARNING
    elif not facts.ran_at_all and facts.execution_count == 0:
        level = HealthLevel.UNKNOWN.value
    else:
        level = HealthLevel.HEALTHY.value
    return level, issues


def _streak_severity(n: int) -> str | None:
    if n >= settings.MONITORING_FAILURES_CRITICAL:
        return CRITICAL
    if n >= settings.MONITORING_FAILURES_WARNING:
        return WARNING
    return None


def _consecutive_failures(f: HealthFacts, now: datetime) -> dict | None:
    n = f.consecutive_failures
    severity = _streak_severity(n)
    if severity is None:
        return None
    return issue(
        IssueType.CONSECUTIVE_FAILURES,
        severity,
        f"{n} consecutive failures",
        consecutive_failures=n,
        warning_at=settings.MONITORING_FAILURES_WARNING,
        critical_at=settings.MONITORING_FAILURES_CRITICAL,
    )


def _never_succeeded(f: HealthFacts, now: datetime) -> dict | None:
    """Finished runs in the window, and not one of them a success.

    Users of healthchecks.io see a check go "down" on its first failure
    signal, and Hangfire lists a failed job at once; neither would call a job
    healthy that has only ever failed. The streak rule alone tolerates a
    couple of failures (bad luck for a job that otherwise works), which made a
    job failing since its first run read healthy. So when the window holds no
    success at all, the job has done none of its work: one failure is a
    warning, and MONITORING_FAILURES_CRITICAL of them is critical, the same
    count at which the streak rule calls an outage. Cancelled and skipped
    runs are neither. The window starts at the later of now -
    MONITORING_HEALTH_WINDOW and the last health reset.
    """
    n = f.window_failed
    if n == 0 or f.window_succeeded:
        return None
    severity = CRITICAL if n >= settings.MONITORING_FAILURES_CRITICAL else WARNING
    if _streak_severity(f.consecutive_failures) in (severity, CRITICAL):
        return None  # the streak rule already says so, at least as loudly
    return issue(
        IssueType.NEVER_SUCCEEDED,
        severity,
        f"never succeeded in the last {n} run{'' if n == 1 else 's'}",
        failed_runs=n,
        window_seconds=settings.MONITORING_HEALTH_WINDOW,
        critical_at=settings.MONITORING_FAILURES_CRITICAL,
    )


def _low_success_rate(f: HealthFacts, now: datetime) -> dict | None:
    done = f.window_succeeded + f.window_failed
    if done <= settings.MONITORING_SUCCESS_RATE_MIN_RUNS:
        return None
    rate = 100.0 * f.window_succeeded / done
    if rate >= settings.MONITORING_MIN_SUCCESS_RATE:
        return None
    return issue(
        IssueType.LOW_SUCCESS_RATE,
        WARNING,
        f"success rate {rate:.1f}% over the last {done} runs (below {settings.MONITORING_MIN_SUCCESS_RATE:g}%)",
        success_rate=round(rate, 2),
        runs=done,
        threshold=settings.MONITORING_MIN_SUCCESS_RATE,
    )


def _long_execution(f: HealthFacts, now: datetime) -> dict | None:
    limit = f.expected_max_duration or settings.MONITORING_DEFAULT_EXPECTED_MAX_DURATION
    avg = f.window_avg_duration_ms
    if avg is None or avg <= limit * 1000:
        return None
    return issue(
        IssueType.LONG_EXECUTION,
        WARNING,
        f"average duration {avg / 1000:.1f}s exceeds the expected maximum {limit:g}s",
        avg_duration_ms=round(avg, 1),
        expected_max_duration=limit,
    )


def _duration_anomaly(f: HealthFacts, now: datetime) -> dict | None:
    if f.last_status != "succeeded" or f.last_duration_ms is None:
        return None
    last = f.last_duration_ms
    if f.min_duration is not None and last < f.min_duration * 1000:
        return issue(
            IssueType.DURATION_ANOMALY,
            WARNING,
            f"last run succeeded in {last / 1000:.3g}s, under the job's minimum {f.min_duration:g}s",
            last_duration_ms=last,
            min_duration=f.min_duration,
        )
    factor = settings.MONITORING_ANOMALY_FACTOR
    if (
        f.median_ms
        and f.median_samples >= settings.MONITORING_ANOMALY_MIN_SAMPLES
        and last > factor * f.median_ms
        and last - f.median_ms >= settings.MONITORING_ANOMALY_MIN_EXCESS * 1000
    ):
        return issue(
            IssueType.DURATION_ANOMALY,
            WARNING,
            f"last run took {last / 1000:.3g}s, more than {factor:g}x the median "
            f"{f.median_ms / 1000:.3g}s of the previous {f.median_samples} successful runs",
            last_duration_ms=last,
            median_ms=round(f.median_ms, 1),
            samples=f.median_samples,
            factor=factor,
        )
    return None


def overdue_fire(f: HealthFacts, now: datetime, fire_cache: dict | None = None) -> datetime | None:
    """The latest fire that is overdue by more than the grace time with no
    scheduled run for it, or None."""
    if not (f.enabled and f.cron):
        return None
    cutoff = now - timedelta(seconds=clamp_seconds(f.grace_time))  # a row from before the bounds
    key = (f.cron, f.timezone, cutoff.replace(microsecond=0))
    if fire_cache is not None and key in fire_cache:
        expected = fire_cache[key]
    else:
        try:
            expected = last_fire_at_or_before(f.cron, f.timezone, cutoff)
        except ValueError:  # a bad cron saved before validation: not this rule's call
            expected = None
        if fire_cache is not None:
            fire_cache[key] = expected
    if expected is None or (f.created_at and f.created_at > expected):
        return None  # the job did not exist at that fire
    if f.next_run_at and f.next_run_at > expected:
        # The scheduler already moved past that fire (e.g. the job was
        # re-enabled after it): nothing was owed.
        return None
    if f.latest_scheduled_for and f.latest_scheduled_for >= expected:
        return None
    return expected


def _missed_execution(f: HealthFacts, now: datetime, fire_cache: dict | None) -> dict | None:
    expected = overdue_fire(f, now, fire_cache)
    if expected is None:
        return None
    late = now - expected
    return issue(
        IssueType.MISSED_EXECUTION,
        CRITICAL,
        f"scheduled run at {expected.isoformat()} did not happen ({int(late.total_seconds() // 60)} min overdue)",
        expected_at=expected.isoformat(),
        last_scheduled_for=f.latest_scheduled_for.isoformat() if f.latest_scheduled_for else None,
        grace_time=f.grace_time,
    )


def _stuck_run(f: HealthFacts, now: datetime) -> dict | None:
    past_timeout = timedelta(
        seconds=f.timeout + settings.JOBS_TIMEOUT_GRACE + settings.MONITORING_STUCK_GRACE
    )
    stale_after = timedelta(seconds=settings.JOBS_ORPHAN_AFTER)
    stuck = []
    for run in f.stuck:
        reasons = []
        if run.started_at and now - run.started_at > past_timeout:
            reasons.append("past_timeout")
        beat = run.heartbeat_at or run.started_at
        if beat and now - beat > stale_after:
            reasons.append("stale_heartbeat")
        if reasons:
            stuck.append(
                {
                    "run_id": run.run_id,
                    "reasons": reasons,
                    "started_at": run.started_at.isoformat() if run.started_at else None,
                    "heartbeat_at": run.heartbeat_at.isoformat() if run.heartbeat_at else None,
                }
            )
    if not stuck:
        return None
    words = " and ".join(r.replace("_", " ") for r in stuck[0]["reasons"])
    return issue(
        IssueType.STUCK_RUN,
        CRITICAL,
        f"{len(stuck)} run(s) stuck ({words})",
        runs=stuck,
        timeout=f.timeout,
    )


def _auto_disabled(f: HealthFacts, now: datetime) -> dict | None:
    if f.enabled or f.disabled_by != "system":
        return None
    return issue(
        IssueType.AUTO_DISABLED,
        CRITICAL,
        f"disabled automatically: {f.disabled_reason or 'repeated failures'}",
        reason=f.disabled_reason,
    )


RULES = (
    _consecutive_failures,
    _never_succeeded,
    _low_success_rate,
    _long_execution,
    _duration_anomaly,
    _missed_execution,
    _stuck_run,
    _auto_disabled,
)
