"""One validated shape for a job spec.

Every door that defines a job -- `jobs apply` files, the @job decorator, the
REST API, the admin -- turns its input into a `JobSpec` here, so the same
input gives the same job and the same error everywhere.

The keys are those of the job JSON (jobs.api.serializers.JobSerializer):
SPEC_FIELDS are writable; READ_ONLY_FIELDS (live state, derived values) may
appear in a file made from `jobs info --json` and are ignored by `jobs apply`
(`read_only="ignore"`), refused elsewhere. Any other key is an error naming it.

Canonical values (what `JobSpec.values` and `job_spec_values(job)` hold, and
what Job.code_spec stores) are JSON-able: durations are float seconds, `cron`
is a string or None, `run_at` an ISO 8601 string in UTC or None, `owner` a
username or None, `config` in clear (sealed when assigned to a row).

Schedule type is derived: `cron` set → recurring; `run_at` set → one-off;
neither (`cron: null` or omitted) → manual only.

Errors are jobs.errors.ValidationError with a one-line message naming the job
and the field (`job 'nightly-report': cron: invalid cron expression ...`) and
`.fields = {field: message}` for every field that is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.dateparse import parse_datetime

from jobs.errors import JobwardenError, ValidationError
from jobs.models import Job, JobKind, ScheduleType
from jobs.schedule import ScheduleError, get_zone
from jobs.secrets import open_config, seal_config
from jobs.specs.fields import (
    CLEANERS,
    DURATION_FIELDS,
    READ_ONLY_FIELDS,
    SPEC_FIELDS,
    default_values,
    output_only_keys,
)
from jobs.specs.files import load_spec_file, parse_spec_document

__all__ = [
    "CLEANERS",
    "READ_ONLY_FIELDS",
    "SPEC_FIELDS",
    "JobSpec",
    "default_values",
    "job_spec_values",
    "load_spec_file",
    "parse_spec_document",
    "raise_for",
    "validate_spec",
    "kind_problems",
    "raise_problems",
    "validate_batch",
    "validate_specs",
]


def job_spec_values(job: Job, *, secrets: str = "clear") -> dict[str, Any]:
    """The canonical spec of a saved job. `secrets="clear"` opens the config
    (for comparison and re-validation only); `"masked"` is for display/audit."""
    from jobs.secrets import masked_config, masked_parameters

    values = {field: getattr(job, field) for field in SPEC_FIELDS if field not in ("owner",)}
    values["config"] = open_config(job) if secrets == "clear" else masked_config(job)
    if secrets != "clear":
        values["parameters"] = masked_parameters(job.parameters)
    values["cron"] = job.cron or None
    values["run_at"] = _iso(job.run_at)
    values["owner"] = job.owner.get_username() if job.owner_id else None
    for field in DURATION_FIELDS:
        values[field] = float(values[field])
    for field in ("expected_max_duration", "min_duration", "notify_on_duration_exceeds"):
        values[field] = None if values[field] is None else float(values[field])
    if job.schedule_type != ScheduleType.RECURRING:
        values["cron"] = None
    return values


def _unmask(new: Any, current: Any) -> Any:
    from jobs.secrets import MASK

    if new == MASK:
        return current
    if isinstance(new, dict) and isinstance(current, dict):
        return {k: _unmask(v, current.get(k)) for k, v in new.items()}
    return new


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


@dataclass(frozen=True)
class JobSpec:
    """A validated job definition: canonical `values` for every SPEC_FIELDS key."""

    values: dict[str, Any]
    # Keys the input named explicitly (a PATCH's changes, a file's keys).
    given: frozenset[str]

    @property
    def name(self) -> str:
        return self.values["name"]

    @property
    def schedule_type(self) -> str:
        if self.values["cron"]:
            return ScheduleType.RECURRING
        if self.values["run_at"]:
            return ScheduleType.ONCE
        return ScheduleType.MANUAL

    def changed_fields(self, job: Job) -> list[str]:
        """The spec keys whose value differs from the saved `job`."""
        current = job_spec_values(job)
        values = dict(self.values)
        # A masked secret sent back unchanged (read-modify-write) is no change.
        values["config"] = _unmask(values["config"], current["config"])
        return [f for f in SPEC_FIELDS if current.get(f) != values.get(f)]

    def config_over(self, current: dict[str, Any]) -> dict[str, Any]:
        """This spec's config in clear, masked secrets taken from `current`."""
        return _unmask(self.values["config"], current)

    def check_kind(self) -> None:
        """Kind-specific validation (the target imports, the config is
        complete); validate_spec does it unless told not to."""
        _validate_kind(f"job {self.name!r}", self.values)

    def assign(self, job: Job) -> None:
        """Set the row's definition fields (no save). Seals secrets in config."""
        values = self.values
        for field in SPEC_FIELDS:
            if field in ("config", "cron", "run_at", "owner", "name"):
                continue
            setattr(job, field, values[field])
        job.name = values["name"]
        job.cron = values["cron"] or ""
        job.run_at = parse_datetime(values["run_at"]) if values["run_at"] else None
        job.schedule_type = self.schedule_type
        public, sealed = seal_config(values["kind"], values["config"], job.secrets or "")
        job.config, job.secrets = public, sealed
        if values["owner"]:
            job.owner = get_user_model().objects.get(username=values["owner"])
        else:
            job.owner = None


