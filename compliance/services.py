"""Compliance writes: the check itself (evaluate rules, raise alerts), rule
management, and triggering a run of the compliance job."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from alerts.models import AlertType
from alerts.services import alert_raise, alerts_resolve_recovered
from compliance import registry
from compliance.engine import (
    RuleError,
    check_alias,
    check_query,
    evaluate,
    rule_vendor,
    severity_for,
)
from compliance.models import Rule, RuleKind
from jobs import secrets as jobs_secrets
from jobs.actors import Actor
from jobs.errors import NotFound, ValidationError
from jobs.limits import check_json, check_text, field_error
from jobs.services.audit import SECRET_MASK, audit_record, diff_fields

log = logging.getLogger(__name__)

JOB_NAME = "compliance-check"


# --- rules ------------------------------------------------------------------


def rules_sync() -> int:
    """Give every Python check registered in code a Rule row (enabled, its
    declared area). Existing rows keep an operator's enabled flag and area.
    Idempotent; returns how many rows were created."""
    created = 0
    for check in registry.discover().values():
        _, was_created = Rule.objects.get_or_create(
            name=check.name,
            defaults={
                "kind": RuleKind.PYTHON,
                "area": check.area,
                "description": check.description,
            },
        )
        created += was_created
    return created


def rule_connection_string(rule: Rule) -> str:
    return jobs_secrets.decrypt(rule.connection_secret).get("connection", "")


RULE_FIELDS = (
    "name",
    "area",
    "description",
    "enabled",
    "database",
    "connection",
    "query",
    "params",
    "row_limit",
    "timeout",
)


def _snapshot(rule: Rule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "kind": rule.kind,
        "area": rule.area,
        "description": rule.description,
        "enabled": rule.enabled,
        "database": rule.database,
        "connection": rule.connection_secret,
        "query": rule.query,
        "params": rule.params,
        "row_limit": rule.row_limit,
        "timeout": rule.timeout,
    }


# The columns' own lengths; description and query take JOBS_MAX_TEXT_LENGTH.
_RULE_TEXT_LIMITS = {"area": 200, "database": 100}


def _apply(rule: Rule, data: dict[str, Any]) -> None:
    """Validate and assign; raises ValidationError naming the field."""
    unknown = sorted(set(data) - set(RULE_FIELDS) - {"kind"})
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}", fields={unknown[0]: "unknown field"})
    if "kind" in data and data["kind"] != rule.kind:
        raise ValidationError(
            "kind: only SQL rules are created here (Python rules are registered in code)",
            fields={"kind": "must be sql"},
        )
    if rule.kind == RuleKind.PYTHON:
        editable = {"area", "description", "enabled", "row_limit"}
        bad = sorted(set(data) - editable)
        if bad:
            raise ValidationError(
                f"{bad[0]}: not editable on a Python rule", fields={bad[0]: "read-only"}
            )
    if "name" in data:
        if (
            not isinstance(data["name"], str)
            or not data["name"]
            or slugify(data["name"]) != data["name"]
        ):
            raise ValidationError(
                "name must be a slug (lower-case letters, digits, -)", fields={"name": "invalid"}
            )
        rule.name = field_error("name", check_text, data["name"], max_length=200)
    for text in ("area", "description", "query", "database"):
        if text in data:
            if not isinstance(data[text], str):
                raise ValidationError(f"{text} must be a string", fields={text: "not a string"})
            limit = _RULE_TEXT_LIMITS.get(text)  # None: JOBS_MAX_TEXT_LENGTH
            setattr(rule, text, field_error(text, check_text, data[text].strip(), max_length=limit))
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            raise ValidationError(
                "enabled must be true or false", fields={"enabled": "not a boolean"}
            )
        rule.enabled = data["enabled"]
    if "params" in data:
        if not isinstance(data["params"], list | dict):
            raise ValidationError(
                "params must be a list of bound values", fields={"params": "not a list"}
            )
        rule.params = field_error("params", check_json, data["params"])
    if (
        "row_limit" in data
        and data["row_limit"] is not None
        and (
            not isinstance(data["row_limit"], int)
            or isinstance(data["row_limit"], bool)
            or not 1 <= data["row_limit"] <= 100_000
        )
    ):
        raise ValidationError(
            "row_limit must be an integer from 1 to 100000",
            fields={"row_limit": "out of range"},
        )
    if "row_limit" in data:
        rule.row_limit = data["row_limit"]
    if "timeout" in data:
        from config.env import parse_duration

        if data["timeout"] is None:
            rule.timeout = None
        else:
            try:
                rule.timeout = parse_duration(data["timeout"])
            except ValueError as exc:
                raise ValidationError(f"timeout: {exc}", fields={"timeout": str(exc)}) from None
            if not 0 < rule.timeout <= 3600:
                raise ValidationError(
                    "timeout must be between 1s and 1h", fields={"timeout": "out of range"}
                )
    if "connection" in data and data["connection"] != SECRET_MASK:
        conn = data["connection"] or ""
        if not isinstance(conn, str):
            raise ValidationError(
                "connection must be an ODBC connection string",
                fields={"connection": "not a string"},
            )
        field_error("connection", check_text, conn, max_length=4000)
        rule.connection_secret = jobs_secrets.encrypt({"connection": conn}) if conn else ""
    if not rule.area:
        raise ValidationError("area is required", fields={"area": "required"})
    if rule.kind == RuleKind.SQL:
        _check_sql_target(rule)


def _check_sql_target(rule: Rule) -> None:
    """Where the rule runs (an allowed alias, or an ODBC string through the
    network and driver guards), then its query in that target's dialect."""
    from jobs.execution.sqlconn import check_odbc_connection

    try:
        if rule.database and rule.connection_secret:
            raise RuleError("give either database (a Django alias) or connection (ODBC), not both")
        if rule.connection_secret:
            check_odbc_connection(rule_connection_string(rule), "connection", resolve=False)
        else:
            rule.database = rule.database or _default_alias()
            check_alias(rule.database)
    except RuleError as exc:
        raise ValidationError(f"database: {exc}", fields={"database": str(exc)}) from None
    try:
        check_query(rule.query, rule_vendor(rule))
    except RuleError as exc:
        raise ValidationError(f"query: {exc}", fields={"query": str(exc)}) from None


