"""Celery signal receivers: the one place a run's state changes are recorded."""