def _label(data: Mapping[str, Any], existing: Job | None, index: int | None) -> str:
    name = data.get("name") if isinstance(data, Mapping) else None
    if isinstance(name, str) and name.strip():
        return f"job {name.strip()!r}"
    if existing is not None:
        return f"job {existing.name!r}"
    return f"job #{index + 1}" if index is not None else "job"


def _field_message(field: str, message: str) -> str:
    # Kind handlers already say "target 'x': ..."; don't say the field twice.
    return message if message.split(" ", 1)[0].rstrip(":") == field else f"{field}: {message}"


def raise_for(label: str, errors: dict[str, str]) -> None:
    if not errors:
        return
    problems = [f"{label}: {_field_message(field, message)}" for field, message in errors.items()]
    line = problems[0]
    if len(errors) > 1:
        others = ", ".join(list(errors)[1:])
        line += f" (and {len(errors) - 1} more: {others})"
    raise ValidationError(line, fields=dict(errors), problems=problems)


def validate_spec(
    data: Mapping[str, Any],
    *,
    existing: Job | None = None,
    partial: bool = False,
    read_only: str = "error",
    index: int | None = None,
    validate_kind: bool = True,
) -> JobSpec:
    """Validate one job spec and return its canonical form.

    Full (`partial=False`, create or `jobs apply`): omitted keys take their
    defaults -- except `enabled`, which keeps an existing job's state (a
    re-applied file does not re-enable what an operator disabled; write
    `enabled: true` to do that). Partial (PATCH): `data` holds the changed
    keys only and is merged over `existing`; setting `cron` clears `run_at`
    and vice versa. The name of an existing job cannot change.

    `read_only`: "error" refuses live-state keys of the job JSON, "ignore"
    drops them (files written from `jobs info --json`).
    Raises ValidationError naming the job and field(s).
    """
    label = _label(data, existing, index)
    if not isinstance(data, Mapping):
        raise ValidationError(
            f"{label}: expected a mapping of job fields, got {type(data).__name__}",
            fields={"": "not a mapping"},
        )
    errors: dict[str, str] = {}
    given: dict[str, Any] = {}
    for key, raw in data.items():
        if key in CLEANERS:
            given[key] = raw
        elif key in READ_ONLY_FIELDS or key in output_only_keys():
            if read_only != "ignore":
                errors[key] = "is read-only"
        else:
            errors[str(key)] = "unknown field"

    if partial:
        if existing is None:
            raise ValueError("partial validation needs the existing job")
        values = job_spec_values(existing)
        if "cron" in given and given["cron"] and "run_at" not in given:
            values["run_at"] = None
        if "run_at" in given and given["run_at"] and "cron" not in given:
            values["cron"] = None
    else:
        values = default_values()
        if existing is not None:
            values["enabled"] = existing.enabled
    if existing is not None:
        values["name"] = existing.name

    for key, raw in given.items():
        try:
            values[key] = CLEANERS[key](raw)
        except (ValueError, ScheduleError) as exc:
            errors[key] = str(exc)
        except JobwardenError as exc:
            errors[key] = exc.message

    if existing is not None:
        _restore_masked(values, given, errors, existing)
    if not values.get("name") and "name" not in errors:
        errors["name"] = "is required"
    if (
        existing is not None
        and "name" in given
        and "name" not in errors
        and values["name"] != existing.name
    ):
        errors["name"] = f"cannot be changed (is {existing.name!r}); create a new job instead"
        values["name"] = existing.name
    _check_cross_fields(values, errors)
    raise_for(label, errors)

    if validate_kind:
        _validate_kind(label, values)
    return JobSpec(values=values, given=frozenset(given))


