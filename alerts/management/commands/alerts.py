"""`manage.py alerts list [--open] [--min-severity S] [--json] | show ID |
ack ID | resolve ID --notes TEXT | test-channel NAME | escalate | cleanup`.

Handlers parse input, call one selector or service, print text or --json
(the API's JSON shape). Domain errors: one line on stderr, exit 1."""

from __future__ import annotations

import sys

from jobs.actors import Actor
from jobs.cli import print_json
from jobs.cli.command import SubcommandCommand


def _actor(options) -> Actor:
    return Actor.cli(options.get("user"))


def cmd_list(options) -> int:
    from alerts.api.serializers import AlertSerializer
    from alerts.selectors import alert_list

    qs = alert_list(
        status="active" if options["open"] else options["status"],
        min_severity=options["min_severity"],
        type=options["type"],
        job=options["job"],
        area=options["area"],
        run=options["run"],
    )[: options["limit"]]
    rows = AlertSerializer(qs, many=True).data
    if options["json"]:
        print_json(rows)
        return 0
    if not rows:
        print("no alerts")
    for a in rows:
        where = " ".join(
            x for x in (a["job"] and f"job={a['job']}", a["area"] and f"area={a['area']}") if x
        )
        print(
            f"#{a['id']:<5} {a['severity']:<8} {a['status']:<12} ×{a['occurrences']:<4} {a['title']}  {where}"
        )
    return 0


def cmd_show(options) -> int:
    from alerts.api.serializers import AlertDetailSerializer
    from alerts.selectors import alert_get

    data = AlertDetailSerializer(alert_get(options["id"])).data
    if options["json"]:
        print_json(data)
        return 0
    for key in (
        "id",
        "type",
        "severity",
        "status",
        "title",
        "message",
        "job",
        "run",
        "area",
        "occurrences",
        "created_at",
        "last_seen_at",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
        "resolved_by",
        "resolution_notes",
        "escalated_at",
        "escalation_level",
        "suppressed_count",
    ):
        print(f"{key:>18}: {data[key] if data[key] is not None else ''}")
    for d in data["deliveries"]:
        print(
            f"  delivery #{d['id']} {d['event']} {d['kind']} → {d['target']}: {d['status']} ({d['attempts']} attempts) {d['last_error']}"
        )
    return 0


def cmd_ack(options) -> int:
    from alerts.services import alert_acknowledge

    alert = alert_acknowledge(options["id"], actor=_actor(options))
    print(f"alert #{alert.pk} acknowledged by {alert.acknowledged_by}")
    return 0


def cmd_resolve(options) -> int:
    from alerts.services import alert_resolve

    alert = alert_resolve(options["id"], actor=_actor(options), notes=options["notes"])
    print(f"alert #{alert.pk} resolved by {alert.resolved_by}")
    return 0


def cmd_test_channel(options) -> int:
    from alerts.api.serializers import DeliverySerializer
    from alerts.services import channel_test

    delivery = channel_test(options["name"], actor=_actor(options))
    if options["json"]:
        print_json(DeliverySerializer(delivery).data)
    elif delivery.status == "sent":
        print(f"test notification sent through {options['name']}")
    else:
        sys.stderr.write(
            f"test notification through {options['name']} failed: {delivery.last_error}\n"
        )
    return 0 if delivery.status == "sent" else 1


def cmd_escalate(options) -> int:
    from alerts.services import alerts_escalate

    print(f"{alerts_escalate()} alert(s) escalated")
    return 0


def cmd_cleanup(options) -> int:
    from alerts.services import alerts_cleanup

    print(
        f"{alerts_cleanup(older_than_days=options['older_than'], actor=_actor(options))} resolved alert(s) deleted"
    )
    return 0


class Command(SubcommandCommand):
    help = "List, acknowledge and resolve alerts; test notification channels."

    def add_subcommands(self, sub):
        p = sub.add_parser("list", help="alerts, newest first")
        p.add_argument("--open", action="store_true", help="only open or acknowledged alerts")
        p.add_argument("--status", choices=["open", "acknowledged", "resolved", "active"])
        p.add_argument("--min-severity", choices=["low", "medium", "high", "critical"])
        p.add_argument("--type")
        p.add_argument("--job")
        p.add_argument("--area")
        p.add_argument("--run", help="run id: alerts raised for that run")
        p.add_argument("--limit", type=int, default=100)
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=cmd_list)

        p = sub.add_parser("show", help="one alert with its deliveries")
        p.add_argument("id", type=int)
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=cmd_show)

        p = sub.add_parser("ack", help="acknowledge an alert")
        p.add_argument("id", type=int)
        p.add_argument("--user", help="record this name as the actor")
        p.set_defaults(handler=cmd_ack)

        p = sub.add_parser("resolve", help="resolve an alert (notes required)")
        p.add_argument("id", type=int)
        p.add_argument("--notes", required=True)
        p.add_argument("--user")
        p.set_defaults(handler=cmd_resolve)

        p = sub.add_parser("test-channel", help="send a test notification through a channel")
        p.add_argument("name")
        p.add_argument("--user")
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=cmd_test_channel)

        p = sub.add_parser("escalate", help="escalate overdue unacknowledged alerts now")
        p.set_defaults(handler=cmd_escalate)

        p = sub.add_parser("cleanup", help="delete old resolved alerts")
        p.add_argument("--older-than", type=int, default=None, metavar="DAYS")
        p.add_argument("--user")
        p.set_defaults(handler=cmd_cleanup)
