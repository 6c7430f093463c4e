"""Keep secrets out of run records: every text a kind stores (output, stderr,
metadata, result, error messages) passes through a Redactor that replaces
the job's secret values — and their URL-encoded forms — with the mask."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

MASK = "********"
# Shorter values would mask ordinary words and digits all over the output.
MIN_SECRET_LENGTH = 4


def _random_looking(text: str) -> bool:
    # A Slack T…/B… id, a token, a Teams workflow id; not "services" or "hook".
    return len(text) >= 16 or (
        len(text) >= 8 and any(c.isdigit() for c in text) and any(c.isalpha() for c in text)
    )


def url_secret_forms(value: str) -> set[str]:
    """The pieces of a secret URL that give it away on their own. Error texts
    rarely quote the whole URL: urllib3 says "Max retries exceeded with url:
    /services/T0/B0/XYZ", a server echoes the path, a message is cut at 200
    characters. So the path (with and without its query), the query, its
    values, the userinfo and any random-looking path segment are secret too."""
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return set()
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return set()
    forms = {parts.path, parts.query, f"{parts.path}?{parts.query}", password or ""}
    forms.update(seg for seg in parts.path.split("/") if _random_looking(seg))
    forms.update(v for _, v in parse_qsl(parts.query))
    if parts.username and password:
        forms.add(f"{parts.username}:{password}")
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH and f not in ("/", "?")}


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()):
        forms: set[str] = set()
        for secret in secrets:
            secret = str(secret)
            if len(secret) >= MIN_SECRET_LENGTH and secret != MASK:
                for form in {secret, *url_secret_forms(secret)}:
                    forms.update({form, quote(form, safe=""), quote_plus(form)})
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
        from jobs.secrets import url_credentials

        # URL userinfo and credential query values are shown masked on the
        # job; a run record quoting the URL must not show them either.
        found = url_credentials(config) + url_credentials(params)
        return cls.from_config(config, job.kind, [*extra, *secret_params(job, params), *found])

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
