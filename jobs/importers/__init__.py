"""Importing job definitions teams already have (`manage.py jobs import`).

Each source module turns its input into `Entry`s (a spec dict for `jobs
apply`, and where it came from) and `Problem`s (a source entry that could not
be mapped, and why): pure functions of the text they are given, so the same
crontab gives the same file anywhere. The CLI writes the specs as a `jobs
apply` file or hands them to `jobs_apply` (all or nothing).

Job has no metadata field, so an imported job records its source in two
places: the tags `imported` and `imported:<source>`, and the last line of its
description (`imported from crontab /etc/crontab line 12`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils.text import slugify

IMPORTED_TAG = "imported"
NAME_LENGTH = 60  # derived names stay readable in `jobs list`


@dataclass(frozen=True)
class Entry:
    where: str  # "crontab /etc/crontab line 12", "csv jobs.csv row 3"
    spec: dict[str, Any]
    text: str = ""  # the source entry, as read (shown when the spec is refused)


@dataclass(frozen=True)
class Problem:
    where: str
    entry: str  # the source text, as read
    reason: str

    def line(self) -> str:
        return f"{self.where}: {self.reason}: {self.entry}"

    def as_dict(self) -> dict[str, str]:
        return {"where": self.where, "entry": self.entry, "reason": self.reason}


def imported_tags(source: str, tags: Iterable[str] = ()) -> list[str]:
    """The entry's own tags, then `imported` and `imported:<source>`."""
    return list(dict.fromkeys([*tags, IMPORTED_TAG, f"{IMPORTED_TAG}:{source}"]))


def with_source_line(description: str, where: str) -> str:
    """The description with its source as the last line (Job has no metadata)."""
    line = f"imported from {where}"
    return f"{description.rstrip()}\n{line}" if description.strip() else line


def slug_name(text: str, fallback: str) -> str:
    """A job name (letters, digits, '-') from free text such as a command."""
    words = []
    for word in text.split()[:4]:
        words.append(word.rstrip("/").rsplit("/", 1)[-1])
    slug = slugify(re.sub(r"[._]+", "-", " ".join(words)))[:NAME_LENGTH].strip("-_")
    return slug or fallback


def unique_names(entries: list[Entry]) -> list[Entry]:
    """Suffix -2, -3 ... to names seen before in this import (the database is
    not consulted: re-importing the same source updates the same jobs)."""
    used: set[str] = set()
    out = []
    for entry in entries:
        base = name = entry.spec["name"]
        n = 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        out.append(Entry(entry.where, {**entry.spec, "name": name}, entry.text))
    return out


def validate_entries(entries: list[Entry]) -> tuple[list[Entry], list[Problem]]:
    """The entries whose spec passes the spec validator (kind checks such as
    the executable allowlist are left to `jobs apply`), and a Problem for each
    that does not."""
    from jobs.errors import ValidationError
    from jobs.specs import validate_spec

    good: list[Entry] = []
    problems: list[Problem] = []
    for entry in entries:
        try:
            validate_spec(entry.spec, validate_kind=False)
        except ValidationError as exc:
            problems.append(Problem(entry.where, entry.text, exc.message))
            continue
        good.append(entry)
    return good, problems
