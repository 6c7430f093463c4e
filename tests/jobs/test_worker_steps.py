"""The worker's bootsteps (jobs.worker_steps): timer compaction on kombu's
own Timer and Hub, the objects a prefork worker's main process runs; the
remote-control guard on Celery's own command table (through a real worker:
tests/security/test_broker_messages.py)."""

from __future__ import annotations

from types import SimpleNamespace

from kombu.asynchronous import Hub
from kombu.asynchronous.timer import Timer

from config.celery import app
from jobs.worker_steps import TimerCompaction, timer_compact


def _fired(timer: Timer) -> list:
    """Everything the timer would still run, in order (its schedule)."""
    return [entry.args[0] for _, _, entry in timer.queue if not entry.canceled]


def test_cancelled_timers_are_dropped_and_the_rest_keep_their_order():
    timer = Timer()
    noop = lambda n: None  # noqa: E731
    entries = [timer.call_after(1000 + n, noop, (n,)) for n in range(3000)]
    for n, entry in enumerate(entries):
        if n % 10:  # 90% of runs ended before their time limit
            entry.cancel()
    assert len(timer) == 3000

    assert timer_compact(timer) == 2700
    assert len(timer) == 300
    assert _fired(timer) == list(range(0, 3000, 10))
    # the iterator the event loop holds sees the compacted heap
    assert next(iter(timer))[1] is None  # the first live entry is not due yet


def test_a_heap_that_is_mostly_live_is_left_alone():
    timer = Timer()
    entries = [timer.call_after(1000 + n, lambda: None) for n in range(3000)]
    for entry in entries[:1400]:
        entry.cancel()
    assert timer_compact(timer) == 0
    assert len(timer) == 3000


def test_the_step_runs_in_every_worker_and_repeats_on_its_event_loop():
    assert TimerCompaction in app.steps["worker"]
    hub = Hub()
    step = TimerCompaction(SimpleNamespace())
    step.start(SimpleNamespace(hub=hub))
    repeating = [entry for _, _, entry in hub.timer.queue if not entry.canceled]
    assert len(repeating) == 1
    step.stop(None)
    assert step.tref is None and repeating[0].canceled
    step.start(SimpleNamespace(hub=None))  # solo/threads pools: nothing to do
    assert step.tref is None


def test_control_guard_keeps_inspection_guards_the_rest_and_is_idempotent():
    from celery.worker.control import Panel

    from jobs.worker_steps import control_guard

    handlers = dict(Panel.data)
    control_guard(handlers, Panel.meta)
    for name in ("ping", "stats", "active", "registered", "heartbeat"):
        assert handlers[name] is Panel.data[name]
    for name in ("revoke", "terminate", "shutdown", "pool_restart", "rate_limit"):
        assert handlers[name] is not Panel.data[name]
    once = dict(handlers)
    control_guard(handlers, Panel.meta)
    assert handlers == once
    assert "error" in handlers["shutdown"](None)
