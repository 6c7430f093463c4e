"""`manage.py compliance run [--area A] [--rule R]... [--no-wait] [--json] |
rules [--json] | demo`.

`run` queues a tracked run of the compliance job (workers execute it) and,
unless --no-wait, waits for it and prints the result; exit 1 if the run did
not succeed. Domain errors: one line on stderr, exit 1."""

from __future__ import annotations

import time

from jobs.actors import Actor
from jobs.cli import print_json
from jobs.cli.command import SubcommandCommand


def cmd_run(options) -> int:
    from compliance.api.serializers import ComplianceRunSerializer
    from compliance.services import compliance_run
    from jobs.models import JobRun

    run = compliance_run(
        actor=Actor.cli(options.get("user")),
        trigger="cli",
        rules=options["rule"] or None,
        area=options["area"],
        reason=options["reason"] or "",
        force=options["force"],
    )
    if not options["no_wait"]:
        deadline = time.monotonic() + options["timeout"]
        while run.status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
            run = JobRun.objects.get(pk=run.pk)
    if options["json"]:
        print_json(ComplianceRunSerializer(run).data)
    else:
        print(f"compliance run {run.pk}: {run.status}")
        result = run.result if isinstance(run.result, dict) else {}
        if result.get("totals"):
            t = result["totals"]
            print(
                f"{t['rules_run']} rules run, {t['passed']} passed, {t['with_violations']} with violations, {t['errors']} errors"
            )
            for r in result.get("rules", []):
                extra = f" — {r['error']}" if r["error"] else ""
                print(
                    f"  {r['area']:<15} {r['rule']:<45} {r['status']:<11} {r['violations']}{extra}"
                )
    if options["no_wait"]:
        return 0
    return 0 if run.status == "succeeded" else 1


def cmd_rules(options) -> int:
    from compliance.api.serializers import RuleSerializer
    from compliance.selectors import rule_list

    rows = RuleSerializer(rule_list(area=options["area"]), many=True).data
    if options["json"]:
        print_json(rows)
        return 0
    for r in rows:
        print(
            f"{r['id']:<4} {r['kind']:<7} {'on ' if r['enabled'] else 'off'} {r['area']:<15} {r['name']}"
        )
    return 0


def cmd_demo(options) -> int:
    from compliance.demo import demo_load

    created = demo_load()
    print("compliance demo: " + ", ".join(f"{n} {k} created" for k, n in created.items()))
    return 0


class Command(SubcommandCommand):
    help = "Run compliance checks, list rules, load the demo."

    def add_subcommands(self, sub):
        p = sub.add_parser(
            "run", help="run the compliance check now (all enabled rules or a subset)"
        )
        p.add_argument("--area")
        p.add_argument("--rule", action="append", help="a rule name (repeatable)")
        p.add_argument("--reason")
        p.add_argument(
            "--force", action="store_true", help="run even if the compliance job is disabled"
        )
        p.add_argument("--no-wait", action="store_true")
        p.add_argument(
            "--timeout", type=float, default=1500, help="seconds to wait (default 25 min)"
        )
        p.add_argument("--user")
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=cmd_run)

        p = sub.add_parser("rules", help="list the rules")
        p.add_argument("--area")
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=cmd_rules)

        p = sub.add_parser("demo", help="load the demo warehouses, stock and rules (idempotent)")
        p.set_defaults(handler=cmd_demo)
