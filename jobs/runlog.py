"""The run journal: the per-run path writes to Redis, PostgreSQL gets batches.

Why: a durable PostgreSQL commit per state change (queued, running, ended)
cost more CPU than Celery itself per short run. Instead the hot path appends
small events to one Redis list — the same Redis, with the same durability,
as the broker that already carries the run's message — and a flusher applies
them to PostgreSQL in batches: a run that starts and ends between two
flushes becomes a single INSERT of its final row, and a job's live state one
UPDATE per batch instead of one per run.

- queued (`q`): a run triggered from code; person triggers, beat fires and
  retries are written to PostgreSQL first (they need the row at once).
- started (`s`): pushed by the claim itself, atomically (see CLAIM).
- ended (`e`): the run's final row, with the statuses it may end from.

Order is the list's order. Applying is idempotent (a batch re-applied after
a flusher died before trimming changes nothing): every transition is
checked against the row's current status under a row lock.

Who flushes: each worker's journal writer process, with backstops (see
jobs.journal_writer), and any code that needs to read or change runs it may
not see yet calls flush(), which drains the journal itself (read-your-writes).
One flusher at a time holds a Redis lock; a flusher that dies loses nothing,
the lock expires.

Claims: at most one execution per run. The claim key of a run is set once
(by the worker that starts it, or by whoever ends it unstarted: skipped,
cancelled) and lives at least JOBS_CLAIM_MEMORY past the run's end, so a
second delivery of a fresh message finds it. An older message (redelivered
after a crash, or long queued) is checked against PostgreSQL after a flush.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db.models.base import ModelState

from jobs.models import JobRun
from jobs.redis import get_held_redis, held_commands, held_script_call
from jobs.redis import get_redis as _get_redis

logger = logging.getLogger(__name__)


def get_redis() -> Any:
    # redis-py types every reply as "value or awaitable"; this client is sync.
    return _get_redis()


KEY = "jobwarden:runlog"
LOCK_KEY = "jobwarden:runlog:lock"
DEAD_KEY = "jobwarden:runlog:dead"  # events the database refused, kept for a person
# A flusher renews its lock with every batch; one that died (a killed writer)
# holds up the others no longer than this. Expiry mid-batch is safe: a batch
# applied twice changes nothing, and only the flusher whose batch is still
# at the head trims it.
_LOCK_TTL_MS = 10_000
_BATCH = 500

RUN_FIELDS = [f.attname for f in JobRun._meta.concrete_fields]
_UUID_FIELDS = frozenset(
    f.attname
    for f in JobRun._meta.concrete_fields
    if getattr(f, "target_field", f).get_internal_type() == "UUIDField"
)
_TIME_FIELDS = frozenset(
    f.attname for f in JobRun._meta.concrete_fields if f.get_internal_type() == "DateTimeField"
)


def claim_key(run_id: Any) -> str:
    return f"jobwarden:claim:{run_id}"


def job_version_key(job_id: int) -> str:
    return f"jobwarden:job:{job_id}:version"


# --- encoding ---------------------------------------------------------------


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    # Only the columns that can hold them are looked at (a run's columns).
    out = dict(values)
    for name in _TIME_FIELDS.intersection(out):
        value = out[name]
        if isinstance(value, datetime):
            # Whole microseconds since the epoch: exact both ways (a float of
            # seconds can round a microsecond away).
            out[name] = (value - _EPOCH) // _MICROSECOND
    for name in _UUID_FIELDS.intersection(out):
        value = out[name]
        if isinstance(value, uuid.UUID):
            out[name] = str(value)
    return out


_to_json = json.JSONEncoder(separators=(",", ":"), default=str).encode


def encode(kind: str, run_id: Any, values: dict[str, Any], **extra: Any) -> str:
    # "<kind>|<run id>|<json>": a flusher groups a batch by run, and skips
    # the events a run's later end supersedes, without parsing them.
    return f"{kind}|{run_id}|{_to_json({'v': _plain(values), **extra})}"


def split(raw: bytes | str) -> tuple[str, str, str]:
    """An event's kind, run id and (unparsed) body."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    if text[:1] == "{":  # written by a release before the header
        event = json.loads(text)
        return event["k"], event["id"], text
    kind, run_id, body = text.split("|", 2)
    return kind, run_id, body


