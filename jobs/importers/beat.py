"""Celery beat entries → python job specs (`jobs import beat`).

Two inputs, as beat reads them: django-celery-beat's PeriodicTask rows and
the CELERY_BEAT_SCHEDULE setting. Jobwarden's own entries (the job fire
entries, its sweep, Celery's backend cleanup) are skipped. Each entry becomes
a python job whose `target` is the task's function (`module.name` →
`module:name`); kwargs become parameters.

Schedules: crontab → cron (+ its timezone); clocked → run_at (a one-off);
an interval → the cron that fires at the same rate when one exists (every N
minutes dividing an hour, N hours dividing a day, every day), else reported.
A cron fires on the clock (:00, :15 ...), an interval counts from the last
run: same rate, possibly another phase. Solar schedules are reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from jobs.importers import Entry, Problem, imported_tags, unique_names, with_source_line
from jobs.schedule import ScheduleError, check_cron_fires

SOURCE = "beat"
# Entries of Jobwarden itself and of Celery, not the project's jobs.
OWN_TASKS = frozenset({"jobs.fire_scheduled", "jobs.sweep", "celery.backend_cleanup"})
_PERIOD_SECONDS = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1, "microseconds": 1e-6}


@dataclass
class BeatItem:
    """One beat entry, whatever it was read from."""

    where: str
    name: str
    task: str
    cron: str | None = None
    timezone: str | None = None
    every: float | None = None  # interval, in seconds
    run_at: datetime | None = None
    other: str = ""  # a schedule type with no mapping (solar ...)
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    description: str = ""


def interval_cron(seconds: float) -> str | None:
    """The cron that fires every `seconds`, if one fires at that exact rate."""
    if seconds <= 0 or seconds % 60:
        return None
    minutes = int(seconds // 60)
    if minutes < 60 and 60 % minutes == 0:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    if minutes % 60:
        return None
    hours = minutes // 60
    if hours < 24 and 24 % hours == 0:
        return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    return "0 0 * * *" if hours == 24 else None


def parse_beat(
    items: list[BeatItem], *, target_problem: Callable[[str], str | None]
) -> tuple[list[Entry], list[Problem]]:
    """The job specs of the entries, and a Problem for each that cannot be
    mapped. `target_problem(target)` says why a target cannot be a python
    job's (not a registered job function ...), or None."""
    entries: list[Entry] = []
    problems: list[Problem] = []
    for item in items:
        if item.task in OWN_TASKS:
            continue
        shown = f"{item.name} ({item.task})"
        try:
            spec = _spec(item, target_problem)
        except ValueError as exc:
            problems.append(Problem(item.where, shown, str(exc)))
            continue
        entries.append(Entry(item.where, spec, shown))
    return unique_names(entries), problems


def _spec(item: BeatItem, target_problem: Callable[[str], str | None]) -> dict[str, Any]:
    from django.utils.text import slugify

    module, _, function = item.task.rpartition(".")
    target = f"{module}:{function}"
    if not module:
        raise ValueError(f"task {item.task!r} is not module.function")
    refusal = target_problem(target)
    if refusal:
        raise ValueError(refusal)
    if item.args:
        raise ValueError("positional args have no equivalent (python jobs take named parameters)")
    spec: dict[str, Any] = {
        "name": slugify(item.name)[:60].strip("-_") or slugify(function) or "beat-job",
        "display_name": item.name,
        "description": with_source_line(item.description, item.where),
        "kind": "python",
        "target": target,
        "tags": imported_tags(SOURCE),
    }
    spec.update(_schedule(item))
    if item.kwargs:
        spec["parameters"] = dict(item.kwargs)
    if not item.enabled:
        spec["enabled"] = False
    return spec


def _schedule(item: BeatItem) -> dict[str, Any]:
    if item.other:
        raise ValueError(f"a {item.other} schedule has no equivalent")
    if item.run_at is not None:
        return {"run_at": item.run_at.astimezone(UTC).isoformat()}
    cron = item.cron
    if item.every is not None:
        cron = interval_cron(item.every)
        if cron is None:
            raise ValueError(
                f"an interval of {timedelta(seconds=item.every)} is not expressible as a cron"
            )
    if cron is None:
        raise ValueError("no schedule")
    try:
        cron = check_cron_fires(cron)
    except ScheduleError as exc:
        raise ValueError(str(exc)) from None
    out: dict[str, Any] = {"cron": cron}
    if item.timezone and item.timezone != "UTC":
        out["timezone"] = item.timezone
    return out


# --- reading the two inputs into BeatItems ----------------------------------------------


def items_from_rows(rows: Any) -> list[BeatItem]:
    """PeriodicTask rows (a queryset with the schedules selected)."""
    import json

    items = []
    for row in rows:
        item = BeatItem(
            where=f"{SOURCE} PeriodicTask {row.name!r}",
            name=row.name,
            task=row.task,
            enabled=row.enabled,
            description=row.description or "",
        )
        try:
            item.args = json.loads(row.args or "[]")
            item.kwargs = json.loads(row.kwargs or "{}")
        except ValueError:
            item.other = "row whose args/kwargs are not JSON, a"
        if row.crontab_id:
            c = row.crontab
            item.cron = f"{c.minute} {c.hour} {c.day_of_month} {c.month_of_year} {c.day_of_week}"
            item.timezone = str(c.timezone)
        elif row.interval_id:
            item.every = row.interval.every * _PERIOD_SECONDS[row.interval.period]
        elif row.clocked_id:
            item.run_at = row.clocked.clocked_time
        else:
            item.other = "solar" if row.solar_id else "missing"
        items.append(item)
    return items


def items_from_setting(schedule: dict[str, Any]) -> list[BeatItem]:
    """CELERY_BEAT_SCHEDULE: {name: {task, schedule, args, kwargs}}."""
    from celery.schedules import crontab, solar
    from celery.schedules import schedule as every

    items = []
    for name, entry in schedule.items():
        item = BeatItem(
            where=f"{SOURCE} CELERY_BEAT_SCHEDULE {name!r}",
            name=name,
            task=entry.get("task", ""),
            args=list(entry.get("args") or []),
            kwargs=dict(entry.get("kwargs") or {}),
        )
        value = entry.get("schedule")
        if isinstance(value, crontab):
            item.cron = " ".join(
                str(getattr(value, f"_orig_{f}"))
                for f in ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
            )
            item.timezone = str(value.tz) if value.tz else None
        elif isinstance(value, every):
            item.every = value.run_every.total_seconds()
        elif isinstance(value, timedelta):
            item.every = value.total_seconds()
        elif isinstance(value, int | float) and not isinstance(value, bool):
            item.every = float(value)
        else:
            item.other = "solar" if isinstance(value, solar) else type(value).__name__
        items.append(item)
    return items
