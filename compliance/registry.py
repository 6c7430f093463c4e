"""Python compliance checks registered in code.

    # myapp/compliance_rules.py
    from compliance.registry import rule

    @rule(area="material", description="No negative stock")
    def negative_stock(ctx):
        return [{"sku": s.product.sku, "quantity": s.quantity} for s in ...]

A check returns (or yields) its violations as dicts; an empty result means
the rule passed. Modules named `compliance_rules` in installed apps are
imported by discover(); each registered check gets a Rule row (kind=python)
so it can be enabled/disabled and listed like a SQL rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.utils.module_loading import autodiscover_modules
from django.utils.text import slugify

Check = Callable[[Any], Iterable[dict[str, Any]] | None]


@dataclass(frozen=True)
class PythonRule:
    name: str
    area: str
    description: str
    func: Check


_rules: dict[str, PythonRule] = {}
_discovered = False


def rule(name: str | None = None, *, area: str, description: str = "") -> Callable[[Check], Check]:
    def register(func: Check) -> Check:
        rule_name = name or slugify(func.__name__.replace("_", "-"))
        existing = _rules.get(rule_name)
        if existing is not None and existing.func.__qualname__ != func.__qualname__:
            raise ValueError(
                f"compliance rule {rule_name!r} is already registered by {existing.func.__module__}"
            )
        doc = (func.__doc__ or "").strip().splitlines()
        _rules[rule_name] = PythonRule(
            rule_name, area, description or (doc[0] if doc else ""), func
        )
        return func

    return register


def discover() -> dict[str, PythonRule]:
    global _discovered
    if not _discovered:
        from importlib import import_module

        from django.conf import settings

        autodiscover_modules("compliance_rules")
        for module in settings.COMPLIANCE_RULE_MODULES:
            import_module(module)
        _discovered = True
    return _rules


def get(name: str) -> PythonRule | None:
    return discover().get(name)


def unregister(name: str) -> None:
    """For tests."""
    _rules.pop(name, None)
