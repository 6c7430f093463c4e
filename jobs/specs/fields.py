"""The fields of a job spec: which keys exist, and how each raw value is
checked and turned into its canonical form (see jobs.specs)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils.dateparse import parse_datetime

from config.env import parse_duration
from jobs.limits import check_instant, check_json, check_queue_name, check_seconds, check_text
from jobs.models import Job, JobKind, OverlapPolicy
from jobs.schedule import check_cron_fires, get_zone

# Groups of job keys, in the order the job JSON, the spec and the admin list
# them: one definition, so a new policy or notification field is added once.
POLICY_FIELDS: tuple[str, ...] = (
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
)
MONITORING_FIELDS: tuple[str, ...] = (
    "expected_max_duration",
    "min_duration",
    "grace_time",
    "notify_on_failure",
    "notify_on_success",
    "notify_on_duration_exceeds",
    "notification_emails",
    "notification_channels",
    "max_alerts_per_hour",
)
# Durations that always have a value; canonical form: float seconds.
DURATION_FIELDS: tuple[str, ...] = (
    "timeout",
    "retry_delay",
    "retry_backoff",
    "retry_jitter",
    "retry_max_delay",
    "grace_time",
)
DISABLED_FIELDS: tuple[str, ...] = ("disabled_reason", "disabled_at", "disabled_by")
# The job's live state: counters and last-run facts kept by the run path.
RUN_STATE_FIELDS: tuple[str, ...] = (
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
)

SPEC_FIELDS: tuple[str, ...] = (
    "name",
    "display_name",
    "description",
    "kind",
    "target",
    "config",
    "parameters",
    "parameter_queries",
    "overridable_parameters",
    "enabled",
    "cron",
    "timezone",
    "run_at",
    *POLICY_FIELDS,
    *MONITORING_FIELDS,
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
        *DISABLED_FIELDS,
        *RUN_STATE_FIELDS,
    }
)


def output_only_keys() -> frozenset[str]:
    """Keys the job JSON prints that are not definition (health, is_running,
    ...): read-only like READ_ONLY_FIELDS, whoever added them to the JSON."""
    from jobs.api.serializers import JobSerializer

    return frozenset(JobSerializer.Meta.fields) - frozenset(SPEC_FIELDS)


_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9_]*$")


# --- field cleaners: each takes the raw value and returns the canonical one,
# or raises ValueError with a message that does not repeat the field name.


def _str(max_length: int | None = None, *, allow_none: bool = True) -> Callable[[Any], str]:
    def clean(value: Any) -> str:
        if value is None and allow_none:
            return ""
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {type(value).__name__}")
        return check_text(value.strip(), max_length)

    return clean


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {value!r}")


def _int(minimum: int, maximum: int | None = None) -> Callable[[Any], int]:
    def clean(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and math.isfinite(value) and value.is_integer():
                value = int(value)
            elif isinstance(value, str) and value.strip().isdigit():
                value = int(value.strip())
            else:
                raise ValueError(f"expected a whole number, got {_show(value)}")
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise ValueError(f"must be {bound}, got {_show(value)}")
        return value

    return clean


def _nullable(clean: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`clean`, but None or "" mean "not set" (the global default applies)."""

    def clean_or_none(value: Any) -> Any:
        return None if value is None or value == "" else clean(value)

    return clean_or_none


