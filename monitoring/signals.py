"""Monitoring's domain signals, declared in one place."""

from django.dispatch import Signal

# A job's stored health level changed (e.g. healthy -> critical).
# kwargs: job (Job), previous (str), current (str), issues (list of dicts
# with keys type, message, details).
health_changed = Signal()
