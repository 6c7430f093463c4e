"""Beat scheduler: django-celery-beat's DatabaseScheduler, with fire times
from jobs.schedule so beat and every reader share one DST rule."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from celery import schedules
from django.db.models import Q
from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry

from jobs import schedule as cron
from jobs.models import BeatEntry

logger = logging.getLogger(__name__)


class JobCronSchedule(schedules.BaseSchedule):
    """A cron in a zone, due per jobs.schedule's DST rule."""

    def __init__(self, expr: str, tz: str, app=None):
        super().__init__(app=app)
        self.expr, self.tz = expr, tz

    def remaining_estimate(self, last_run_at: datetime):
        return cron.next_fire(self.expr, self.tz, last_run_at) - datetime.now(UTC)

    def is_due(self, last_run_at: datetime) -> schedules.schedstate:
        now = datetime.now(UTC)
        due_at = cron.next_fire(self.expr, self.tz, last_run_at)
        if due_at <= now:
            following = cron.next_fire(self.expr, self.tz, now)
            return schedules.schedstate(True, max((following - now).total_seconds(), 0.0))
        return schedules.schedstate(False, (due_at - now).total_seconds())

    def __repr__(self) -> str:
        return f"<JobCronSchedule {self.expr} {self.tz}>"

    def __eq__(self, other) -> bool:
        return isinstance(other, JobCronSchedule) and (self.expr, self.tz) == (other.expr, other.tz)

    def __hash__(self) -> int:
        return hash((self.expr, self.tz))


class JobEntry(ModelEntry):
    pass


class JobScheduler(DatabaseScheduler):
    Entry = JobEntry
    Model = BeatEntry

    def setup_schedule(self):
        # Code-defined jobs and their beat entries are brought up to date at
        # start, so a deploy needs nothing but a beat restart.
        try:
            from jobs.definitions import definitions_sync

            definitions_sync()
        except ImportError:
            pass
        from jobs.services.scheduling import schedules_sync_all

        schedules_sync_all()
        super().setup_schedule()

    def _get_crontab_exclude_query(self):
        # The stock hour pre-filter assumes Celery's own DST handling; our
        # entries follow jobs.schedule, so consider every entry.
        return Q(pk__in=[])