def _show(value: Any) -> str:
    """A value quoted in an error, cut short: the input may be megabytes."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _number(
    minimum: float, maximum: float | Callable[[], float] | None = None
) -> Callable[[Any], float]:
    def clean(value: Any) -> float:
        top = maximum() if callable(maximum) else maximum
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                value = float(value.strip()[:-1]) / 100
            except ValueError:
                raise ValueError(f"expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            value = float(value)
        except OverflowError:
            value = math.inf
        if math.isnan(value) or value < minimum or (top is not None and value > top):
            bound = f"between {minimum:g} and {top:g}" if top is not None else f">= {minimum:g}"
            raise ValueError(f"must be {bound}, got {value:g}")
        return value

    return clean


def _duration(minimum: float = 0, *, nullable: bool = False, maximum: str = "JOBS_MAX_DURATION"):
    """Seconds between `minimum` and the setting named `maximum`."""

    def clean(value: Any) -> float | None:
        if value is None or value == "":
            if nullable:
                return None
            raise ValueError("is required (seconds or a duration such as 90s, 20m, 1h)")
        try:
            seconds = parse_duration(value)
        except OverflowError:  # an integer too large for a float
            seconds = math.inf
        if math.isnan(seconds):
            raise ValueError(f"{value!r} is not a duration")
        if seconds < minimum:
            raise ValueError(f"must be at least {minimum:g}s, got {seconds:g}s")
        return check_seconds(seconds, float(getattr(settings, maximum)), maximum)

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
    if len(value) > settings.JOBS_MAX_LIST_ITEMS:
        raise ValueError(f"at most {settings.JOBS_MAX_LIST_ITEMS} items, got {len(value)}")
    return list(value)


def _json_dict(value: Any) -> dict[str, Any]:
    return check_json(_dict(value))


def _json_list(value: Any) -> list[Any]:
    return check_json(_list(value))


def _tags(value: Any) -> list[str]:
    tags = _str_list(value)
    limit = settings.JOBS_MAX_TAG_LENGTH
    for tag in tags:
        if len(tag) > limit:
            raise ValueError(f"a tag has at most {limit} characters, got {len(tag)}")
    return tags


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):  # "a, b" is friendlier than ["a", "b"] on a command line
        value = [p for p in (s.strip() for s in value.split(",")) if p]
    items = _list(value)
    if not all(isinstance(i, str) and i.strip() for i in items):
        raise ValueError("expected a list of non-empty strings")
    return [check_text(i.strip(), 1000) for i in items]


def _identifiers_or_none(value: Any) -> list[str] | None:
    """null (the default rule) or a list of parameter names."""
    if value is None:
        return None
    names = _str_list(value)
    bad = [n for n in names if not n.isidentifier()]
    if bad:
        raise ValueError(f"{bad[0]!r} is not a parameter name (letters, digits, _)")
    return list(dict.fromkeys(names))


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
    check_cron_fires(value)  # raises ScheduleError (a ValueError) saying why
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
        return _in_range(value)
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None:
            return _in_range(parsed)
    raise ValueError(f"{value!r} is not an ISO 8601 date-time (e.g. 2030-01-31T02:00:00+01:00)")


def _in_range(value: datetime) -> datetime:
    """A naive time is checked as if UTC: its zone (+-14h) is applied later,
    and the range keeps centuries away from datetime's ends."""
    try:
        check_instant(value)
    except ValueError as exc:
        raise ValueError(f"{value.isoformat()} {exc}") from None
    return value


def _queue(value: Any) -> str:
    return check_queue_name(_str(100)(value))


def _owner(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("expected a username")
    if not get_user_model().objects.filter(username=value.strip()).exists():
        raise ValueError(f"unknown user {value!r}")
    return value.strip()


def _max_backoff() -> float:
    return float(settings.JOBS_MAX_RETRY_BACKOFF)


CLEANERS: dict[str, Callable[[Any], Any]] = {
    "name": _name,
    "display_name": _str(200),
    "description": _str(),  # JOBS_MAX_TEXT_LENGTH
    "kind": _choice(JobKind.values),
    "target": _str(300),
    "config": _json_dict,
    "parameters": _json_dict,
    "parameter_queries": _json_list,
    "overridable_parameters": _identifiers_or_none,
    "enabled": _bool,
    "cron": _cron,
    "timezone": _timezone,
    "run_at": _run_at_raw,
    "queue": _queue,
    "priority": _int(0, 9),
    "timeout": _duration(1, maximum="JOBS_MAX_TIMEOUT"),
    "max_retries": _int(0, 100),
    "retry_delay": _duration(0),
    "retry_backoff": _number(1, _max_backoff),
    "retry_jitter": _number(0, 1),
    "retry_max_delay": _duration(0),
    "overlap": _choice(OverlapPolicy.values),
    "auto_disable_after": _int(0, 10_000),
    "expected_max_duration": _duration(0, nullable=True),
    "min_duration": _duration(0, nullable=True),
    "grace_time": _duration(0),
    "notify_on_failure": _bool,
    "notify_on_success": _bool,
    "notify_on_duration_exceeds": _duration(0, nullable=True),
    "notification_emails": _emails,
    "notification_channels": _str_list,
    "max_alerts_per_hour": _nullable(_int(1, 10_000)),
    "tags": _tags,
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
    for field in DURATION_FIELDS:
        values[field] = float(values[field])
    return values
