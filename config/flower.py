"""Flower's configuration file: `celery -A config flower --conf=config/flower.py`
(what `make flower` runs). Flower executes this file at start-up.

Flower is for watching the workers, not for driving them. Its task API
sends any task with arguments of the caller's choosing, and its control API
revokes or terminates runs, changes rate and time limits, restarts pools and
shuts workers down: all past Jobwarden's roles and audit trail. So here:

- Flower runs in its read-only mode (403 for every task and worker
  operation, no buttons) unless FLOWER_ALLOW_CONTROL=true; it also stops
  switching the workers' task events on (a control command of its own:
  turn them on with CELERY_WORKER_SEND_TASK_EVENTS instead);
- /metrics needs the same login as the rest (Flower serves it to anyone);
- Flower listens on 127.0.0.1 unless FLOWER_ADDRESS says otherwise;
- it refuses to start without a login. The login comes from the
  environment (FLOWER_BASIC_AUTH=user:password, read by Flower itself),
  never from the command line, where `ps` shows it to every local user.
"""

from __future__ import annotations

from flower import urls as _urls
from flower.views import monitor as _monitor
from tornado import web as _web
from tornado.options import options as _options

from config.env import env_bool as _env_bool
from config.env import env_str as _env_str

# Off by default: Flower is for watching; an admin who wants its task and
# worker operations (past Jobwarden's roles and audit) turns them on.
_ALLOW_CONTROL = _env_bool("FLOWER_ALLOW_CONTROL", False)

# Flower options (names Flower knows; every other name here starts with "_").
read_only = not _ALLOW_CONTROL
enable_events = _ALLOW_CONTROL
# Local only unless told: Flower shows every worker, queue and task name.
address = _env_str("FLOWER_ADDRESS", "127.0.0.1")


class _AuthenticatedMetrics(_monitor.Metrics):
    @_web.authenticated
    async def get(self) -> None:
        await super().get()


def _with_authenticated_metrics(handlers: list) -> list:
    return [
        ("/metrics", _AuthenticatedMetrics)
        if isinstance(spec, tuple) and spec[1] is _monitor.Metrics
        else spec
        for spec in handlers
    ]


# In place: Flower builds its application from this very list, after this
# file ran.
_urls.handlers[:] = _with_authenticated_metrics(_urls.handlers)

if "read_only" not in _options:  # a Flower without it would ignore the line above
    raise SystemExit("Jobwarden needs Flower 2.2 or later (its read-only mode)")
if not (_options.basic_auth or _options.auth):
    raise SystemExit(
        "Flower needs a login: set FLOWER_BASIC_AUTH=user:password in its environment "
        "(or FLOWER_AUTH with an OAuth provider)"
    )
