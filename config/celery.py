import os

from celery import Celery

from jobs.worker_steps import RemoteControlGuard, TimerCompaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("jobwarden")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Dead time-limit timers out of each worker's event loop (jobs.worker_steps).
app.steps["worker"].add(TimerCompaction)
# Remote-control commands from the broker: inspection, and revoking a run
# whose cancel Jobwarden recorded; nothing else (jobs.worker_steps).
app.steps["worker"].add(RemoteControlGuard)

# Celery's canvas tasks run whatever their message names: celery.map and
# starmap call any registered task in the worker with arguments of the
# message's choosing (past every check a message gets); group, chain, chord
# and chunks publish new messages from inside the worker. Jobwarden uses no
# canvas, so a worker that has none refuses such a message as unregistered
# (logged). backend_cleanup and accumulate stay: they take no orders.
CANVAS_TASKS = (
    "celery.map",
    "celery.starmap",
    "celery.chunks",
    "celery.group",
    "celery.chain",
    "celery.chord",
    "celery.chord_unlock",
)


@app.on_after_finalize.connect
def _drop_canvas_tasks(sender: Celery, **_: object) -> None:
    for name in CANVAS_TASKS:
        sender.tasks.pop(name, None)
