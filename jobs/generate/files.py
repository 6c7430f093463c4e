"""Files the generator writes: checked before the first write, so an error
leaves nothing half-written."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from jobs.errors import ValidationError


def shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass
class Write:
    """One file to write, whole. `extends`: `text` keeps the file's current
    content and adds to it (an app's jobs.py), so no --force is needed."""

    path: Path
    text: str
    extends: bool = False

    def check(self, force: bool) -> None:
        if self.extends or not self.path.exists():
            return
        if not force:
            raise ValidationError(
                f"{shown(self.path)} already exists; pass --force to overwrite it",
                fields={"file": "exists"},
            )
        if not self.path.is_file():
            raise ValidationError(f"{shown(self.path)} is not a file", fields={"file": "exists"})

    def commit(self) -> str:
        existed = self.path.exists()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(self.text, encoding="utf-8")
        except OSError as exc:
            raise ValidationError(
                f"cannot write {shown(self.path)}: {exc.strerror or exc}",
                fields={"file": "unwritable"},
            ) from None
        if not existed:
            return "created"
        return "added to" if self.extends else "overwrote"


def parse_module(path: Path) -> ast.Module:
    """An existing Python file parsed, or a one-line error naming it."""
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValidationError(
            f"cannot read {shown(path)}: {exc}".splitlines()[0], fields={"file": "unreadable"}
        ) from None
