"""The bare Celery baseline: a no-op task that only counts itself done, so
the bench can tell when the last one finished (one Redis INCR)."""

from celery import shared_task

from jobs.definitions import runnable
from jobs.redis import get_redis

COUNTER = "jobwarden:bench:bare-done"


@shared_task(name="bench.bare_noop", ignore_result=True)
def bare_noop_task() -> None:
    get_redis().incr(COUNTER)


@runnable  # the bench worker imports this module (-I bench.tasks)
def noop(ctx) -> None:
    """The tracked job's function: does nothing, like the bare task."""
    return None
