"""`manage.py jobs stats | health | status | cleanup | schedule | token`.

Handlers parse options, call one selector or service, and print text or
--json (the same keys as the REST API).
"""

from __future__ import annotations

import sys
from typing import Any

from jobs.actors import Actor
from jobs.cli import print_json
from monitoring import selectors, services, tokens
from monitoring.presenters import jsonable


def register(subparsers: Any, command: Any) -> None:
    p = subparsers.add_parser(
        "stats", help="Statistics of one job over a window (default: 30 days)"
    )
    p.add_argument("name")
    p.add_argument(
        "--from", dest="start", help="start (ISO date or date-time; default 30 days before --to)"
    )
    p.add_argument("--to", dest="end", help="end (ISO date or date-time; default now)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=stats)

    p = subparsers.add_parser("health", help="Stored health of every job (worst first) or of one")
    p.add_argument("name", nargs="?")
    p.add_argument("--refresh", action="store_true", help="re-evaluate before showing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=health)

    p = subparsers.add_parser(
        "status", help="System status: jobs, health, runs, workers, last 24 h"
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-workers", action="store_true", help="do not ping Celery workers")
    p.set_defaults(handler=status)

    p = subparsers.add_parser("cleanup", help="Delete finished runs older than DAYS days")
    p.add_argument("--older-than", dest="older_than", required=True, metavar="DAYS")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cleanup)

    p = subparsers.add_parser("schedule", help="Next fire times of a job, in its zone")
    p.add_argument("name")
    p.add_argument("--count", default=10, help="how many (1..500, default 10)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=schedule)

    p = subparsers.add_parser("token", help="API tokens")
    token_sub = p.add_subparsers(dest="token_action", metavar="ACTION")
    token_sub.required = True
    t = token_sub.add_parser("create", help="Create USER's API token and print it (once)")
    t.add_argument("user")
    t.add_argument("--rotate", action="store_true", help="replace an existing token")
    t.add_argument(
        "--expires",
        metavar="DURATION",
        help="lifetime, e.g. 30d or 12h (default API_TOKEN_TTL, at most API_TOKEN_MAX_TTL)",
    )
    t.set_defaults(handler=token_create)


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.3f}s" if value < 60_000 else f"{value / 60_000:.1f}min"


def stats(options: dict[str, Any]) -> int:
    start, end = selectors.stats_window(options.get("start"), options.get("end"))
    data = jsonable(selectors.job_stats(options["name"], start, end))
    if options.get("json"):
        print_json(data)
        return 0
    d = data["duration_ms"]
    avail = data["availability"]
    rate = "-" if data["success_rate"] is None else f"{data['success_rate']}%"
    _out(f"{data['job']}  {data['from']} .. {data['to']}")
    _out(
        f"  runs       {data['total']} (succeeded {data['succeeded']}, failed {data['failed']}, success rate {rate})"
    )
    _out(
        f"  duration   min {_ms(d['min'])}  avg {_ms(d['avg'])}  median {_ms(d['median'])}  p95 {_ms(d['p95'])}  max {_ms(d['max'])}"
    )
    _out(
        f"  failures   current streak {data['consecutive_failures']}, longest {data['max_consecutive_failures']}"
    )
    downtime = data["longest_downtime_seconds"]
    _out(f"  downtime   longest {'-' if downtime is None else f'{downtime:.0f}s'}")
    pct = "-" if avail["percent"] is None else f"{avail['percent']}%"
    _out(
        f"  available  {pct} ({avail['successful_scheduled_runs']} of {avail['expected_runs']} scheduled runs)"
    )
    if data["common_errors"]:
        _out("  common errors:")
        for err in data["common_errors"]:
            _out(f"    {err['count']:>5}  {err['message']}")
    return 0


def health(options: dict[str, Any]) -> int:
    name = options.get("name")
    if options.get("refresh"):
        services.health_refresh([name] if name else None)
    if name:
        data = jsonable(selectors.job_health(name))
        if options.get("json"):
            print_json(data)
        else:
            _print_health(data)
        return 0
    items = jsonable(selectors.health_list())
    if options.get("json"):
        print_json(items)
        return 0
    for item in items:
        _print_health(item)
    return 0


def _print_health(item: dict[str, Any]) -> None:
    _out(f"{item['level'].upper():<9} {item['job']}")
    for issue in item["issues"]:
        _out(f"          - [{issue['severity']}] {issue['type']}: {issue['message']}")


def status(options: dict[str, Any]) -> int:
    data = jsonable(selectors.system_status(ping_workers=not options.get("no_workers")))
    if options.get("json"):
        print_json(data)
        return 0
    j, r, day = data["jobs"], data["runs"], data["last_24h"]
    _out(f"jobs     {j['total']} ({j['enabled']} enabled, {j['disabled']} disabled)")
    _out(
        f"health   {j['healthy']} healthy, {j['warning']} warning, {j['critical']} critical, {j['unknown']} unknown"
    )
    _out(f"runs     {r['running']} running, {r['queued']} queued")
    workers = data["workers"]
    if workers is not None:
        _out(
            f"workers  {workers['count'] if workers['count'] is not None else '?'} alive {' '.join(workers['names'])}".rstrip()
        )
    rate = "-" if day["success_rate"] is None else f"{day['success_rate']}%"
    _out(
        f"24 h     {day['runs']} runs, success rate {rate}, avg {_ms(day['avg_duration_ms'])}, {day['runs_per_hour']}/h"
    )
    if data["active_alerts"] is not None:
        _out("alerts   " + ", ".join(f"{k} {v}" for k, v in data["active_alerts"].items()))
    for p in data["problematic_jobs"]:
        _out(f"  {p['level'].upper():<9} {p['job']}: {'; '.join(p['issues'])}")
    return 0


def cleanup(options: dict[str, Any]) -> int:
    deleted = services.runs_cleanup(
        options["older_than"], actor=Actor.cli(), batch_size=options.get("batch_size")
    )
    if options.get("json"):
        print_json({"deleted": deleted, "older_than_days": int(options["older_than"])})
    else:
        _out(f"deleted {deleted} runs older than {options['older_than']} days")
    return 0


def schedule(options: dict[str, Any]) -> int:
    data = jsonable(selectors.schedule_preview(options["name"], options.get("count", 10)))
    if options.get("json"):
        print_json(data)
        return 0
    if not data["fires"]:
        _out(
            f"{data['job']}: no upcoming runs ({'disabled' if not data['enabled'] else 'not scheduled'})"
        )
    for fire in data["fires"]:
        _out(f"{fire['at']}  {fire['zone_abbreviation']}")
    return 0


def token_create(options: dict[str, Any]) -> int:
    issued = tokens.token_create(
        options["user"],
        actor=Actor.cli(),
        rotate=options.get("rotate", False),
        expires=options.get("expires"),
    )
    _out(issued.key)  # stdout holds the key alone, for scripts
    sys.stderr.write(
        f"token for {options['user']} expires {issued.expires_at.isoformat(timespec='seconds')}; "
        "it is shown only now (only its hash is stored)\n"
    )
    return 0
