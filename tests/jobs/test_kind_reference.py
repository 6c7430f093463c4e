"""docs/job-kinds.md documents exactly the `config` keys each kind accepts,
and is what `make docs` generates."""

from __future__ import annotations

from importlib import import_module

import pytest

from jobs.execution.configcheck import COMMON_KEYS
from jobs.execution.kinds import reference
from jobs.specs import validate_spec
from tests.conftest import ROOT

KEYED_KINDS = ["process", "http", "sql"]


@pytest.mark.parametrize("kind", KEYED_KINDS)
def test_every_key_a_kind_accepts_is_documented_and_nothing_else(kind):
    accepted = import_module(f"jobs.execution.kinds.{kind}").KEYS

    assert reference.documented_keys(kind) == set(accepted)


def test_the_common_keys_are_documented():
    assert {key.name for key in reference.COMMON} == set(COMMON_KEYS)


@pytest.mark.parametrize("kind", list(reference.KINDS))
def test_each_example_is_a_valid_spec_of_its_kind(kind):
    example = reference.KINDS[kind]["example"]

    spec = validate_spec(example, validate_kind=False)

    assert spec.values["kind"] == kind
    assert set(spec.values["config"]) <= reference.documented_keys(kind) | set(COMMON_KEYS)


def test_docs_file_is_the_generated_one():
    on_disk = (ROOT / "docs" / "job-kinds.md").read_text()

    assert on_disk == reference.render(), "docs/job-kinds.md is stale: run `make docs`"
