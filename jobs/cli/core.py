"""`manage.py jobs list | info | run | history | enable | disable | cancel | apply | sync`.

Thin: each handler parses its options, calls one service or read, and prints
an aligned table or, with --json, the same JSON the REST API returns
(jobs.api.serializers). Errors are jobs.errors raised to the dispatcher,
which prints one line on stderr and exits 1.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from jobs.actors import Actor
from jobs.cli import parse_params
from jobs.errors import NotFound, ValidationError
from jobs.models import Job, JobRun, RunStatus
from jobs.selectors import job_recent_runs, run_get, run_next_attempt

POLL_INTERVAL = 0.25  # seconds between reads of the run row while --wait-ing
QUEUED_HINT_AFTER = 15.0  # seconds a --wait-ed run may sit queued before we say why it might


# --- output helpers -------------------------------------------------------------


class _Out:
    def __init__(self, command: Any):
        self.command = command

    def line(self, text: str = "") -> None:
        self.command.stdout.write(text)
        self.command.stdout.flush()

    def err(self, text: str) -> None:
        self.command.stderr.write(text, style_func=lambda s: s)
        self.command.stderr.flush()

    def json(self, data: Any) -> None:
        self.line(json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        cells = [[_cell(c) for c in row] for row in rows]
        widths = [len(h) for h in headers]
        for row in cells:
            widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        self.line(fmt.format(*headers).rstrip())
        for row in cells:
            self.line(fmt.format(*row).rstrip())


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return _when(value)
    text = str(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def _when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    value = float(value)
    if value < 120:
        return f"{value:g}s"
    if value < 7200:
        return f"{value / 60:g}m"
    return f"{value / 3600:g}h"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value / 1000:.2f}s"


def _jobs():
    # The API's queryset (owner, stored health and is_running joined), so
    # --json is the API's JSON at the API's cost: no query per job.
    from monitoring.selectors import job_queryset

    return job_queryset()


def _get_job(name: str) -> Job:
    job = _jobs().filter(name=name).first()
    if job is None:
        raise NotFound(
            f"job {name!r} not found (see `manage.py jobs list`)", fields={"name": "not found"}
        )
    return job


# --- handlers ---------------------------------------------------------------------


def _list(out: _Out, options: dict[str, Any]) -> int:
    from jobs.api.serializers import JobSerializer, human_schedule
    from monitoring.selectors import job_list

    jobs = list(job_list(tag=options.get("tag")))
    if options["json"]:
        out.json(JobSerializer(jobs, many=True).data)
        return 0
    if not jobs:
        out.line("no jobs (define some with @job in code, or `manage.py jobs apply FILE`)")
        return 0
    out.table(
        [
            "NAME",
            "ENABLED",
            "SCHEDULE",
            "NEXT RUN (UTC)",
            "STATUS",
            "RUNS",
            "OK",
            "FAILED",
            "CONSEC",
        ],
        [
            [
                j.name,
                j.enabled,
                human_schedule(j),
                j.next_run_at if j.enabled else None,
                j.status,
                j.execution_count,
                j.success_count,
                j.failure_count,
                j.consecutive_failures,
            ]
            for j in jobs
        ],
    )
    return 0


def _info(out: _Out, options: dict[str, Any]) -> int:
    from jobs.api.serializers import JobSerializer, human_schedule
    from jobs.schedule import ScheduleError, next_fires
    from jobs.secrets import masked_config, masked_parameters

    job = _get_job(options["name"])
    if options["json"]:
        out.json(JobSerializer(job).data)
        return 0
    enabled = "yes" if job.enabled else f"no - {job.disabled_reason or 'disabled'}"
    if not job.enabled and job.disabled_by:
        enabled += f" (by {job.disabled_by}, {_when(job.disabled_at)} UTC)"
    rows: list[tuple[str, Any]] = [
        ("name", job.name),
        ("display name", job.display_name),
        ("description", job.description),
        ("source", job.source),
        ("kind", job.kind),
        ("target", job.target),
        ("config", json.dumps(masked_config(job)) if job.config else ""),
        ("parameters", json.dumps(masked_parameters(job.parameters)) if job.parameters else ""),
        ("enabled", enabled),
        ("schedule", human_schedule(job)),
        ("cron", f"{job.cron} ({job.timezone})" if job.cron else ""),
        ("queue", job.queue_name),
        ("priority", job.priority),
        ("timeout", _seconds(job.timeout)),
        (
            "retries",
            f"{job.max_retries} (delay {_seconds(job.retry_delay)}, x{job.retry_backoff:g}, "
            f"jitter ±{job.retry_jitter * 100:g}%, max {_seconds(job.retry_max_delay)})",
        ),
        ("overlap", job.overlap),
        (
            "auto-disable after",
            f"{job.auto_disable_after} failures" if job.auto_disable_after else "never",
        ),
        ("tags", ", ".join(job.tags or [])),
        ("owner", job.owner.get_username() if job.owner_id else ""),
        ("status", job.status),
        ("runs", f"{job.execution_count} ({job.success_count} ok, {job.failure_count} failed)"),
        ("consecutive failures", job.consecutive_failures),
        ("last run", f"{_when(job.last_run_at)} UTC" if job.last_run_at else ""),
        ("last success", f"{_when(job.last_success_at)} UTC" if job.last_success_at else ""),
        ("last failure", f"{_when(job.last_failure_at)} UTC" if job.last_failure_at else ""),
        ("last / avg duration", f"{_ms(job.last_duration_ms)} / {_ms(job.avg_duration_ms)}"),
        ("last error", job.last_error),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        if value not in ("", None):
            out.line(f"{key:<{width}}  {value}")
    if job.enabled and job.is_recurring:
        try:
            fires = next_fires(job.cron, job.timezone, timezone.now(), 5)
        except ScheduleError:
            fires = []
        if fires:
            out.line(
                f"{'next runs':<{width}}  "
                + f"\n{'':<{width}}  ".join(_fire(f, job.timezone) for f in fires)
            )
    runs = job_recent_runs(job, 5)
    if runs:
        out.line("")
        out.line("recent runs:")
        _runs_table(out, runs)
    return 0


def _fire(instant: datetime, zone: str) -> str:
    from jobs.schedule import get_zone

    local = instant.astimezone(get_zone(zone))
    return (
        f"{_when(instant)} UTC ({local:%Y-%m-%d %H:%M %Z})"
        if zone != "UTC"
        else f"{_when(instant)} UTC"
    )


def _runs_table(out: _Out, runs: Sequence[JobRun]) -> None:
    out.table(
        ["RUN ID", "STATUS", "TRIGGER", "BY", "ATTEMPT", "QUEUED (UTC)", "DURATION", "ERROR"],
        [
            [
                str(r.id),
                r.status,
                r.trigger,
                r.triggered_by,
                r.attempt,
                r.queued_at,
                _ms(r.duration_ms) if r.duration_ms is not None else None,
                r.error.splitlines()[0] if r.error else "",
            ]
            for r in runs
        ],
    )


def _history(out: _Out, options: dict[str, Any]) -> int:
    from jobs.api.serializers import JobRunSerializer

    job = _get_job(options["name"])
    limit = options["limit"]
    if limit < 1:
        raise ValidationError(
            f"--limit must be at least 1, got {limit}", fields={"limit": "too small"}
        )
    runs = job_recent_runs(job, limit)
    if options["json"]:
        out.json(JobRunSerializer(runs, many=True).data)
        return 0
    if not runs:
        out.line(f"job {job.name!r} has no runs yet")
        return 0
    _runs_table(out, runs)
    return 0


def _run(out: _Out, options: dict[str, Any]) -> int:
    from jobs.api.serializers import JobRunSerializer
    from jobs.services.runs import run_trigger

    params = parse_params(options["param"])
    _get_job(options["name"])  # a clear "not found" before anything else
    timeout = options["timeout"]
    if timeout is not None and timeout <= 0:
        raise ValidationError(
            f"--timeout must be positive, got {timeout:g}", fields={"timeout": "not positive"}
        )
    run = run_trigger(
        options["name"],
        actor=Actor.cli(),
        trigger="cli",
        parameters=params,
        reason=options["reason"] or "",
        force=options["force"],
        timeout=options["run_timeout"],
    )
    if not options["wait"]:
        if options["json"]:
            out.json(JobRunSerializer(run).data)
        else:
            out.line(f"queued run {run.id} of {run.job.name} (status {run.status})")
        return 0
    # Progress goes to stderr under --json, so stdout stays one JSON document.
    say = out.err if options["json"] else out.line
    say(f"run {run.id} of {run.job.name}: {run.status}")
    final = _wait(run, timeout, say, warn=out.err)
    if final is None:
        out.err(
            f"run {run.id} still not finished after {timeout:g}s (it keeps running; see `jobs history`)"
        )
        return 2
    if options["json"]:
        out.json(JobRunSerializer(final).data)
    return 0 if final.status == RunStatus.SUCCEEDED else 1


def _wait(run: JobRun, timeout: float | None, say: Any, warn: Any) -> JobRun | None:
    """Poll the run (following retry attempts) until it finishes; print a line
    per change. Returns the finished run, or None at the timeout."""
    began = time.monotonic()
    deadline = began + timeout if timeout is not None else None
    current = run
    last: tuple[Any, ...] | None = (current.status, None, "")
    hinted = False
    while True:
        current = run_get(current.pk)
        state = (current.status, current.progress, current.progress_message)
        if state != last:
            _say_state(current, say)
            last = state
        if (
            not hinted
            and current.status == RunStatus.QUEUED
            and time.monotonic() - began >= QUEUED_HINT_AFTER
            # A retry sits queued through its delay by design: only a run
            # that is due and still not started is worth a word.
            and current.due_for(timezone.now()) >= QUEUED_HINT_AFTER
        ):
            # The usual cause: no worker reads this queue on this broker
            # (e.g. a CLI that did not get `make run`'s embedded REDIS_URL).
            warn(
                f"still queued after {QUEUED_HINT_AFTER:g}s: is a worker consuming queue "
                f"{current.job.queue_name!r} on {_broker_shown()}?"
            )
            hinted = True
        if current.status not in RunStatus.active():
            # timed_out and orphaned attempts are retried too, not only `retrying`.
            follow = run_next_attempt(current)
            if follow is None:
                return current
            current = follow
            say(f"retry: attempt {follow.attempt} is run {follow.id} (status {follow.status})")
            last = (follow.status, None, "")
            continue
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(POLL_INTERVAL)


def _broker_shown() -> str:
    from jobs.broker import shown_url

    return shown_url(settings.CELERY_BROKER_URL)


def _say_state(run: JobRun, say: Any) -> None:
    if run.status == RunStatus.RUNNING:
        if run.progress is not None or run.progress_message:
            pct = f"{run.progress:5.1f}%" if run.progress is not None else "     "
            say(f"  {pct}  {run.progress_message}".rstrip())
        else:
            where = f" on {run.worker}" if run.worker else ""
            say(f"running{where}")
        return
    if run.status in RunStatus.active():
        say(run.status)
        return
    took = f" in {_ms(run.duration_ms)}" if run.duration_ms is not None else ""
    detail = f": {run.error.splitlines()[0]}" if run.error else ""
    if run.status == RunStatus.RETRYING:
        say(f"attempt {run.attempt} failed{took}{detail}; a retry is scheduled")
        return
    if run.status == RunStatus.SKIPPED and run.reason and not detail:
        detail = f": {run.reason}"
    say(f"{run.status}{took}{detail}")


def _enable(out: _Out, options: dict[str, Any]) -> int:
    from jobs.services.jobs import job_enable

    was = _get_job(options["name"]).enabled
    job = job_enable(options["name"], actor=Actor.cli(), reason=options.get("reason") or "")
    out.line(f"job {job.name!r} {'was already enabled' if was else 'enabled'}")
    return 0


def _disable(out: _Out, options: dict[str, Any]) -> int:
    from jobs.services.jobs import job_disable

    was = _get_job(options["name"]).enabled
    job = job_disable(options["name"], actor=Actor.cli(), reason=options.get("reason") or "")
    if was:
        out.line(f"job {job.name!r} disabled: {job.disabled_reason}")
    else:
        out.line(f"job {job.name!r} was already disabled: {job.disabled_reason or '-'}")
    return 0


def _cancel(out: _Out, options: dict[str, Any]) -> int:
    from jobs.services.runs import run_cancel

    try:
        run_id = str(uuid.UUID(options["run_id"]))
    except ValueError:
        raise ValidationError(
            f"bad run id {options['run_id']!r}: expected a UUID", fields={"run_id": "not a uuid"}
        ) from None
    run = run_cancel(run_id, actor=Actor.cli(), reason=options.get("reason") or "")
    if run.status == RunStatus.CANCELLED:
        out.line(f"run {run.id} cancelled")
    else:
        out.line(f"run {run.id}: cancel requested (status {run.status}; the job is asked to stop)")
    return 0


def _apply(out: _Out, options: dict[str, Any]) -> int:
    from jobs.services.jobs import jobs_apply
    from jobs.specs import load_spec_file

    specs = load_spec_file(options["file"])
    try:
        report = jobs_apply(specs, actor=Actor.cli(), dry_run=options["dry_run"])
    except ValidationError as exc:
        if len(exc.problems) == 1:
            raise
        # Every problem of the file, one line each, then a count: fix them in one go.
        for problem in exc.problems:
            out.err(problem)
        raise ValidationError(
            f"{options['file']}: {len(exc.problems)} problems, nothing saved"
        ) from None
    if options["json"]:
        out.json(report.as_dict())
    else:
        for line in report.lines():
            out.line(line)
        if report.dry_run:
            out.line("dry run: nothing saved")
    return 0


def _sync(out: _Out, options: dict[str, Any]) -> int:
    from jobs.definitions import definitions_sync

    report = definitions_sync(Actor.cli())
    if options["json"]:
        out.json(report.as_dict())
    else:
        for line in report.lines():
            out.line(line)
    return 0


# --- registration -------------------------------------------------------------------


def register(subparsers: Any, command: Any) -> None:
    out = _Out(command)

    def add(name: str, handler: Any, help_text: str, *, json_flag: bool = False) -> Any:
        parser = subparsers.add_parser(name, help=help_text, description=help_text)
        parser.set_defaults(handler=lambda options: handler(out, options))
        if json_flag:
            parser.add_argument(
                "--json", action="store_true", help="print the API's JSON instead of text"
            )
        else:
            parser.set_defaults(json=False)
        return parser

    p = add("list", _list, "List jobs with their schedule, next run and counts.", json_flag=True)
    p.add_argument("--tag", help="only jobs with this tag")

    p = add(
        "info", _info, "Show one job: definition, schedule, next runs, live state.", json_flag=True
    )
    p.add_argument("name")

    p = add(
        "run",
        _run,
        "Trigger a run now. With --wait, follow it to the end (exit 0 only if it succeeded; "
        "2 if --timeout passed first).",
        json_flag=True,
    )
    p.add_argument("name")
    p.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="parameter over the job's defaults (repeatable)",
    )
    p.add_argument("--force", action="store_true", help="run even if the job is disabled")
    p.add_argument("--reason", default="", help="why (kept with the run and in the audit trail)")
    p.add_argument(
        "--wait", action="store_true", help="wait for the run to finish, showing progress"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop waiting after this long",
    )
    p.add_argument(
        "--run-timeout",
        default=None,
        metavar="DURATION",
        help="this run's timeout (seconds or 90s, 5m, 1h), at most the job's own",
    )

    p = add("history", _history, "Recent runs of a job, newest first.", json_flag=True)
    p.add_argument("name")
    p.add_argument("--limit", type=int, default=20)

    p = add("enable", _enable, "Enable a job (its schedule applies within seconds).")
    p.add_argument("name")
    p.add_argument("--reason", default="")

    p = add("disable", _disable, "Disable a job (beat stops firing it; history kept).")
    p.add_argument("name")
    p.add_argument("--reason", default="", metavar="TEXT")

    p = add("cancel", _cancel, "Cancel a queued or running run.")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--reason", default="")

    p = add(
        "apply",
        _apply,
        "Create or update jobs from a YAML/JSON file (a list, or {jobs: [...]}); all or nothing.",
        json_flag=True,
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--dry-run", action="store_true", help="validate and report, save nothing")

    add(
        "sync",
        _sync,
        "Sync @job definitions from code to the database (the deploy rule).",
        json_flag=True,
    )
