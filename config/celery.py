import os

from celery import Celery

from jobs.worker_steps import TimerCompaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("jobwarden")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Dead time-limit timers out of each worker's event loop (jobs.worker_steps).
app.steps["worker"].add(TimerCompaction)
