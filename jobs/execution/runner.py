"""Executes one claimed attempt: context, parameters, kind, outcome.

The runner never raises: whatever the job does, it returns an Outcome that
recording turns into the run's final state.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import traceback
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from jobs.execution.context import (
    OutputBuffer,
    PermanentFailure,
    RetryAfter,
    RunCancelled,
    RunContext,
    RunSkipped,
)
from jobs.execution.heartbeat import ActiveRun, heartbeat
from jobs.execution.kinds import get_kind
from jobs.models import RunStatus
from jobs.params import mask_parameters, resolve_parameters
from jobs.services.runs import Claim, Outcome, run_finish, run_overrides, run_timeout

logger = logging.getLogger(__name__)


def execute(claim: Claim) -> Outcome:
    run = claim.run
    assert run is not None and claim.claimed
    job = run.job
    max_bytes = settings.JOBS_OUTPUT_MAX_BYTES
    active = ActiveRun(
        run_id=str(run.pk),
        lease_key=claim.lease_key,
        output=OutputBuffer(max_bytes),
        stderr=OutputBuffer(max_bytes),
    )
    ctx = RunContext(
        run_id=str(run.pk),
        job_name=job.name,
        parameters=dict(run.parameters or {}),
        attempt=run.attempt,
        timeout=run_timeout(run, job),
        output=active.output,
        stderr=active.stderr,
        _report_progress=active.set_progress,
        _beat=active.beat,
        _cancelled=active.is_cancelled,
        job=job,
    )
    active.on_abandon = lambda: _abandon(claim, ctx, active)
    heartbeat().register(active)
    outcome = Outcome(status=RunStatus.FAILED)
    try:
        outcome = _run_kind(ctx, run)
    finally:
        heartbeat().unregister(active)
        if active.cancelled and outcome.status in (
            RunStatus.SUCCEEDED,
            RunStatus.FAILED,
            RunStatus.TIMED_OUT,
        ):
            outcome = Outcome(
                status=RunStatus.CANCELLED, error="cancelled while running", result=outcome.result
            )
        _collect(outcome, ctx, active)
        ctx.close()
    return outcome


def _run_kind(ctx: RunContext, run: Any) -> Outcome:
    job = ctx.job
    try:
        resolved = _resolve_parameters(ctx, run)
        ctx.parameters = resolved
        result = get_kind(job.kind).execute(ctx)
        return Outcome(status=RunStatus.SUCCEEDED, result=_jsonable(result))
    except SoftTimeLimitExceeded:
        if ctx.is_cancelled():
            return Outcome(
                status=RunStatus.CANCELLED, error="cancelled; interrupted after the grace period"
            )
        return Outcome(
            status=RunStatus.TIMED_OUT,
            error=f"timed out after {ctx.timeout:g}s",
            traceback=traceback.format_exc(),
        )
    except RunCancelled as exc:
        return Outcome(status=RunStatus.CANCELLED, error=str(exc) or "cancelled")
    except RunSkipped as exc:
        return Outcome(status=RunStatus.SKIPPED, error=str(exc))
    except PermanentFailure as exc:
        return Outcome(
            status=RunStatus.FAILED,
            error=_describe(exc),
            traceback=traceback.format_exc(),
            permanent=True,
        )
    except RetryAfter as exc:
        return Outcome(
            status=RunStatus.FAILED,
            error=_describe(exc),
            traceback=traceback.format_exc(),
            retry_after=exc.seconds,
        )
    except Exception as exc:
        return Outcome(
            status=RunStatus.FAILED, error=_describe(exc), traceback=traceback.format_exc()
        )


def _resolve_parameters(ctx: RunContext, run: Any) -> dict[str, Any]:
    """Macros, dynamic (query) parameters and overrides, via jobs.params; the
    masked copy is what the run stores."""
    resolved = resolve_parameters(
        ctx.job, run_overrides(run), run_id=str(run.pk), attempt=run.attempt, now=timezone.now()
    )
    ctx.metadata["__masked_parameters"] = mask_parameters(ctx.job, resolved)
    return resolved


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    try:
        return json.loads(json.dumps(value, cls=DjangoJSONEncoder))
    except (TypeError, ValueError):
        return repr(value)[:10_000]


def _collect(outcome: Outcome, ctx: RunContext, active: ActiveRun) -> None:
    outcome.output = ctx.output.getvalue()
    outcome.stderr = ctx.stderr.getvalue()
    outcome.output_truncated = ctx.output.truncated or ctx.stderr.truncated
    if active.progress is not None:
        outcome.progress, outcome.progress_message = active.progress, active.progress_message
    metadata = dict(ctx.metadata)
    masked = metadata.pop("__masked_parameters", None)
    if masked is not None:
        outcome.parameters = masked
    exit_code = metadata.get("exit_code")
    if isinstance(exit_code, int):
        outcome.exit_code = exit_code
    outcome.metadata = (_jsonable(metadata) or {}) if metadata else {}
    _redact(outcome, ctx)


def _redact(outcome: Outcome, ctx: RunContext) -> None:
    """Whatever a job returned or printed, the job's secret values (sealed
    config fields, secret parameters) never reach the run record in clear."""
    from jobs.params import secret_values

    secret_params = list(secret_values(ctx.job, ctx.parameters or {}))
    if not (ctx.job.secrets or secret_params):
        return  # the common case costs nothing
    from jobs.execution.redact import Redactor
    from jobs.secrets import open_config

    redactor = Redactor.for_run(ctx.job, open_config(ctx.job), ctx.parameters or {}, secret_params)
    outcome.result = redactor.redact_obj(outcome.result)
    outcome.metadata = redactor.redact_obj(outcome.metadata)
    for name in ("output", "stderr", "error", "traceback", "progress_message"):
        setattr(outcome, name, redactor.redact(getattr(outcome, name)))


def _abandon(claim: Claim, ctx: RunContext, active: ActiveRun) -> None:
    """Last words before the process kills itself for an ignored cancel."""
    pgid = ctx.metadata.get("pgid")
    if isinstance(pgid, int) and pgid > 1 and pgid != os.getpgid(0):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    outcome = Outcome(
        status=RunStatus.CANCELLED, error="cancelled; terminated after ignoring the request"
    )
    _collect(outcome, ctx, active)
    run_finish(claim, outcome)