def _restore_masked(
    values: dict[str, Any], given: Mapping[str, Any], errors: dict[str, str], existing: Job
) -> None:
    """A client that read the masked job (API, CLI --json, admin, a file from
    `jobs info --json`) sends the masks back: they mean "keep the stored value"."""
    from jobs.secrets import restore_masked

    current = None
    for key in ("parameters", "config"):
        if key in given and key not in errors:
            current = current or job_spec_values(existing)
            values[key] = restore_masked(values[key], current[key])


def _check_cross_fields(values: dict[str, Any], errors: dict[str, str]) -> None:
    run_at = values.get("run_at")
    if isinstance(run_at, datetime):
        if run_at.tzinfo is None:
            # A naive time means the job's own wall clock.
            try:
                run_at = run_at.replace(tzinfo=get_zone(values["timezone"]))
            except ScheduleError:
                run_at = run_at.replace(tzinfo=UTC)
        values["run_at"] = _iso(run_at)
    if (
        values.get("cron")
        and values.get("run_at")
        and "cron" not in errors
        and "run_at" not in errors
    ):
        errors["run_at"] = "set either cron (recurring) or run_at (one-off), not both"
    if values["kind"] == JobKind.PYTHON and not values["target"] and "target" not in errors:
        errors["target"] = "is required for python jobs (module:function)"
    md, mx = values.get("min_duration"), values.get("expected_max_duration")
    if md is not None and mx is not None and md > mx and "min_duration" not in errors:
        errors["min_duration"] = f"({md:g}s) must not exceed expected_max_duration ({mx:g}s)"


def _validate_kind(label: str, values: dict[str, Any]) -> None:
    from jobs.execution.kinds import get_kind

    try:
        get_kind(values["kind"]).validate(dict(values))
    except ValidationError as exc:
        field = next(iter(exc.fields or {"config": None}))
        # {field: the whole message}: the kind's short codes ("unknown module")
        # say less than its message does.
        fields = {field: exc.message, **{k: v for k, v in (exc.fields or {}).items() if k != field}}
        raise ValidationError(
            f"{label}: {_field_message(field, exc.message)}", fields=fields
        ) from None


def validate_specs(
    items: Iterable[Any],
    *,
    existing: Mapping[str, Job],
    read_only: str = "ignore",
    validate_kind: bool = True,
) -> list[JobSpec]:
    """Validate a batch (a `jobs apply` file): every spec, duplicate names refused.

    `existing` maps names to saved jobs (so `enabled` is kept when omitted).
    Raises one ValidationError for the whole batch (`.problems`: every line).
    """
    specs, problems = validate_batch(
        items, existing=existing, read_only=read_only, validate_kind=validate_kind
    )
    raise_problems(problems)
    return specs


def validate_batch(
    items: Iterable[Any],
    *,
    existing: Mapping[str, Job],
    read_only: str = "ignore",
    validate_kind: bool = True,
) -> tuple[list[JobSpec], list[str]]:
    """The specs that are valid, and one line per problem of those that are
    not: every spec is checked even after one fails, so a file's author sees
    all that is wrong at once."""
    specs: list[JobSpec] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, data in enumerate(items):
        name = data.get("name") if isinstance(data, Mapping) else None
        job = existing.get(name) if isinstance(name, str) else None
        try:
            spec = validate_spec(
                data, existing=job, read_only=read_only, index=index, validate_kind=validate_kind
            )
        except ValidationError as exc:
            problems += exc.problems
            continue
        if spec.name in seen:
            problems.append(
                f"job {spec.name!r}: name: defined twice (specs #{seen[spec.name] + 1} and #{index + 1})"
            )
            continue
        seen[spec.name] = index
        specs.append(spec)
    return specs, problems


def kind_problems(specs: Iterable[JobSpec]) -> list[str]:
    """`JobSpec.check_kind` for a batch: one line per spec that fails."""
    problems: list[str] = []
    for spec in specs:
        try:
            spec.check_kind()
        except ValidationError as exc:
            problems += exc.problems
    return problems


def raise_problems(problems: list[str]) -> None:
    """One ValidationError for a batch: the message is the first problem and
    a count; `.problems` holds every line."""
    if not problems:
        return
    message = problems[0]
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problems)"
    raise ValidationError(message, problems=problems)