def _default_alias() -> str:
    """A rule without database or connection uses the first alias listed in
    COMPLIANCE_SQL_DATABASES; with none listed it must name a connection."""
    if not settings.COMPLIANCE_SQL_DATABASES:
        raise RuleError(
            "no database is configured for SQL rules (set COMPLIANCE_DATABASE_URL "
            "to a read-only role, or give an ODBC connection)"
        )
    return settings.COMPLIANCE_SQL_DATABASES[0]


def rule_get(rule_ref: int | str) -> Rule:
    rule = Rule.objects.filter(pk=int(rule_ref)).first() if str(rule_ref).isdigit() else None
    rule = rule or Rule.objects.filter(name=str(rule_ref)).first()
    if rule is None:
        raise NotFound(f"compliance rule {rule_ref} not found")
    return rule


def rule_create(data: dict[str, Any], *, actor: Actor) -> Rule:
    """Create a SQL rule (name, area, query, database | connection, params,
    row_limit, timeout, enabled). Validated in full before saving; Conflict-
    free names enforced; the ODBC string is encrypted. Audited (masked)."""
    from jobs.errors import Conflict

    for required in ("name", "area", "query"):
        if not data.get(required):
            raise ValidationError(f"{required} is required", fields={required: "required"})
    rule = Rule(kind=RuleKind.SQL)
    _apply(
        rule,
        {k: v for k, v in data.items() if k != "kind"}
        if data.get("kind", "sql") == "sql"
        else data,
    )
    with transaction.atomic():
        if Rule.objects.filter(name=rule.name).exists():
            raise Conflict(f"compliance rule {rule.name} already exists", fields={"name": "taken"})
        rule.save()
        audit_record(
            actor=actor,
            action="rule.create",
            target_type="rule",
            target=rule.name,
            changes=diff_fields({}, _snapshot(rule), frozenset({"connection"})),
        )
    return rule


def rule_update(rule_ref: int | str, data: dict[str, Any], *, actor: Actor) -> Rule:
    """Change some fields (PATCH). Python rules: only area, description,
    enabled, row_limit. Audited with before/after (connection masked)."""
    from jobs.errors import Conflict

    with transaction.atomic():
        rule = Rule.objects.select_for_update().get(pk=rule_get(rule_ref).pk)
        before = _snapshot(rule)
        _apply(rule, data)
        if Rule.objects.filter(name=rule.name).exclude(pk=rule.pk).exists():
            raise Conflict(f"compliance rule {rule.name} already exists", fields={"name": "taken"})
        rule.save()
        audit_record(
            actor=actor,
            action="rule.update",
            target_type="rule",
            target=rule.name,
            changes=diff_fields(before, _snapshot(rule), frozenset({"connection"})),
        )
    return rule


# --- the check ----------------------------------------------------------------


def select_rules(rules: list[str] | None = None, area: str | None = None) -> list[Rule]:
    """Enabled rules, optionally only the named ones and/or one area.
    Unknown names are a ValidationError (a typo must not pass silently)."""
    rules_sync()
    qs = Rule.objects.enabled()
    if rules:
        found = set(qs.filter(name__in=rules).values_list("name", flat=True))
        missing = [r for r in rules if r not in found]
        if missing:
            raise ValidationError(
                f"rules: unknown or disabled rule {missing[0]!r}",
                fields={"rules": f"unknown {missing[0]}"},
            )
        qs = qs.filter(name__in=rules)
    if area:
        qs = qs.filter(area=area)
    return list(qs.order_by("area", "name"))


