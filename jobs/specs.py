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

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils.dateparse import parse_datetime

from config.env import parse_duration
from jobs.errors import JobwardenError, ValidationError
from jobs.models import Job, JobKind, OverlapPolicy, ScheduleType
from jobs.schedule import ScheduleError, get_zone, normalize_cron
from jobs.secrets import open_config, seal_config

SPEC_FIELDS: tuple[str, ...] = (
    "name",
    "display_name",
    "description",
    "kind",
    "target",
    "config",
    "parameters",
    "parameter_queries",
    "enabled",
    "cron",
    "timezone",
    "run_at",
    "queue",
    "priority",
    "timeout",
    "max_retries",
    "retry_delay",
    "retry_backoff",
    "retry_jitter",
    "retry_max_delay",
    "overlap",
    "auto_disable_after",
    "expected_max_duration",
    "min_duration",
    "grace_time",
    "notify_on_failure",
    "notify_on_success",
    "notify_on_duration_exceeds",
    "notification_emails",
    "notification_channels",
    "tags",
    "owner",
)

# Keys of the job JSON that describe state, not definition.
READ_ONLY_FIELDS: frozenset[str] = frozenset(
    {
        "source",
        "schedule_type",
        "human_schedule",
        "next_run_at",
        "disabled_reason",
        "disabled_at",
        "disabled_by",
        "status",
        "execution_count",
        "success_count",
        "failure_count",
        "success_rate",
        "consecutive_failures",
        "last_run_at",
        "last_success_at",
        "last_failure_at",
        "last_duration_ms",
        "avg_duration_ms",
        "last_error",
        "created_at",
        "updated_at",
    }
)


def _output_only_keys() -> frozenset[str]:
    """Keys the job JSON prints that are not definition (health, is_running,
    ...): read-only like READ_ONLY_FIELDS, whoever added them to the JSON."""
    from jobs.api.serializers import JobSerializer

    return frozenset(JobSerializer.Meta.fields) - frozenset(SPEC_FIELDS)


_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9_]*$")
_QUEUE = re.compile(r"^[-a-zA-Z0-9_.:]+$")


# --- field cleaners: each takes the raw value and returns the canonical one,
# or raises ValueError with a message that does not repeat the field name.


def _str(max_length: int | None = None, *, allow_none: bool = True) -> Callable[[Any], str]:
    def clean(value: Any) -> str:
        if value is None and allow_none:
            return ""
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {type(value).__name__}")
        value = value.strip()
        if max_length and len(value) > max_length:
            raise ValueError(f"at most {max_length} characters")
        return value

    return clean


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {value!r}")