def decode_values(values: dict[str, Any]) -> dict[str, Any]:
    for name in _TIME_FIELDS.intersection(values):
        value = values[name]
        if isinstance(value, float):
            # float seconds: written by a release before whole microseconds
            # (JSON keeps the two apart: a float always has a '.' or exponent)
            values[name] = datetime.fromtimestamp(value, tz=UTC)
        elif value is not None:
            values[name] = _EPOCH + value * _MICROSECOND
    return values


def decode_body(body: str) -> dict[str, Any]:
    event = json.loads(body)
    decode_values(event["v"])
    return event


def decode(raw: bytes | str) -> dict[str, Any]:
    """One whole event, parsed (for tests and inspection; a flush parses
    lazily through split and decode_body)."""
    kind, run_id, body = split(raw)
    event = decode_body(body)
    event["k"], event["id"] = kind, run_id
    return event


def is_whole_row(values: dict[str, Any]) -> bool:
    """Does an event carry every column of its run (as every end does)?"""
    return len(values) >= len(RUN_FIELDS)


# Column defaults: constants once, callables (dict, uuid4, now) per run
# and only for the columns a run is missing.
_FIXED_DEFAULTS = {
    f.attname: f.get_default()
    for f in JobRun._meta.concrete_fields
    if not (f.has_default() and callable(f.default))
}
_MADE_DEFAULTS = [
    (f.attname, f.default)
    for f in JobRun._meta.concrete_fields
    if f.has_default() and callable(f.default)
]
_COLUMNS = frozenset(RUN_FIELDS)


def make_run(values: dict[str, Any]) -> JobRun:
    """A JobRun from column values (by attname), as if loaded from the
    database. Missing columns take their defaults. Built directly (no
    Model.__init__, whose per-field descriptors and init signals cost more
    than the rest of a claim; JobRun has no init signal receivers)."""
    run: JobRun = JobRun.__new__(JobRun)
    fields = run.__dict__
    fields.update(_FIXED_DEFAULTS)
    for name, default in _MADE_DEFAULTS:
        if name not in values:
            fields[name] = default()
    if _COLUMNS.issuperset(values):
        fields.update(values)
    else:
        fields.update((k, v) for k, v in values.items() if k in _COLUMNS)
    state = run._state = ModelState()
    state.adding, state.db = False, "default"
    return run


def row_values(run: JobRun) -> dict[str, Any]:
    """Every column of `run`, by attname (what an `e` event carries)."""
    return {name: getattr(run, name) for name in RUN_FIELDS}


_MESSAGE_FIELDS = (
    "attempt",
    "first_attempt_id",
    "trigger",
    "triggered_by",
    "reason",
    "parameters",
    "metadata",
    "queued_at",
    "scheduled_for",
)
# A value equal to its column's default is left out (make_run restores it):
# every byte of a message is copied, encoded and decoded several times.
# (Not a default that differs per call, as queued_at's time.)
_MESSAGE_DEFAULTS = {n: _FIXED_DEFAULTS[n] for n in _MESSAGE_FIELDS if n in _FIXED_DEFAULTS} | {
    n: default()
    for n, default in _MADE_DEFAULTS
    if n in _MESSAGE_FIELDS and default in (dict, list)
}


def message_values(run: JobRun) -> dict[str, Any]:
    """What a worker needs of a run to execute it, as JSON for its message."""
    values = {}
    for name in _MESSAGE_FIELDS:
        value = getattr(run, name)
        if name not in _MESSAGE_DEFAULTS or value != _MESSAGE_DEFAULTS[name]:
            values[name] = value
    return _plain(values)


# --- writing ----------------------------------------------------------------


def append(*events: str) -> None:
    if events:
        get_redis().rpush(KEY, *events)


