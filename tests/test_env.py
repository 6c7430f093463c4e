"""config.env: one typed reader that fails loudly, naming the variable."""

import pytest

from config.env import (
    ImproperlyConfiguredEnv,
    env_bool,
    env_duration,
    env_int,
    env_list,
    parse_duration,
)


def test_values_are_parsed_with_their_types(monkeypatch):
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_LIST", "a, b,,c ")
    monkeypatch.setenv("X_DUR", "20m")
    assert env_int("X_INT") == 42
    assert env_bool("X_BOOL") is True
    assert env_list("X_LIST") == ["a", "b", "c"]
    assert env_duration("X_DUR") == 1200


def test_defaults_apply_when_unset(monkeypatch):
    monkeypatch.delenv("X_MISSING", raising=False)
    assert env_int("X_MISSING", 7) == 7
    assert env_duration("X_MISSING", "90s") == 90


@pytest.mark.parametrize(
    ("name", "value", "reader", "message"),
    [
        ("X_INT", "ten", env_int, "X_INT='ten' is invalid"),
        ("X_BOOL", "maybe", env_bool, "X_BOOL='maybe' is invalid"),
        ("X_DUR", "5 parsecs", env_duration, "X_DUR='5 parsecs' is invalid"),
    ],
)
def test_bad_values_fail_loudly_naming_the_variable(monkeypatch, name, value, reader, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfiguredEnv, match=message):
        reader(name)


def test_minimum_is_enforced(monkeypatch):
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(ImproperlyConfiguredEnv, match="must be >= 1"):
        env_int("X_INT", minimum=1)


def test_maximum_is_enforced(monkeypatch):
    monkeypatch.setenv("X_INT", "20")
    with pytest.raises(ImproperlyConfiguredEnv, match="X_INT='20' is invalid: must be <= 19"):
        env_int("X_INT", minimum=0, maximum=19)
    monkeypatch.setenv("X_INT", "19")
    assert env_int("X_INT", minimum=0, maximum=19) == 19


def test_required_variable_missing_is_named(monkeypatch):
    monkeypatch.delenv("X_REQUIRED", raising=False)
    with pytest.raises(ImproperlyConfiguredEnv, match="X_REQUIRED is required"):
        env_int("X_REQUIRED")


@pytest.mark.parametrize(
    ("raw", "seconds"), [(90, 90), ("90s", 90), ("20m", 1200), ("1h", 3600), ("250ms", 0.25)]
)
def test_durations(raw, seconds):
    assert parse_duration(raw) == seconds


def test_negative_or_boolean_durations_are_refused():
    with pytest.raises(ValueError):
        parse_duration(-1)
    with pytest.raises(ValueError):
        parse_duration(True)
