"""Save-time checks of a kind's `config`, with errors that name the field:
`config.args[2]: expected a string`. Used by the kind handlers' validate()."""

from __future__ import annotations

from typing import Any

from jobs.errors import ValidationError

MASK = "********"
# Keys every kind's config may carry (see jobs.secrets and jobs.params).
COMMON_KEYS = frozenset({"secret_parameters", "connections"})


def fail(field: str, message: str) -> None:
    raise ValidationError(f"{field}: {message}", fields={field: message})


class ConfigCheck:
    def __init__(self, spec: dict[str, Any], allowed: set[str] | frozenset[str]):
        config = spec.get("config")
        if config is None:
            config = {}
        if not isinstance(config, dict):
            fail("config", "must be an object")
        unknown = sorted(set(config) - set(allowed) - COMMON_KEYS)
        if unknown:
            fail(
                f"config.{unknown[0]}",
                f"unknown key (allowed: {', '.join(sorted(set(allowed) | COMMON_KEYS))})",
            )
        self.config = config
        for block in COMMON_KEYS:
            value = config.get(block)
            if value is not None and not (
                isinstance(value, dict) and all(isinstance(k, str) for k in value)
            ):
                fail(f"config.{block}", "must be an object of name: value")
        for name, connection in (config.get("connections") or {}).items():
            if connection != MASK:  # a masked value is the stored, checked one
                from jobs.execution.sqlconn import check_odbc_connection

                if not isinstance(connection, str):
                    fail(f"config.connections.{name}", "must be an ODBC connection string")
                check_odbc_connection(connection, f"config.connections.{name}", resolve=False)

    def get(self, key: str, default: Any = None) -> Any:
        return self.config.get(key, default)

    def string(
        self, key: str, *, required: bool = False, field: str | None = None, value: Any = None
    ) -> str | None:
        field = field or f"config.{key}"
        value = self.config.get(key) if value is None else value
        if value is None or value == "":
            if required:
                fail(field, "is required")
            return None
        if not isinstance(value, str):
            fail(field, f"expected a string, got {type(value).__name__}")
        if "\0" in value:
            fail(field, "may not contain NUL characters")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.config.get(key, default)
        if not isinstance(value, bool):
            fail(f"config.{key}", "expected true or false")
        return value

    def number(
        self, key: str, *, minimum: float = 0, integer: bool = False, maximum: float | None = None
    ) -> float | None:
        value = self.config.get(key)
        if value is None:
            return None
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            fail(f"config.{key}", "expected an integer" if integer else "expected a number")
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            fail(f"config.{key}", f"must be {bound}")
        return value

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.config.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            fail(f"config.{key}", "must be an object")
        return value