# Status replies: the answer is one short line to read. A claim whose key
# already holds its own token is this very claim sent again (redis-py retries
# a call whose reply was lost with the connection): it gets the answer the
# first one got, and the event is not appended twice.
_CLAIM = """
local held = redis.call('get', KEYS[1])
if held == ARGV[1] then return redis.status_reply('ok') end
if held then return redis.status_reply('taken') end
if ARGV[4] ~= '' then
  local v = redis.call('get', KEYS[3])
  if v ~= ARGV[4] then return redis.status_reply('stale') end
  if ARGV[5] == '1' and string.sub(v, 1, 1) == '0' then return redis.status_reply('disabled') end
end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('rpush', KEYS[2], ARGV[3])
return redis.status_reply('ok')
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@lru_cache(maxsize=32)
def _cached_script(client: Any, source: str) -> Any:
    return client.register_script(source)


def _script(source: str) -> Any:
    # Sent once, then called by its SHA (EVALSHA): a claim is one short command.
    return _cached_script(get_redis(), source)


def _held_call(source: str, keys: list[str], args: list[Any]) -> Any:
    # The same, on this process's held connection (jobs.redis): for the
    # claim every run makes.
    return held_script_call(_cached_script(get_held_redis(), source), keys, args)


def claim(
    run_id: Any,
    token: str,
    event: str,
    *,
    ttl: float,
    job_id: int | None = None,
    expected_version: str = "",
    require_enabled: bool = True,
) -> str:
    """Take the run's claim key and append `event`, in one step.

    With `job_id` and `expected_version` (the worker's cached definition),
    the job's published version is compared first: 'stale' if it differs
    (nothing taken; re-read the job), 'disabled' if the job is disabled and
    `require_enabled`. Otherwise 'ok', or 'taken' if the run was already
    claimed (by a worker, or ended unstarted: cancelled, skipped). Each
    call's token is its own (`token` plus a nonce), so a retry of this call
    is told 'ok' and any other claim 'taken'."""
    keys = [claim_key(run_id), KEY, job_version_key(job_id or 0)]
    args = [
        f"{token}#{uuid.uuid4().hex[:12]}",
        int(ttl * 1000),
        event,
        expected_version,
        "1" if require_enabled else "0",
    ]
    status = _held_call(_CLAIM, keys, args)
    return status.decode() if isinstance(status, bytes) else str(status)


# A flush takes the lock and reads its first batch in one call, then trims
# each applied batch and reads the next (or releases the lock) in one more.
_TAKE = """
if not redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local n = redis.call('llen', KEYS[2])
if n == 0 then
  redis.call('del', KEYS[1])
  return {0, {}}
end
return {n, redis.call('lrange', KEYS[2], 0, math.min(n, tonumber(ARGV[3])) - 1)}
"""
# Trim only if the batch is still at the head: a flusher whose lock expired
# mid-batch must not drop events it did not apply.
_NEXT = """
if redis.call('lindex', KEYS[1], 0) == ARGV[1] then
  redis.call('ltrim', KEYS[1], ARGV[2], -1)
end
local want = tonumber(ARGV[3])
if want > 0 then
  local batch = redis.call('lrange', KEYS[1], 0, want - 1)
  if #batch > 0 then
    if redis.call('get', KEYS[2]) == ARGV[4] then redis.call('pexpire', KEYS[2], ARGV[5]) end
    return batch
  end
end
-- done, or the list shrank under us (another flusher after our lock
-- expired): either way the lock is released, never left to its TTL
if redis.call('get', KEYS[2]) == ARGV[4] then redis.call('del', KEYS[2]) end
return {}
"""


def finish(run_id: Any, event: str) -> int:
    """Append a claimed run's end; its claim key is remembered a while
    longer. Returns how many events the journal holds now.

    Two plain commands in one write, not a script: measured, Redis's own
    command time per tracked run went from 122 to 87 us (a Lua call costs
    far more than the commands it runs), and these two need no atomicity
    (were only the append to land, the claim would keep its longer expiry;
    were the pair sent twice, the second end is ignored when applied)."""
    length, _ = held_commands(
        (b"RPUSH", KEY, event),
        (b"PEXPIRE", claim_key(run_id), int(settings.JOBS_CLAIM_MEMORY * 1000)),
    )
    return int(length)


def flush_if_due(length: int) -> None:
    """Called by a worker after it ended a run: a journal this long means
    its writer has fallen behind (or is down), so the workers that fill it
    drain it too."""
    if length >= settings.JOBS_RUNLOG_BATCH_MIN:
        try:
            flush(wait=False)
        except Exception:
            logger.exception("run journal flush failed; another flusher will apply it")


def job_version(enabled: bool, updated_at: datetime | None) -> str:
    return f"{1 if enabled else 0}|{updated_at.timestamp() if updated_at else ''}"


def job_version_publish(job_id: int, enabled: bool, updated_at: datetime | None) -> None:
    """Tell workers what a job's definition is now (after a change, or after
    a worker read it from the database because the published one differed
    from its cache). Expires, so a version never outlives its database."""
    get_redis().set(
        job_version_key(job_id),
        job_version(enabled, updated_at),
        ex=int(settings.JOBS_CLAIM_MEMORY) + 3600,
    )


def job_version_forget(job_id: int) -> None:
    get_redis().delete(job_version_key(job_id))


# --- flushing ---------------------------------------------------------------


class RunlogBusy(RuntimeError):
    pass


def pending() -> int:
    return int(get_redis().llen(KEY))


def flush(*, wait: bool = True, timeout: float = 30.0) -> int:
    """Apply every journal event to the database; returns how many.

    With `wait`, a flush in progress elsewhere is waited for, then whatever
    is left is applied here: on return, everything appended before the call
    is in the database. Without it, returns 0 if another flusher is busy."""
    token = uuid.uuid4().hex
    deadline = time.monotonic() + timeout
    while not (taken := _script(_TAKE)(keys=[LOCK_KEY, KEY], args=[token, _LOCK_TTL_MS, _BATCH])):
        if not wait:
            return 0
        if time.monotonic() > deadline:
            raise RunlogBusy("the run journal is locked by another flusher")
        time.sleep(0.002)
    from jobs.services.journal import runs_apply

    # Only what is there now: events appended meanwhile wait for the next
    # flush, so batches stay large under load.
    left, raw = int(taken[0]), taken[1]
    total = 0
    try:
        while raw:
            _apply(raw, runs_apply)
            total += len(raw)
            left -= len(raw)
            want = max(min(left, _BATCH), 0)
            raw = _script(_NEXT)(
                keys=[KEY, LOCK_KEY], args=[raw[0], len(raw), want, token, _LOCK_TTL_MS]
            )
    except BaseException:
        _script(_RELEASE)(keys=[LOCK_KEY], args=[token])
        raise
    return total


def status() -> dict[str, Any]:
    """What waits in the journal: events not yet in the database, events the
    database refused (set aside), and whether a flush is in progress."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.llen(KEY)
    pipe.llen(DEAD_KEY)
    pipe.exists(LOCK_KEY)
    pending_count, dead_count, flushing = pipe.execute()
    return {"pending": int(pending_count), "dead": int(dead_count), "flushing": bool(flushing)}