def compliance_check(
    *,
    rules: list[str] | None = None,
    area: str | None = None,
    ctx: Any = None,
    job: Any = None,
    run: Any = None,
) -> dict[str, Any]:
    """Evaluate the chosen enabled rules (each isolated: a failing rule is
    reported and alerted, the others still run), then per area:
    violations → one compliance_violation alert, severity by the total
    count (>10 critical, >5 high, >0 medium); errors → one
    compliance_rule_error alert; an area whose rules all ran clean has its
    open violation alert resolved by the system. Returns the run's result:
    totals and every rule's result with a sample of violating rows."""
    started = timezone.now()
    selected = select_rules(rules, area)
    results = []
    for index, rule in enumerate(selected):
        if ctx is not None:
            ctx.check_cancelled()
            ctx.progress(100.0 * index / max(len(selected), 1), f"rule {rule.name}")
        results.append(evaluate(rule, ctx))
    by_area: dict[str, list] = defaultdict(list)
    for result in results:
        by_area[result.area].append(result)
    areas = {}
    for area_name, area_results in sorted(by_area.items()):
        areas[area_name] = _alert_area(area_name, area_results, job=job, run=run)
    totals = {
        "rules_run": len(results),
        "passed": sum(r.status == "passed" for r in results),
        "with_violations": sum(r.status == "violations" for r in results),
        "errors": sum(r.status == "error" for r in results),
        "violations": sum(r.violations for r in results),
    }
    return {
        "started_at": started.isoformat(),
        "filters": {"rules": rules or None, "area": area or None},
        "totals": totals,
        "areas": areas,
        "rules": [r.as_dict() for r in results],
    }


def _alert_area(area: str, results: list, *, job: Any, run: Any) -> dict[str, Any]:
    violations = sum(r.violations for r in results)
    errors = [r for r in results if r.status == "error"]
    severity = severity_for(violations)
    summary: dict[str, Any] = {
        "violations": violations,
        "severity": severity,
        "errors": len(errors),
        "alert": None,
    }
    if severity:
        offending = [r for r in results if r.violations]
        alert = alert_raise(
            type=AlertType.COMPLIANCE_VIOLATION,
            severity=severity,
            job=job,
            run=run,
            area=area,
            title=f"Compliance violations in {area}",
            message=f"Found {violations} compliance violation(s) in {area}: "
            + ", ".join(
                f"{r.rule} ({r.violations}{'+' if r.truncated else ''})" for r in offending
            ),
            details={
                "violations": violations,
                "rules": [
                    {
                        "rule": r.rule,
                        "violations": r.violations,
                        "truncated": r.truncated,
                        "sample": r.sample,
                    }
                    for r in offending
                ],
            },
        )
        summary["alert"] = alert.pk
    elif not errors and job is not None:
        alerts_resolve_recovered(
            job,
            [AlertType.COMPLIANCE_VIOLATION],
            notes=f"No violations in {area} any more.",
            area=area,
        )
    if errors:
        alert_raise(
            type=AlertType.COMPLIANCE_RULE_ERROR,
            severity="high",
            job=job,
            run=run,
            area=area,
            title=f"Compliance rule(s) failed in {area}",
            message="; ".join(f"{r.rule}: {r.error}" for r in errors),
            details={"rules": [{"rule": r.rule, "error": r.error} for r in errors]},
        )
    return summary


def compliance_run(
    *,
    actor: Actor,
    trigger: str,
    rules: list[str] | None = None,
    area: str | None = None,
    reason: str = "",
    force: bool = False,
):
    """Queue a run of the compliance job for all enabled rules or a subset
    (validated now, so a typo is refused before anything is queued).
    Audited as compliance.run (the trigger itself as run.trigger). A disabled
    compliance job is refused (Conflict) unless `force`."""
    from jobs.services.runs import run_trigger

    if rules is not None and (
        not isinstance(rules, list) or not all(isinstance(r, str) for r in rules)
    ):
        raise ValidationError("rules must be a list of rule names", fields={"rules": "not a list"})
    if area is not None and not isinstance(area, str):
        raise ValidationError("area must be a string", fields={"area": "not a string"})
    selected = select_rules(rules, area)
    if not selected:
        raise ValidationError(
            "no enabled rule matches", fields={"area" if area else "rules": "no enabled rule"}
        )
    parameters = {k: v for k, v in {"rules": rules, "area": area}.items() if v}
    with transaction.atomic():
        run = run_trigger(
            JOB_NAME,
            actor=actor,
            trigger=trigger,
            parameters=parameters,
            reason=reason,
            force=force,
        )
        audit_record(
            actor=actor,
            action="compliance.run",
            target_type="run",
            target=str(run.pk),
            job_name=JOB_NAME,
            changes={"rules": [r.name for r in selected]},
            reason=reason,
        )
    return run
