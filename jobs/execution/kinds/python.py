"""Python callables: `target` is `module:function` (or dotted `module.function`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import lru_cache
from importlib import import_module
from typing import Any

from jobs.errors import ValidationError
from jobs.execution.context import RunContext
from jobs.params import validate_parameter_spec


def _split_target(target: str) -> tuple[str, str]:
    if not isinstance(target, str) or not target.strip():
        raise ValidationError(
            "target is required for python jobs (module:function)", fields={"target": "required"}
        )
    target = target.strip()
    if ":" in target:
        module, _, attr = target.partition(":")
    else:
        module, _, attr = target.rpartition(".")
    if not module or not attr:
        raise ValidationError(
            f"target {target!r} must be module:function", fields={"target": "bad format"}
        )
    return module, attr


@lru_cache(maxsize=512)
def resolve_target(target: str) -> Callable[..., Any]:
    module_name, attr_path = _split_target(target)
    try:
        obj: Any = import_module(module_name)
    except ImportError as exc:
        raise ValidationError(
            f"target {target!r}: cannot import module {module_name!r} ({exc})",
            fields={"target": "unknown module"},
        ) from None
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValidationError(
                f"target {target!r}: module {module_name!r} has no {attr_path!r}",
                fields={"target": "unknown function"},
            ) from None
    func = getattr(obj, "__wrapped_job__", obj)  # @job returns a wrapper
    if not callable(func):
        raise ValidationError(
            f"target {target!r} is not callable", fields={"target": "not callable"}
        )
    return func


@lru_cache(maxsize=512)
def _wants_context(func: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return True
    return bool(params) and params[0].kind in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    )


class PythonKind:
    name = "python"

    def validate(self, spec: dict[str, Any]) -> None:
        resolve_target(spec.get("target") or "")
        # Python jobs get resolved parameters too (ctx.parameters), so the
        # same save-time checks as every other kind.
        validate_parameter_spec(spec)

    def execute(self, ctx: RunContext) -> Any:
        func = resolve_target(ctx.job.target)
        # Jobs take the context as their one positional argument; a function
        # that takes none (a plain callable) is still allowed.
        return func(ctx) if _wants_context(func) else func()


handler = PythonKind()
