"""Placeholders and the rendering modes that keep values data (see jobs.params)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from jobs.errors import JobwardenError
from jobs.execution.context import PermanentFailure

MASK = "********"
MACROS = ("now", "today", "yesterday", "run_id", "job_name", "attempt")

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
IDENTIFIER = re.compile(rf"^{_IDENT}$")
# {{Name}} (escaped) | {Name} | {Name:spec}
_PLACEHOLDER = re.compile(rf"\{{\{{({_IDENT}(?::[^{{}}]*)?)\}}\}}|\{{({_IDENT})(?::([^{{}}]*))?\}}")
# Parameter names whose values are masked wherever a run is stored or shown,
# even when the operator did not mark them secret.
SECRET_NAME = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|credential|auth(?!ors?\b)|private[_-]?key)", re.I
)
_URL_AUTHORITY_VALUE = re.compile(r"^[A-Za-z0-9.\-:\[\]]*$")
_JSON_SCALAR = re.compile(r"^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)$")


class ParameterError(JobwardenError):
    """Parameters could not be resolved: the run fails before anything
    executes. This base class is retried by the job's policy (a parameter
    query may fail transiently); UnresolvedParameter is not."""

    code = "parameter_error"
    http_status = 400


class UnresolvedParameter(ParameterError, PermanentFailure):
    """An unknown placeholder or a value that cannot be rendered safely:
    retrying cannot fix the job's definition."""


# --- rendering ---------------------------------------------------------------


def placeholders(template: str) -> list[str]:
    """Names used as placeholders in `template` (escaped ones excluded)."""
    return [m.group(2) for m in _PLACEHOLDER.finditer(template) if m.group(2)]


def iter_strings(value: Any, path: str = "config") -> Iterator[tuple[str, str]]:
    """(path, string) for every string inside a JSON-like value."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_strings(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from iter_strings(item, f"{path}[{i}]")


def format_value(value: Any, spec: str | None = None) -> str:
    """The text form of one parameter value."""
    try:
        if spec:
            if isinstance(value, datetime | date | dtime):
                return value.strftime(spec)
            return format(value, spec)
    except (ValueError, TypeError) as exc:
        raise UnresolvedParameter(
            f"bad format spec {spec!r} for value of type {type(value).__name__}: {exc}"
        ) from None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def _lookup(params: dict[str, Any], name: str, where: str) -> Any:
    if name not in params:
        known = ", ".join(sorted(params)) or "none"
        raise UnresolvedParameter(f"unknown parameter {{{name}}} in {where} (known: {known})")
    return params[name]


def render(
    template: Any, params: dict[str, Any], *, mode: str = "text", where: str = "template"
) -> Any:
    """Fill the placeholders of `template` from `params`.

    mode: "text" (as is), "string" (as is, always a string), "header" (no line breaks), "json" (string values
    JSON-escaped inside strings; outside strings only JSON scalars), "url"
    (host values restricted, path/query values percent-encoded). A template
    that is exactly one placeholder in text mode returns the value itself
    with its type (so a SQL int parameter stays an int). Non-strings are
    returned unchanged. Raises ParameterError for an unknown name.
    """
    if not isinstance(template, str):
        return template
    if mode == "url":
        return _render_url(template, params, where)
    whole = _PLACEHOLDER.fullmatch(template)
    if mode == "text" and whole and whole.group(2) and not whole.group(3):
        return _lookup(params, whole.group(2), where)
    out: list[str] = []
    pos = 0
    in_string = False
    for match in _PLACEHOLDER.finditer(template):
        literal = template[pos : match.start()]
        if mode == "json":
            in_string = _json_string_state(literal, in_string)
        out.append(literal)
        pos = match.end()
        if match.group(1):  # escaped {{Name}}
            out.append("{" + match.group(1) + "}")
            continue
        value = _lookup(params, match.group(2), where)
        text = format_value(value, match.group(3))
        if mode == "header" and any(c in text for c in "\r\n\0"):
            raise UnresolvedParameter(
                f"parameter {match.group(2)!r} in {where}: a header value may not contain line breaks"
            )
        if mode == "json":
            text = _json_piece(match.group(2), value, text, in_string, where)
        out.append(text)
    out.append(template[pos:])
    return "".join(out)


def _json_string_state(segment: str, in_string: bool) -> bool:
    escaped = False
    for ch in segment:
        if escaped:
            escaped = False
        elif ch == "\\" and in_string:
            escaped = True
        elif ch == '"':
            in_string = not in_string
    return in_string


def _json_piece(name: str, value: Any, text: str, in_string: bool, where: str) -> str:
    if in_string:
        return json.dumps(text)[1:-1]
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float | Decimal):
        return text
    if _JSON_SCALAR.match(text):
        return text
    raise UnresolvedParameter(
        f"parameter {name!r} in {where} is outside a JSON string and is not a number, "
        f"true, false or null; put the placeholder inside quotes"
    )


def url_authority_end(template: str) -> int:
    """Where a URL template's scheme and authority (userinfo, host, port) end."""
    scheme_end = template.find("://")
    authority_start = scheme_end + 3 if scheme_end >= 0 else 0
    authority_end = len(template)
    for ch in "/?#":
        i = template.find(ch, authority_start)
        if i >= 0:
            authority_end = min(authority_end, i)
    return authority_end


def _render_url(template: str, params: dict[str, Any], where: str) -> str:
    # Which part of the URL each placeholder sits in decides its escaping.
    authority_end = url_authority_end(template)
    out: list[str] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(template):
        out.append(template[pos : match.start()])
        pos = match.end()
        if match.group(1):
            out.append(quote("{" + match.group(1) + "}", safe=""))
            continue
        name = match.group(2)
        text = format_value(_lookup(params, name, where), match.group(3))
        if match.start() < authority_end:
            if not _URL_AUTHORITY_VALUE.match(text):
                raise UnresolvedParameter(
                    f"parameter {name!r} in {where} is in the URL's host part and may only contain "
                    "letters, digits, '.', '-', ':' and brackets"
                )
            out.append(text)
        else:
            out.append(quote(text, safe=""))
    out.append(template[pos:])
    return "".join(out)


def render_all(
    value: Any, params: dict[str, Any], *, where: str = "config", mode: str = "text"
) -> Any:
    """render() applied to every string inside lists/dicts (keys untouched)."""
    if isinstance(value, str):
        return render(value, params, mode=mode, where=where)
    if isinstance(value, dict):
        return {k: render_all(v, params, where=f"{where}.{k}", mode=mode) for k, v in value.items()}
    if isinstance(value, list):
        return [
            render_all(v, params, where=f"{where}[{i}]", mode=mode) for i, v in enumerate(value)
        ]
    return value