def _int(minimum: int, maximum: int | None = None) -> Callable[[Any], int]:
    def clean(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            elif isinstance(value, str) and value.strip().isdigit():
                value = int(value.strip())
            else:
                raise ValueError(f"expected a whole number, got {value!r}")
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise ValueError(f"must be {bound}, got {value}")
        return value

    return clean


def _number(minimum: float, maximum: float | None = None) -> Callable[[Any], float]:
    def clean(value: Any) -> float:
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                value = float(value.strip()[:-1]) / 100
            except ValueError:
                raise ValueError(f"expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        value = float(value)
        if math.isnan(value) or value < minimum or (maximum is not None and value > maximum):
            bound = (
                f"between {minimum:g} and {maximum:g}" if maximum is not None else f">= {minimum:g}"
            )
            raise ValueError(f"must be {bound}, got {value:g}")
        return value

    return clean


def _duration(
    minimum: float = 0, *, nullable: bool = False, maximum: Callable[[], float] | None = None
):
    def clean(value: Any) -> float | None:
        if value is None or value == "":
            if nullable:
                return None
            raise ValueError("is required (seconds or a duration such as 90s, 20m, 1h)")
        seconds = parse_duration(value)
        if math.isnan(seconds) or math.isinf(seconds):
            raise ValueError(f"{value!r} is not a duration")
        if seconds < minimum:
            raise ValueError(f"must be at least {minimum:g}s, got {seconds:g}s")
        if maximum is not None and seconds > maximum():
            raise ValueError(f"must be at most {maximum():g}s (JOBS_MAX_TIMEOUT), got {seconds:g}s")
        return seconds

    return clean


def _choice(choices: Iterable[str]) -> Callable[[Any], str]:
    allowed = tuple(choices)

    def clean(value: Any) -> str:
        if not isinstance(value, str) or value.strip().lower() not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return value.strip().lower()

    return clean


def _dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping, got {type(value).__name__}")
    if not all(isinstance(k, str) for k in value):
        raise ValueError("keys must be strings")
    return dict(value)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list, got {type(value).__name__}")
    return list(value)


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):  # "a, b" is friendlier than ["a", "b"] on a command line
        value = [p for p in (s.strip() for s in value.split(",")) if p]
    items = _list(value)
    if not all(isinstance(i, str) and i.strip() for i in items):
        raise ValueError("expected a list of non-empty strings")
    return [i.strip() for i in items]


def _emails(value: Any) -> list[str]:
    emails = _str_list(value)
    for email in emails:
        try:
            validate_email(email)
        except DjangoValidationError:
            raise ValueError(f"{email!r} is not an email address") from None
    return emails


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("is required")
    value = value.strip()
    if len(value) > 200 or not _NAME.match(value):
        raise ValueError(
            f"{value!r} must be a slug (letters, digits, '-' and '_', at most 200 characters)"
        )
    return value


def _cron(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected a cron expression string, got {type(value).__name__}")
    normalize_cron(value)  # raises ScheduleError (a ValueError) saying why
    return " ".join(value.split())


def _timezone(value: Any) -> str:
    if value is None:
        return "UTC"
    if not isinstance(value, str):
        raise ValueError(f"expected an IANA time zone name, got {type(value).__name__}")
    get_zone(value.strip())
    return value.strip()


def _run_at_raw(value: Any) -> datetime | None:
    """Parsed here; made aware in the job's zone later (it depends on `timezone`)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed
    raise ValueError(f"{value!r} is not an ISO 8601 date-time (e.g. 2030-01-31T02:00:00+01:00)")


def _queue(value: Any) -> str:
    value = _str(100)(value)
    if value and not _QUEUE.match(value):
        raise ValueError(f"{value!r} is not a valid queue name")
    return value


def _owner(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("expected a username")
    if not get_user_model().objects.filter(username=value.strip()).exists():
        raise ValueError(f"unknown user {value!r}")
    return value.strip()


def _max_timeout() -> float:
    return float(settings.JOBS_MAX_TIMEOUT)


CLEANERS: dict[str, Callable[[Any], Any]] = {
    "name": _name,
    "display_name": _str(200),
    "description": _str(),
    "kind": _choice(JobKind.values),
    "target": _str(300),
    "config": _dict,
    "parameters": _dict,
    "parameter_queries": _list,
    "enabled": _bool,
    "cron": _cron,
    "timezone": _timezone,
    "run_at": _run_at_raw,
    "queue": _queue,
    "priority": _int(0, 9),
    "timeout": _duration(1, maximum=_max_timeout),
    "max_retries": _int(0, 100),
    "retry_delay": _duration(0),
    "retry_backoff": _number(1),
    "retry_jitter": _number(0, 1),
    "retry_max_delay": _duration(0),
    "overlap": _choice(OverlapPolicy.values),
    "auto_disable_after": _int(0),
    "expected_max_duration": _duration(0, nullable=True),
    "min_duration": _duration(0, nullable=True),
    "grace_time": _duration(0),
    "notify_on_failure": _bool,
    "notify_on_success": _bool,
    "notify_on_duration_exceeds": _duration(0, nullable=True),
    "notification_emails": _emails,
    "notification_channels": _str_list,
    "tags": _str_list,
    "owner": _owner,
}
assert set(CLEANERS) == set(SPEC_FIELDS)


def default_values() -> dict[str, Any]:
    """Canonical values of a spec that names only what it must."""
    values: dict[str, Any] = {}
    for field in SPEC_FIELDS:
        if field in ("name", "owner", "cron", "run_at"):
            values[field] = None
            continue
        values[field] = Job._meta.get_field(field).get_default()
    values["timeout"] = float(settings.JOBS_DEFAULT_TIMEOUT)
    for field in (
        "timeout",
        "retry_delay",
        "retry_backoff",
        "retry_jitter",
        "retry_max_delay",
        "grace_time",
    ):
        values[field] = float(values[field])
    return values


def job_spec_values(job: Job, *, secrets: str = "clear") -> dict[str, Any]:
    """The canonical spec of a saved job. `secrets="clear"` opens the config
    (for comparison and re-validation only); `"masked"` is for display/audit."""
    from jobs.secrets import masked_config

    values = {field: getattr(job, field) for field in SPEC_FIELDS if field not in ("owner",)}
    values["config"] = open_config(job) if secrets == "clear" else masked_config(job)
    values["cron"] = job.cron or None
    values["run_at"] = _iso(job.run_at)
    values["owner"] = job.owner.get_username() if job.owner_id else None
    for field in (
        "timeout",
        "retry_delay",
        "retry_backoff",
        "retry_jitter",
        "retry_max_delay",
        "grace_time",
    ):
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
    field, message = next(iter(errors.items()))
    line = f"{label}: {_field_message(field, message)}"
    if len(errors) > 1:
        others = ", ".join(list(errors)[1:])
        line += f" (and {len(errors) - 1} more: {others})"
    raise ValidationError(line, fields=dict(errors))


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
        elif key in READ_ONLY_FIELDS or key in _output_only_keys():
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
    """
    specs: list[JobSpec] = []
    seen: dict[str, int] = {}
    for index, data in enumerate(items):
        name = data.get("name") if isinstance(data, Mapping) else None
        job = existing.get(name) if isinstance(name, str) else None
        spec = validate_spec(
            data, existing=job, read_only=read_only, index=index, validate_kind=validate_kind
        )
        if spec.name in seen:
            raise ValidationError(
                f"job {spec.name!r}: name: defined twice (specs #{seen[spec.name] + 1} and #{index + 1})",
                fields={"name": "duplicate"},
            )
        seen[spec.name] = index
        specs.append(spec)
    return specs


def load_spec_file(path: str | Path) -> list[Any]:
    """Read a YAML or JSON file of job specs: a list, or {"jobs": [...]}.

    Raises ValidationError (one line naming the file) if it cannot be read."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(
            f"cannot read {path}: {exc.strerror or exc}", fields={"file": "unreadable"}
        ) from None
    try:
        # JSON is YAML; one parser for both keeps the rules identical.
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ValidationError(
            f"{path}: not valid YAML/JSON{at}: {problem}", fields={"file": "syntax"}
        ) from None
    return parse_spec_document(data, source=str(path))


def parse_spec_document(data: Any, *, source: str = "input") -> list[Any]:
    if isinstance(data, Mapping) and set(data) == {"jobs"}:
        data = data["jobs"]
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValidationError(
            f'{source}: expected a list of job specs or {{"jobs": [...]}}', fields={"file": "shape"}
        )
    return data
