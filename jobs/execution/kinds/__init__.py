"""Job kinds: what a run executes. One module per kind.

A kind handler validates a job's kind-specific spec at save time and executes
one attempt at run time. To add a kind, write a module with a handler and list
it in KIND_MODULES.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Protocol

from jobs.errors import ValidationError
from jobs.execution.context import RunContext

KIND_MODULES = {
    "python": "jobs.execution.kinds.python",
    "process": "jobs.execution.kinds.process",
    "http": "jobs.execution.kinds.http",
    "sql": "jobs.execution.kinds.sql",
}


class KindHandler(Protocol):
    name: str

    def validate(self, spec: dict[str, Any]) -> None:
        """Raise jobs.errors.ValidationError naming the field that is wrong.

        `spec` is the whole job spec (target, config, parameters, ...), with
        secrets in clear: validation happens before encryption."""

    def execute(self, ctx: RunContext) -> Any:
        """Run one attempt. Return a JSON-able result, or raise to fail."""


def get_kind(name: str) -> KindHandler:
    module_path = KIND_MODULES.get(name)
    if module_path is None:
        raise ValidationError(
            f"unknown job kind {name!r} (use one of {', '.join(KIND_MODULES)})",
            fields={"kind": "unknown kind"},
        )
    try:
        module = import_module(module_path)
    except ModuleNotFoundError as exc:
        if exc.name == module_path:
            raise ValidationError(
                f"job kind {name!r} is not available yet", fields={"kind": "unavailable"}
            ) from None
        raise
    return module.handler
