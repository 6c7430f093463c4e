"""`manage.py jobs generate`: a new job's starting point, written into an app.

* python (the default kind): a `@job` function stub appended to `APP/jobs.py`
  (created if absent) and a test file next to it that passes as generated.
* process, http, sql: a commented `jobs apply` file listing every `config`
  key of the kind (from jobs.execution.kinds.reference), written to
  `APP/jobs/NAME.yaml` or to `output`.

Guarantees: the name, cron and time zone are checked by the spec cleaners
every other door uses; a name already taken (a code job in the registry or a
job in the database) is refused; an existing file is never overwritten
without `force` (`APP/jobs.py` is only ever appended to); on any error
nothing is written (every file is rendered and checked before the first
write).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.apps import AppConfig, apps

from jobs.errors import ValidationError
from jobs.generate import python_stub, yaml_spec
from jobs.generate.files import shown as _shown

KINDS = ("python", "process", "http", "sql")


@dataclass(frozen=True)
class Request:
    name: str
    app: str
    kind: str = "python"
    cron: str | None = None  # None: manual (run only when triggered)
    timezone: str | None = None
    output: str | None = None  # other kinds: where the YAML goes
    force: bool = False


@dataclass
class Generated:
    """What was written, in order: (path, "created" | "added to" | "overwrote")."""

    files: list[tuple[Path, str]]
    next_steps: list[str]


def job_generate(request: Request) -> Generated:
    """Write the new job's files (see the module docstring). Raises
    ValidationError (one line); bad input is refused before any write."""
    if request.kind not in KINDS:
        raise ValidationError(
            f"--kind: {request.kind!r} is not one of {', '.join(KINDS)}", fields={"kind": "invalid"}
        )
    if request.output and request.kind == "python":
        raise ValidationError(
            "--output: only for spec files (--kind process, http or sql)",
            fields={"output": "python"},
        )
    app = _app(request.app)
    name, cron, zone = _clean(request, app)
    _refuse_taken(name)
    if request.kind == "python":
        writes = python_stub.render(app, name, cron, zone)
        steps = [
            f"fill in {python_stub.function_name(name)}() in {_shown(writes[0].path)}",
            f"run its test: pytest {_shown(writes[1].path)}",
            "then `manage.py jobs sync` writes it to the database",
        ]
    else:
        path = Path(request.output) if request.output else Path(app.path) / "jobs" / f"{name}.yaml"
        writes = [yaml_spec.render(path, request.kind, name, cron, zone)]
        steps = [
            f"replace every <required: ...> value in {_shown(path)}",
            f"check it: manage.py jobs apply {_shown(path)} --dry-run",
            f"then: manage.py jobs apply {_shown(path)}",
        ]
    for write in writes:
        write.check(request.force)
    return Generated([(w.path, w.commit()) for w in writes], steps)


def _clean(request: Request, app: AppConfig) -> tuple[str, str | None, str | None]:
    """The name, cron and zone through the spec validator every door uses
    (the kind's config is not checked: it is what the user fills in)."""
    from jobs.specs import validate_spec

    spec: dict[str, object] = {"name": request.name, "kind": request.kind, "cron": request.cron}
    if request.kind == "python":  # as the decorator will say it
        name = request.name if isinstance(request.name, str) else ""
        spec["target"] = f"{app.name}.jobs:{python_stub.function_name(name)}"
    if request.timezone is not None:
        spec["timezone"] = request.timezone
    values = validate_spec(spec, validate_kind=False).values
    return values["name"], values["cron"], request.timezone and values["timezone"]


def _refuse_taken(name: str) -> None:
    from jobs.definitions import discover
    from jobs.models import Job

    definition = discover().get(name)
    if definition is not None:
        raise ValidationError(
            f"job {name!r} already exists in code ({definition.spec['target']}); choose another name",
            fields={"name": "exists"},
        )
    if Job.objects.filter(name=name).exists():
        raise ValidationError(
            f"job {name!r} already exists in the database (see `manage.py jobs info {name}`); "
            "choose another name",
            fields={"name": "exists"},
        )


def _app(label: str) -> AppConfig:
    """An installed app by label (`shop`) or module (`myproject.shop`)."""
    for config in apps.get_app_configs():
        if label in (config.label, config.name):
            return config
    raise ValidationError(
        f"--app: {label!r} is not an installed app (give its label or module, as in INSTALLED_APPS)",
        fields={"app": "unknown"},
    )
