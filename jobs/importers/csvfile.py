"""A CSV file of jobs → job specs (`jobs import csv FILE --map ...`).

`--map name=COL,cron=COL,kind=COL,...` says which column holds which spec
key (any key of a `jobs apply` spec, or `config.KEY` for one key of the
kind's config). Cells are text; each is turned into what the spec key takes
(true/false/yes/no/1/0 for flags, JSON for objects and lists), and an empty
cell leaves the key at its default.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from django.utils.text import slugify

from jobs.errors import ValidationError
from jobs.importers import (
    NAME_LENGTH,
    Entry,
    Problem,
    imported_tags,
    unique_names,
    with_source_line,
)
from jobs.specs import SPEC_FIELDS

SOURCE = "csv"
_FLAGS = {"enabled", "notify_on_failure", "notify_on_success"}
_JSON = {"config", "parameters", "parameter_queries"}
_NUMBERS = {"retry_backoff", "retry_jitter"}
_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9_]{0,199}$")
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


class Unmapped(Exception):
    """A cell that cannot become a spec value; the message says why."""


def parse_map(text: str) -> dict[str, str]:
    """`key=COL,...` → {spec key: column}. Raises ValidationError (one line)
    for a key no spec has, a pair without '=', or no `name`."""
    mapping: dict[str, str] = {}
    for pair in (p.strip() for p in text.split(",")):
        key, sep, column = (s.strip() for s in pair.partition("="))
        if not sep or not key or not column:
            raise ValidationError(f"--map: bad pair {pair!r}: expected key=COLUMN")
        if key not in SPEC_FIELDS and not (key.startswith("config.") and len(key) > 7):
            raise ValidationError(
                f"--map: unknown spec key {key!r} (use one of {', '.join(SPEC_FIELDS)}, or config.KEY)"
            )
        mapping[key] = column
    if "name" not in mapping:
        raise ValidationError("--map: name=COLUMN is required (every job needs a name)")
    return mapping


def parse_csv(
    text: str, *, path: str, mapping: dict[str, str], delimiter: str = ","
) -> tuple[list[Entry], list[Problem]]:
    """The job specs of the rows, and a Problem for each row that cannot be
    mapped. Raises ValidationError if a mapped column is not in the header."""
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = reader.fieldnames or []
    missing = [c for c in mapping.values() if c not in header]
    if missing:
        raise ValidationError(
            f"{path}: no column {missing[0]!r} (the header has: {', '.join(header) or 'nothing'})"
        )
    entries: list[Entry] = []
    problems: list[Problem] = []
    for row in reader:
        # Row numbers count the header as row 1, like a spreadsheet.
        where = f"{SOURCE} {path} row {reader.line_num}"
        try:
            spec = _row_spec(row, mapping)
        except Unmapped as exc:
            problems.append(Problem(where, _shown(row), str(exc)))
            continue
        spec["tags"] = imported_tags(SOURCE, spec.get("tags") or [])
        spec["description"] = with_source_line(spec.get("description") or "", where)
        entries.append(Entry(where, spec, _shown(row)))
    return unique_names(entries), problems


def _shown(row: dict[str, Any]) -> str:
    return ",".join("" if v is None else str(v) for v in row.values())


def _row_spec(row: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    config: dict[str, Any] = {}
    for key, column in mapping.items():
        cell = (row.get(column) or "").strip()
        if not cell:
            continue
        if key.startswith("config."):
            config[key[7:]] = _json(key, cell) if cell[0] in "[{" else cell
        else:
            spec[key] = _value(key, cell)
    if "name" not in spec:
        raise Unmapped(f"the name column {mapping['name']!r} is empty")
    if not _NAME.match(spec["name"]):
        # A legacy title ("Nightly report") keeps its text as display_name.
        spec.setdefault("display_name", spec["name"])
        spec["name"] = slugify(spec["name"])[:NAME_LENGTH].strip("-_") or "job"
    if config:
        spec["config"] = {**(spec.get("config") or {}), **config}
    if "tags" in spec:
        spec["tags"] = [t.strip() for t in spec["tags"].split(",") if t.strip()]
    return spec


def _value(key: str, cell: str) -> Any:
    if key in _FLAGS:
        word = cell.lower()
        if word not in _TRUE | _FALSE:
            raise Unmapped(f"{key}: {cell!r} is not true/false (or yes/no, 1/0)")
        return word in _TRUE
    if key in _JSON:
        return _json(key, cell)
    if key in _NUMBERS and not cell.endswith("%"):
        try:
            return float(cell)
        except ValueError:
            raise Unmapped(f"{key}: {cell!r} is not a number") from None
    return cell


def _json(key: str, cell: str) -> Any:
    try:
        return json.loads(cell)
    except json.JSONDecodeError as exc:
        raise Unmapped(f"{key}: not valid JSON ({exc.msg} at column {exc.colno})") from None
