"""The one domain error type. Every entry point maps it to its own output:
an HTTP status in the API, an exit code in the CLI, a message in the admin."""

from __future__ import annotations

from typing import Any


class JobwardenError(Exception):
    code = "error"
    http_status = 400

    def __init__(
        self, message: str, *, fields: dict[str, Any] | None = None, code: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code:
            self.code = code

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "fields": self.fields}


class ValidationError(JobwardenError):
    code = "invalid"
    http_status = 400

    def __init__(
        self,
        message: str,
        *,
        fields: dict[str, Any] | None = None,
        code: str | None = None,
        problems: list[str] | None = None,
    ):
        super().__init__(message, fields=fields, code=code)
        # Every problem as its own line ("job 'a': cron: ..."), for doors that
        # report them all (`jobs apply`); `message` stays one line.
        self.problems = problems or [message]


class NotFound(JobwardenError):
    code = "not_found"
    http_status = 404


class Conflict(JobwardenError):
    code = "conflict"
    http_status = 409


class Forbidden(JobwardenError):
    code = "forbidden"
    http_status = 403


class Unavailable(JobwardenError):
    """A service the action needs (the broker) cannot be reached."""

    code = "unavailable"
    http_status = 503
