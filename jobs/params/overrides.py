"""Which parameters a person may override when they trigger a run.

A trigger-time override replaces a value the job's definition chose. Only
the parameters a job declares in `overridable_parameters` may be overridden
by people (API, admin); when it is not set (null), the job's plain
`parameters` are. Some never are, whatever the declaration says (a save
that lists one is refused):

* secret parameters (`config.secret_parameters`, or a name that looks
  secret): an override would replace a credential the operator cannot read;
* parameters resolved by a parameter query (the query's answer is the point);
* placeholders in an HTTP job's URL scheme/host/port: repointing `{host}`
  would send the job's credentials to a host of the caller's choosing;
* placeholders in a process job's executable or working directory;
* the run's identity macros (`run_id`, `job_name`, `attempt`).

Code (`my_job.delay(...)`) and the machine's operator (CLI, system) are not
bound by this: they could change the definition itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jobs.errors import ValidationError
from jobs.params.mask import is_secret_name
from jobs.params.render import placeholders, url_authority_end

_IDENTITY_MACROS = ("run_id", "job_name", "attempt")


def protected_parameters(
    kind: str, config: Mapping[str, Any], parameter_queries: Iterable[Any]
) -> dict[str, str]:
    """{name: why it may never be overridden at trigger} for one definition.
    `config` in clear (or public: only names and non-secret strings are read)."""
    why: dict[str, str] = dict.fromkeys(_IDENTITY_MACROS, "identifies the run")
    secret = config.get("secret_parameters")
    if isinstance(secret, Mapping):
        why.update(dict.fromkeys(map(str, secret), "is a secret parameter"))
    for entry in parameter_queries or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            why[entry["name"]] = "is resolved by a parameter query"
    url = config.get("url")
    if kind == "http" and isinstance(url, str):
        for name in placeholders(url[: url_authority_end(url)]):
            why[name] = "is in the URL's host or port"
    if kind == "process":
        for key in ("executable", "cwd"):
            if isinstance(config.get(key), str):
                for name in placeholders(config[key]):
                    why[name] = f"is in config.{key}"
    return why


def _reason(name: str, protected: Mapping[str, str]) -> str | None:
    if name in protected:
        return protected[name]
    return "is secret (by its name)" if is_secret_name(name) else None


def overridable(
    declared: list[str] | None, parameters: Mapping[str, Any], protected: Mapping[str, str]
) -> list[str]:
    """The names people may override: the declaration, or by default the
    job's plain parameters; never a protected one."""
    names = list(parameters) if declared is None else list(declared)
    return [n for n in names if _reason(n, protected) is None]


def validate_overridable(spec: Mapping[str, Any]) -> None:
    """Save-time: a declared `overridable_parameters` names no protected parameter."""
    declared = spec.get("overridable_parameters")
    if declared is None:
        return
    protected = protected_parameters(
        spec.get("kind") or "", spec.get("config") or {}, spec.get("parameter_queries") or []
    )
    for name in declared:
        reason = _reason(name, protected)
        if reason is not None:
            raise ValidationError(
                f"overridable_parameters: {name!r} {reason}; it may not be overridden at trigger",
                fields={"overridable_parameters": f"{name!r} {reason}"},
            )


def _job_protected(job: Any) -> dict[str, str]:
    from jobs.secrets import open_config

    # In clear if the job has sealed secrets: a sealed value may hold a placeholder.
    config = open_config(job) if job.secrets else (job.config or {})
    return protected_parameters(job.kind, config, job.parameter_queries or [])


def check_overrides(job: Any, overrides: Mapping[str, Any]) -> None:
    """Trigger-time: refuse (400) an override of a parameter `job` does not
    declare overridable, naming it."""
    if not overrides:
        return
    protected = _job_protected(job)
    allowed = overridable(job.overridable_parameters, job.parameters or {}, protected)
    for name in overrides:
        if name not in allowed:
            reason = _reason(str(name), protected)
            why = f"it {reason}" if reason else "it is not in the job's overridable_parameters"
            shown = ", ".join(allowed) or "none"
            raise ValidationError(
                f"parameter {name!r} may not be overridden at trigger ({why}; "
                f"overridable: {shown})",
                fields={f"parameters.{name}": "not overridable"},
            )
