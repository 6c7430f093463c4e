"""Python callables: `target` is `module:function` (or dotted `module.function`).

A target runs only if trusted code offered it (jobs.definitions): a `@job`
or `@runnable` function found by discovery of the installed apps' `jobs.py`,
or a top-level function of a module under JOBS_PYTHON_ALLOWED_TARGETS.
Anything else is refused by name, before any import: a saved target could
otherwise name any callable in the worker (`os:environ.copy`). The worker
checks again when it runs (a row written before this rule, or by SQL, is
refused there too).

A run's result must be JSON (dict, list, str, number, bool, None), at most
JOBS_RESULT_MAX_BYTES: anything else fails the run, never a repr() of an
arbitrary object shown to viewers. Dates, times, decimals and UUIDs (the
values `ctx.parameters` itself holds) are stored in their ISO/text form.
"""

from __future__ import annotations

import inspect
import json
import math
import uuid
from collections.abc import Callable
from datetime import date, time
from decimal import Decimal
from functools import lru_cache
from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from jobs.errors import ValidationError
from jobs.execution.context import PermanentFailure, RunContext
from jobs.params import validate_parameter_spec

_HOW_TO_ALLOW = (
    "mark the function with @job or @runnable in an app's jobs.py, "
    "or list its module in JOBS_PYTHON_ALLOWED_TARGETS"
)
# Deeper than any sane result; keeps the JSON encoder far from the recursion limit.
_MAX_RESULT_DEPTH = 100
# Values with one canonical text form (DjangoJSONEncoder's), not a repr().
_TEXT_VALUES = (date, time, Decimal, uuid.UUID)


def normalize_target(target: Any) -> str:
    """`module:function` for either spelling; ValidationError if malformed."""
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
    return f"{module}:{attr}"


def _registered(target: str) -> Callable[..., Any] | None:
    from jobs.definitions import discover

    # Discovery imports the installed apps' jobs.py (trusted code) once per process.
    return discover().function(target)


def _allowed_module(module: str) -> bool:
    for prefix in settings.JOBS_PYTHON_ALLOWED_TARGETS:
        prefix = prefix.strip().rstrip(".:")
        if prefix and (module == prefix or module.startswith(prefix + ".")):
            return True
    return False


def is_registered_target(target: Any) -> bool:
    """Whether `target` names a function registered in code (@job, @runnable):
    choosing one needs no more than editing jobs. Never imports."""
    try:
        return _registered(normalize_target(target)) is not None
    except ValidationError:
        return False


def resolve_target(target: str) -> Callable[..., Any]:
    """The function `target` names, if trusted code offered it; else a
    ValidationError naming `target`. Imports only modules under
    JOBS_PYTHON_ALLOWED_TARGETS (and the apps' jobs.py, via discovery)."""
    normalized = normalize_target(target)
    func = _registered(normalized)
    if func is not None:
        return func
    module, attr = normalized.split(":")
    if _allowed_module(module) and attr.isidentifier():
        return _import_allowed(module, attr)
    raise ValidationError(
        f"target {target!r} is not a registered job function ({_HOW_TO_ALLOW})",
        fields={"target": "not a registered job function"},
    )


@lru_cache(maxsize=512)
def _import_allowed(module_name: str, attr: str) -> Callable[..., Any]:
    target = f"{module_name}:{attr}"
    try:
        module = import_module(module_name)
    except ImportError as exc:
        raise ValidationError(
            f"target {target!r}: cannot import module {module_name!r} ({exc})",
            fields={"target": "unknown module"},
        ) from None
    obj = getattr(module, attr, None)
    if obj is None:
        raise ValidationError(
            f"target {target!r}: module {module_name!r} has no {attr!r}",
            fields={"target": "unknown function"},
        )
    func = getattr(obj, "__wrapped_job__", obj)  # @job returns a wrapper
    # A function defined in an allowed module, not one it imported (`os`,
    # `Path`, a model manager): the prefix trusts that module's own code only.
    if not inspect.isfunction(func) or not _allowed_module(func.__module__):
        raise ValidationError(
            f"target {target!r} is not a function defined in an allowed module ({_HOW_TO_ALLOW})",
            fields={"target": "not a registered job function"},
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


class ResultRefused(PermanentFailure):
    """The job returned something that is not a storable JSON result."""


def _check_json(value: Any) -> None:
    """Only JSON's own types, iteratively (a deep value cannot blow the stack)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > _MAX_RESULT_DEPTH:
            raise ResultRefused(f"result is nested deeper than {_MAX_RESULT_DEPTH} levels")
        if item is None or isinstance(item, (str, bool, int, *_TEXT_VALUES)):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise ResultRefused("result contains a number that is not finite (NaN/Infinity)")
        elif isinstance(item, dict):
            if not all(isinstance(k, str) for k in item):
                raise ResultRefused("result has a dict key that is not a string")
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)
        else:
            raise ResultRefused(
                "a python job must return JSON (dict, list, str, number, bool or None); "
                f"got a {type(item).__name__}"
            )


def json_result(value: Any) -> Any:
    """`value` as stored (JSON) if it is a storable result; ResultRefused
    (the run fails) if not."""
    _check_json(value)
    try:
        text = json.dumps(value, ensure_ascii=False, cls=DjangoJSONEncoder)
        size = len(text.encode())
    except UnicodeEncodeError:
        raise ResultRefused("result contains text that is not valid Unicode") from None
    limit = settings.JOBS_RESULT_MAX_BYTES
    if size > limit:
        raise ResultRefused(
            f"result is {size} bytes of JSON, more than JOBS_RESULT_MAX_BYTES ({limit})"
        )
    return json.loads(text)


class PythonKind:
    name = "python"

    def validate(self, spec: dict[str, Any]) -> None:
        resolve_target(spec.get("target") or "")
        # Python jobs get resolved parameters too (ctx.parameters), so the
        # same save-time checks as every other kind.
        validate_parameter_spec(spec)

    def execute(self, ctx: RunContext) -> Any:
        try:
            func = resolve_target(ctx.job.target)
        except ValidationError as exc:
            # Saved before the rule, or written around the services: never run it.
            raise PermanentFailure(exc.message) from None
        # Jobs take the context as their one positional argument; a function
        # that takes none (a plain callable) is still allowed.
        result = func(ctx) if _wants_context(func) else func()
        return json_result(result)


handler = PythonKind()
