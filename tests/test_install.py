"""The two lock files: requirements.lock pins exactly what the runtime needs
(what `make run` and the Docker image install), requirements-dev.lock adds
the development tools on top of it."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, requires

from packaging.requirements import Requirement

from tests.conftest import ROOT


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _pins(lock: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / lock).read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, version = line.split("==")
            assert _name(name) not in pins, f"{name} pinned twice in {lock}"
            pins[_name(name)] = version.strip()
    return pins


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _closure(requirements: list[str]) -> set[str]:
    """The named distributions and everything they need, with their extras,
    as the installed metadata (the test virtualenv) declares them."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = _name(req.name)
        key = f"{name}[{','.join(sorted(req.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        try:
            declared = requires(req.name) or []
        except PackageNotFoundError:
            continue  # a marker-excluded dependency (other platform or Python)
        for text in declared:
            dep = Requirement(text)
            envs = [{"extra": e} for e in req.extras] or [{"extra": ""}]
            if dep.marker is None or any(dep.marker.evaluate(env) for env in envs):
                todo.append(dep)
    return {key.split("[")[0] for key in seen}


def test_the_runtime_lock_pins_the_whole_runtime_closure_and_no_dev_tool():
    runtime = _pins("requirements.lock")
    needed = _closure(_project()["dependencies"])
    assert needed - set(runtime) == set(), "runtime dependencies missing from requirements.lock"
    dev_only = {_name(Requirement(r).name) for r in _project()["optional-dependencies"]["dev"]}
    assert dev_only & set(runtime) == set(), "development tools in requirements.lock"


def test_the_dev_lock_adds_the_dev_closure_on_top_of_the_runtime_lock():
    text = (ROOT / "requirements-dev.lock").read_text()
    assert "\n-r requirements.lock\n" in f"\n{text}"
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    assert set(runtime) & set(dev) == set(), "a package pinned in both lock files"
    needed = _closure(_project()["optional-dependencies"]["dev"])
    assert needed - set(runtime) - set(dev) == set(), "dev tools missing from the dev lock"