# Moves every set-aside event to the journal's tail, atomically (an event is
# never in both lists, nor in neither).
_REQUEUE_DEAD = """
local events = redis.call('lrange', KEYS[1], 0, -1)
for i = 1, #events, 1000 do
  redis.call('rpush', KEYS[2], unpack(events, i, math.min(i + 999, #events)))
end
redis.call('del', KEYS[1])
return #events
"""


def dead_requeue() -> dict[str, int]:
    """Give the events the database refused another try (after the cause was
    fixed): back into the journal, then a flush. Applying is idempotent, and
    an event refused again is set aside again. Returns how many were retried
    and how many were refused again."""
    moved = int(_script(_REQUEUE_DEAD)(keys=[DEAD_KEY, KEY]))
    if moved:
        flush()
    return {"retried": moved, "refused": int(get_redis().llen(DEAD_KEY))}


def _apply(raw: list[bytes], runs_apply: Callable[[list[bytes]], Any]) -> None:
    """Apply a batch; if the database refuses it (not: is unreachable), apply
    its events one by one and set aside the ones it refuses, so one bad event
    never stops the journal."""
    from django.db import InterfaceError, OperationalError

    try:
        runs_apply(raw)
        return
    except (OperationalError, InterfaceError):
        raise  # unreachable: the events stay in the journal for the next flush
    except Exception:
        logger.exception("a run journal batch was refused; applying its events one by one")
    for event in raw:
        try:
            runs_apply([event])
        except (OperationalError, InterfaceError):
            raise
        except Exception:
            logger.exception("run journal event refused; kept in %s: %.500r", DEAD_KEY, event)
            get_redis().rpush(DEAD_KEY, event)


def peek() -> tuple[bytes | None, int]:
    """The journal's first event and its length (one round trip)."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.lindex(KEY, 0)
    pipe.llen(KEY)
    head, length = pipe.execute()
    return head, int(length)
