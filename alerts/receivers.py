"""Signal receivers: parse the signal, call one alerts service.

They run on the per-run path after the run is committed; an alerting bug
must never break run recording, so errors are logged, not raised.
"""

from __future__ import annotations

import logging

from alerts.services import events

log = logging.getLogger(__name__)


def on_run_finished(sender, run, job, **kwargs) -> None:
    try:
        events.handle_run_finished(
            run,
            job,
            kwargs.get("previous_consecutive_failures"),
            will_retry=bool(kwargs.get("will_retry", False)),
        )
    except Exception:
        log.exception(
            "alerts: handling run %s of %s failed",
            getattr(run, "id", "?"),
            getattr(job, "name", "?"),
        )


def on_job_auto_disabled(sender, job, run=None, reason="", **kwargs) -> None:
    try:
        events.handle_auto_disabled(job, run, reason)
    except Exception:
        log.exception("alerts: handling auto-disable of %s failed", getattr(job, "name", "?"))


def on_job_enabled(sender, job, actor=None, **kwargs) -> None:
    try:
        events.handle_job_enabled(job, getattr(actor, "name", "") or "someone")
    except Exception:
        log.exception("alerts: handling re-enable of %s failed", getattr(job, "name", "?"))


def on_health_changed(sender, job, previous=None, current=None, issues=None, **kwargs) -> None:
    try:
        events.handle_health_changed(job, previous or "", current or "", issues or [])
    except Exception:
        log.exception("alerts: handling health change of %s failed", getattr(job, "name", "?"))
