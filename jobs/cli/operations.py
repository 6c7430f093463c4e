"""`manage.py jobs retry | reset-health | delete`: an operator's repairs.

Thin doors onto the services the API's `POST /jobs/{name}/retry/`,
`POST /jobs/{name}/reset-health/` and `DELETE /jobs/{name}/` call; errors go to
the dispatcher (one line on stderr, exit 1).
"""

from __future__ import annotations

from typing import Any

from jobs.actors import Actor
from jobs.cli import print_json
from jobs.errors import ValidationError


def _retry(options: dict[str, Any]) -> int:
    from jobs.api.serializers import JobRunSerializer
    from monitoring.services import run_retry_last_failed

    run = run_retry_last_failed(
        options["name"],
        actor=Actor.cli(),
        trigger="cli",
        reason=options["reason"],
        force=options["force"],
    )
    if options["json"]:
        print_json(JobRunSerializer(run).data)
    else:
        print(f"queued run {run.id} of {run.job.name}: {run.reason}")
    return 0


def _reset_health(options: dict[str, Any]) -> int:
    from monitoring.services import health_reset

    health = health_reset(options["name"], actor=Actor.cli(), reason=options["reason"])
    if options["json"]:
        print_json({"job": options["name"], "level": health.level, "issues": health.issues})
    else:
        print(f"health of {options['name']!r} reset: {health.level}")
    return 0


def _delete(options: dict[str, Any]) -> int:
    from jobs.services.jobs import job_delete

    if not options["yes"]:
        # No prompt (scripts run this); the flag is the confirmation.
        raise ValidationError(
            f"deleting {options['name']!r} removes its whole run history: add --yes to confirm "
            "(or `jobs disable` to keep it)"
        )
    job_delete(options["name"], actor=Actor.cli(), reason=options["reason"])
    print(f"job {options['name']!r} deleted")
    return 0


def register(subparsers: Any, command: Any) -> None:
    p = subparsers.add_parser(
        "retry",
        help="Reset a job's health, re-enable it if auto-disabled, and re-run its last "
        "failed run's parameters (audited).",
    )
    p.set_defaults(handler=_retry)
    p.add_argument("name")
    p.add_argument("--reason", default="", help="kept with the run and in the audit trail")
    p.add_argument("--force", action="store_true", help="run even if a person disabled the job")
    p.add_argument("--json", action="store_true", help="print the API's JSON instead of text")

    p = subparsers.add_parser(
        "reset-health",
        help="Clear a job's consecutive failures and last error; health counts only later runs.",
    )
    p.set_defaults(handler=_reset_health)
    p.add_argument("name")
    p.add_argument("--reason", default="")
    p.add_argument("--json", action="store_true", help="print the API's JSON instead of text")

    p = subparsers.add_parser(
        "delete", help="Delete a job and its run history (needs --yes; code-defined jobs refused)."
    )
    p.set_defaults(handler=_delete)
    p.add_argument("name")
    p.add_argument("--yes", action="store_true", help="confirm: no question is asked")
    p.add_argument("--reason", default="", help="kept in the audit record")
