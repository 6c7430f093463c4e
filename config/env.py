"""One typed reader for the environment.

Every setting comes through here so a bad value fails at start-up with a
message naming the variable, instead of surfacing later as odd behaviour.

A variable the environment does not set is taken from the `make run`
running in this checkout, if it recorded one (config.instance: the embedded
Redis's URL), so a second terminal needs no export; then the default.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from typing import TypeVar

from config import instance

T = TypeVar("T")

_UNSET = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


class ImproperlyConfiguredEnv(ValueError):
    """Raised for a malformed environment variable; the message names it."""


def _raw(name: str, default: object) -> str | object:
    value = os.environ.get(name)
    if value is None:
        value = instance.recorded_env().get(name)
    if value is None:
        if default is _UNSET:
            raise ImproperlyConfiguredEnv(f"environment variable {name} is required")
        return default
    return value


def _parse(name: str, default: object, parse: Callable[[str], T]) -> T:
    value = _raw(name, default)
    if not isinstance(value, str):
        return value  # type: ignore[return-value]
    try:
        return parse(value)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfiguredEnv(f"{name}={value!r} is invalid: {exc}") from None


def env_str(name: str, default: object = _UNSET) -> str:
    return _parse(name, default, str)


def env_int(
    name: str, default: object = _UNSET, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    def parse(v: str) -> int:
        n = int(v.strip())
        if minimum is not None and n < minimum:
            raise ValueError(f"must be >= {minimum}")
        if maximum is not None and n > maximum:
            raise ValueError(f"must be <= {maximum}")
        return n

    return _parse(name, default, parse)


def env_float(name: str, default: object = _UNSET, *, minimum: float | None = None) -> float:
    def parse(v: str) -> float:
        n = float(v.strip())
        if minimum is not None and n < minimum:
            raise ValueError(f"must be >= {minimum}")
        return n

    return _parse(name, default, parse)


def env_bool(name: str, default: object = _UNSET) -> bool:
    def parse(v: str) -> bool:
        low = v.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("expected one of true/false/1/0/yes/no/on/off")

    return _parse(name, default, parse)


def env_list(name: str, default: object = _UNSET) -> list[str]:
    """Comma-separated list; blanks dropped."""
    return _parse(name, default, lambda v: [p.strip() for p in v.split(",") if p.strip()])


def env_networks(name: str, default: object = _UNSET) -> list[str]:
    """Comma-separated IP addresses or CIDR networks, normalised ('10.0.0.0/8')."""

    def parse(v: str) -> list[str]:
        return [
            str(ipaddress.ip_network(p.strip(), strict=False)) for p in v.split(",") if p.strip()
        ]

    return _parse(name, default, parse)


def parse_duration(value: str | int | float) -> float:
    """Seconds from 90, '90s', '20m', '1h', '1.5d', '250ms'."""
    if isinstance(value, bool):
        raise ValueError("expected seconds or a duration such as 90s, 20m, 1h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration (use seconds or 90s, 20m, 1h)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def env_duration(name: str, default: object = _UNSET) -> float:
    return _parse(name, default, parse_duration)
