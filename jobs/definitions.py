"""Jobs defined in code: the @job decorator, discovery and the sync to the database.

    # myapp/jobs.py
    from jobs.definitions import job

    @job(cron="0 2 * * *", timezone="Europe/Prague", timeout="30m", max_retries=3)
    def nightly_report(ctx):
        \"\"\"Build and mail the nightly report.\"\"\"
        ctx.progress(50, "half way")
        return {"rows": 10}

The job is named after the function (`_` → `-`: `nightly-report`) and
described by the docstring's first line unless `name=` / `description=` say
otherwise; every other keyword is a job spec key (jobs.specs.SPEC_FIELDS) and
is validated when the module is imported, so a bad cron fails loudly at
start-up. The function stays callable directly; the wrapper adds
`.delay(**params)` and `.trigger(parameters=None, reason="", force=False)`,
which queue a tracked run (trigger "code"), and `__wrapped_job__`, the
original function (what the python kind executes).

Database-defined python jobs (`jobs apply`, the API, the admin) may only
point `target` at a function registered here: a `@job`, or a function
marked `@runnable` (a job body offered to database jobs without a schedule
of its own). Both are written in trusted code, in an app's `jobs.py`; the
registry is what the python kind checks before it imports anything (see
jobs.execution.kinds.python), so a saved `target` can never name an
arbitrary callable such as `os:environ.copy`.

Discovery imports `<app>.jobs` of every installed app. `definitions_sync()`
(run at beat start and by `manage.py jobs sync`) upserts the discovered jobs
as source=code rows.

THE DEPLOY RULE -- a deploy never silently undoes an operator's change:

* Job.code_spec keeps the code definition as it was at the last sync.
* On sync, each field takes the code value only if the code value differs
  from the one synced last time (the developer changed it in code);
  otherwise the database value stays (an operator's edit, enable or disable,
  survives every deploy until the operator or a changed code definition
  says otherwise).
* A code job that disappeared from code is disabled with the reason
  "removed from code" (its history is kept); if it comes back it is enabled
  again -- unless an operator disabled it for another reason.
* A database-defined job with the same name is never taken over: the code
  job is reported as a conflict and left out.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.module_loading import autodiscover_modules

from jobs.actors import Actor
from jobs.errors import ValidationError
from jobs.specs import SPEC_FIELDS, validate_spec


@dataclass
class JobDefinition:
    name: str
    func: Callable[..., Any]
    spec: dict[str, Any]  # raw keywords of the decorator, plus name/target/description


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # disabled: no longer in code
    conflicts: list[str] = field(default_factory=list)  # a database job has the name

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "conflicts": self.conflicts,
        }

    def lines(self) -> list[str]:
        out = [f"created   {n}" for n in self.created]
        out += [f"changed   {n}: {', '.join(f)}" for n, f in self.changed.items()]
        out += [f"unchanged {n}" for n in self.unchanged]
        out += [f"disabled  {n} (removed from code)" for n in self.removed]
        out += [
            f"conflict  {n}: a database-defined job has this name; not synced"
            for n in self.conflicts
        ]
        out.append(
            f"{len(self.created)} created, {len(self.changed)} changed, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed, {len(self.conflicts)} conflicts"
        )
        return out


def target_of(func: Callable[..., Any]) -> str:
    """The `module:function` a python job's `target` names `func` by."""
    return f"{func.__module__}:{func.__qualname__}"


