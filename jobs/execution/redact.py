"""Keep secrets out of run records: every text a kind stores (output, stderr,
metadata, result, error messages) passes through a Redactor that replaces
the job's secret values — and their URL-encoded forms — with the mask."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "********"
# Shorter values would mask ordinary words and digits all over the output.
MIN_SECRET_LENGTH = 4


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()):
        forms: set[str] = set()
        for secret in secrets:
            secret = str(secret)
            if len(secret) >= MIN_SECRET_LENGTH and secret != MASK:
                forms.update({secret, quote(secret, safe=""), quote_plus(secret)})
        ordered = sorted(forms, key=len, reverse=True)  # longest first
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @classmethod
    def from_config(
        cls, config: dict[str, Any], kind: str | None = None, extra: Iterable[str] = ()
    ) -> Redactor:
        from jobs.secrets import secret_values

        values = list(extra)
        if kind:
            values += secret_values(kind, config)
        else:  # any kind's secret fields: try them all
            for k in ("http", "process", "sql"):
                values += secret_values(k, config)
        return cls(values)

    @classmethod
    def for_run(
        cls, job: Any, config: dict[str, Any], params: dict[str, Any], extra: Iterable[str] = ()
    ) -> Redactor:
        from jobs.params import secret_values as secret_params

        return cls.from_config(config, job.kind, [*extra, *secret_params(job, params)])

    def redact(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def redact_obj(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self.redact_obj(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_obj(v) for v in value]
        return value
