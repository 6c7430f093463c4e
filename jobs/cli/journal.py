"""`jobs journal [flush | retry-dead] [--json]`: the run journal (see
jobs.runlog) as an operator sees it."""

from __future__ import annotations

from typing import Any

from jobs.cli import print_json


def register(subparsers: Any, command: Any) -> None:
    p = subparsers.add_parser(
        "journal",
        help="Run journal: events waiting for the database, events it refused (flush, retry-dead)",
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=["status", "flush", "retry-dead"],
        default="status",
        help="status (default); flush: write what waits now; retry-dead: retry refused events",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=journal)


def journal(options: Any) -> int:
    from jobs import runlog

    action = options["action"]
    if action == "flush":
        data: dict[str, Any] = {"applied": runlog.flush(), **runlog.status()}
        text = f"applied {data['applied']} event(s); {data['pending']} waiting, {data['dead']} set aside"
    elif action == "retry-dead":
        data = runlog.dead_requeue()
        text = f"retried {data['retried']} set-aside event(s); {data['refused']} refused again"
    else:
        data = runlog.status()
        text = (
            f"{data['pending']} event(s) waiting for the database"
            f"{' (a flush is in progress)' if data['flushing'] else ''}; "
            f"{data['dead']} refused and set aside in {runlog.DEAD_KEY}"
        )
    if options["json"]:
        print_json(data)
    else:
        print(text)
    # Refused events need a person: a non-zero exit lets a check script see them.
    return 1 if data.get("dead") or data.get("refused") else 0