class Registry:
    """Code-defined jobs by name, and every function a python job may run by
    target. One per process (`registry`); tests make their own."""

    def __init__(self) -> None:
        self._definitions: dict[str, JobDefinition] = {}
        self._runnable: dict[str, Callable[..., Any]] = {}
        self._lock = threading.Lock()

    def function(self, target: str) -> Callable[..., Any] | None:
        """The registered function a (`module:function`) target names, or None."""
        return self._runnable.get(target)

    def runnable(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Mark `func` as a body database-defined python jobs may run (the
        function is returned unchanged). Use it in an app's `jobs.py` for job
        functions that have no `@job` definition of their own."""
        with self._lock:
            self._runnable[target_of(func)] = func
        return func

    def __contains__(self, name: str) -> bool:
        return name in self._definitions

    def __iter__(self):
        return iter(list(self._definitions.values()))

    def get(self, name: str) -> JobDefinition | None:
        return self._definitions.get(name)

    def unregister(self, name: str) -> None:
        with self._lock:
            definition = self._definitions.pop(name, None)
            if definition is not None:
                self._runnable.pop(definition.spec["target"], None)

    def add(self, definition: JobDefinition) -> None:
        with self._lock:
            current = self._definitions.get(definition.name)
            if current is not None and current.spec.get("target") != definition.spec.get("target"):
                raise ValidationError(
                    f"job {definition.name!r}: name: already defined by {current.spec.get('target')}",
                    fields={"name": "duplicate"},
                )
            self._definitions[definition.name] = definition
            self._runnable[definition.spec["target"]] = definition.func

    def job(self, func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
        """The decorator; see the module docstring. Usable bare (`@job`) or with keywords."""
        if func is not None:
            return self._wrap(func, options)
        return lambda f: self._wrap(f, options)

    def _wrap(self, func: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
        unknown = sorted(set(options) - set(SPEC_FIELDS))
        if "target" in options or "kind" in options:
            unknown = sorted(set(unknown) | ({"target", "kind"} & set(options)))
        name = options.get("name") or func.__name__.replace("_", "-")
        if unknown:
            raise ValidationError(
                f"job {name!r}: {unknown[0]}: "
                + (
                    "is set by the decorator"
                    if unknown[0] in ("target", "kind")
                    else "unknown field"
                ),
                fields={k: "unknown field" for k in unknown},
            )
        spec = dict(options)
        spec["name"] = name
        spec["kind"] = "python"
        spec["target"] = target_of(func)
        if "description" not in spec:
            doc = inspect.getdoc(func) or ""
            spec["description"] = doc.strip().splitlines()[0] if doc.strip() else ""
        # Validate now (not the kind: the module defining the target is still
        # importing), so a bad cron or zone fails at import, naming the job.
        validate_spec(spec, validate_kind=False)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        def trigger(
            parameters: dict[str, Any] | None = None, reason: str = "", force: bool = False
        ):
            """Queue a tracked run of this job (recorded like any other run)."""
            from jobs.services.runs import run_trigger

            return run_trigger(
                name,
                actor=Actor(name="code", source="code"),
                trigger="code",
                parameters=parameters,
                reason=reason,
                force=force,
            )

        def delay(**params: Any):
            return trigger(parameters=params)

        wrapper.trigger = trigger  # type: ignore[attr-defined]
        wrapper.delay = delay  # type: ignore[attr-defined]
        wrapper.job_name = name  # type: ignore[attr-defined]
        wrapper.__wrapped_job__ = func  # type: ignore[attr-defined]
        self.add(JobDefinition(name=name, func=func, spec=spec))
        return wrapper


registry = Registry()
job = registry.job
runnable = registry.runnable

_discovered = False


def discover() -> Registry:
    """Import `<app>.jobs` of every installed app (once per process)."""
    global _discovered
    if not _discovered:
        autodiscover_modules("jobs")
        _discovered = True
    return registry


def definitions_sync(actor: Actor | None = None, *, using: Registry | None = None) -> SyncReport:
    """Upsert every code-defined job under the deploy rule (module docstring)
    and disable those removed from code.

    All-or-nothing: one transaction, so a bad definition saves nothing.
    Idempotent: a second sync with the same code changes nothing.
    """
    from django.db import transaction

    from jobs.services.jobs import job_sync_code, jobs_retire_code

    actor = actor or Actor.system()
    reg = using if using is not None else discover()
    report = SyncReport()
    with transaction.atomic():
        for definition in reg:
            outcome, changed = job_sync_code(definition.spec, actor=actor)
            if outcome == "created":
                report.created.append(definition.name)
            elif outcome == "changed":
                report.changed[definition.name] = changed
            elif outcome == "conflict":
                report.conflicts.append(definition.name)
            else:
                report.unchanged.append(definition.name)
        report.removed = jobs_retire_code([d.name for d in reg], actor=actor)
    return report
