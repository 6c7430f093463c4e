"""Reading job spec files (`jobs apply`): YAML or JSON, a list or {"jobs": [...]}."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jobs.errors import ValidationError


def load_spec_file(path: str | Path) -> list[Any]:
    """Read a YAML or JSON file of job specs: a list, or {"jobs": [...]}.

    Raises ValidationError (one line naming the file) if it cannot be read."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(
            f"cannot read {path}: {exc.strerror or exc}", fields={"file": "unreadable"}
        ) from None
    try:
        # JSON is YAML; one parser for both keeps the rules identical.
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ValidationError(
            f"{path}: not valid YAML/JSON{at}: {problem}", fields={"file": "syntax"}
        ) from None
    return parse_spec_document(data, source=str(path))


def parse_spec_document(data: Any, *, source: str = "input") -> list[Any]:
    if isinstance(data, Mapping) and set(data) == {"jobs"}:
        data = data["jobs"]
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValidationError(
            f'{source}: expected a list of job specs or {{"jobs": [...]}}', fields={"file": "shape"}
        )
    return data
