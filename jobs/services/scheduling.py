"""Keeps django-celery-beat's PeriodicTask rows in step with Job rows.

Beat reads PeriodicTask from the database and notices any change within
CELERY_BEAT_MAX_LOOP_INTERVAL seconds (django-celery-beat's change marker),
so an edit, an enable or a disable applies with no restart. The fire times
themselves come from jobs.schedule (see jobs.beat): the crontab row is the
stored form of the job's cron, read back by our scheduler.
"""

from __future__ import annotations

import json

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, PeriodicTask, PeriodicTasks

from jobs import runlog
from jobs import schedule as cron
from jobs.models import Job, ScheduleType

FIRE_TASK = "jobs.fire_scheduled"
ENTRY_PREFIX = "job:"


def entry_name(job_name: str) -> str:
    return f"{ENTRY_PREFIX}{job_name}"


def schedule_sync(job: Job) -> None:
    """Make beat's entry for `job` match it and set job.next_run_at.

    Call inside the transaction that changed the job; idempotent."""
    name = entry_name(job.name)
    next_run_at = None
    with transaction.atomic():
        if job.is_recurring:
            minute, hour, dom, month, dow = cron.normalize_cron(job.cron).split(" ")
            crontab, _ = CrontabSchedule.objects.get_or_create(
                minute=minute,
                hour=hour,
                day_of_month=dom,
                month_of_year=month,
                day_of_week=dow,
                timezone=job.timezone,
            )
            _upsert_entry(name, job, crontab=crontab, clocked=None, one_off=False)
            if job.enabled:
                next_run_at = cron.next_fire(job.cron, job.timezone, timezone.now())
        elif job.schedule_type == ScheduleType.ONCE and job.run_at:
            clocked, _ = ClockedSchedule.objects.get_or_create(clocked_time=job.run_at)
            _upsert_entry(name, job, crontab=None, clocked=clocked, one_off=True)
            if job.enabled and job.run_at > timezone.now():
                next_run_at = job.run_at
        else:
            PeriodicTask.objects.filter(name=name).delete()
            PeriodicTasks.update_changed()
        if job.pk and job.next_run_at != next_run_at:
            Job.objects.filter(pk=job.pk).update(next_run_at=next_run_at)
        job.next_run_at = next_run_at
        if job.pk:
            # Workers compare this with their cached definition at each claim.
            job_id, enabled, changed = job.pk, job.enabled, job.updated_at
            transaction.on_commit(lambda: runlog.job_version_publish(job_id, enabled, changed))


def _upsert_entry(name: str, job: Job, *, crontab, clocked, one_off: bool) -> None:
    defaults = {
        "task": FIRE_TASK,
        "crontab": crontab,
        "clocked": clocked,
        "interval": None,
        "solar": None,
        "one_off": one_off,
        "kwargs": json.dumps({"job_name": job.name}),
        "args": "[]",
        "enabled": job.enabled,
        "queue": None,  # the fire task runs on the default (system) queue
        "description": f"Jobwarden job {job.name} ({job.cron or job.run_at})",
    }
    entry = PeriodicTask.objects.filter(name=name).first()
    if entry is None:
        PeriodicTask.objects.create(name=name, **defaults)
        return
    changed = [k for k, v in defaults.items() if getattr(entry, k) != v]
    if changed:
        for key in changed:
            setattr(entry, key, defaults[key])
        entry.save()  # save() marks the schedule changed for beat


def schedules_sync_all() -> int:
    """Re-sync every job's beat entry and drop entries of deleted jobs."""
    names = set()
    for job in Job.objects.all().iterator():
        schedule_sync(job)
        names.add(entry_name(job.name))
    stale = PeriodicTask.objects.filter(name__startswith=ENTRY_PREFIX).exclude(name__in=names)
    removed, _ = stale.delete()
    if removed:
        PeriodicTasks.update_changed()
    return len(names)


def schedule_remove(job_name: str, job_id: int | None = None) -> None:
    """Drop a deleted job's beat entry (and its published version)."""
    if job_id is not None:
        transaction.on_commit(lambda: runlog.job_version_forget(job_id))
    PeriodicTask.objects.filter(name=entry_name(job_name)).delete()
    PeriodicTasks.update_changed()
