"""Redis clients for leases, cancel flags, circuit state and the run journal.

get_redis: one pooled client per process. redis-py's pool notices a fork and
reconnects, so a client made before the prefork pool started is still safe
in the children. get_held_redis: one held connection per process, for the
commands every run makes; it is never shared across a fork."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings
from redis.exceptions import ConnectionError, NoScriptError, ResponseError, TimeoutError


@lru_cache(maxsize=4)
def client_for(url: str) -> redis.Redis:
    """The pooled client of one Redis URL (one per process and URL)."""
    return redis.Redis.from_url(
        url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30
    )


def get_redis() -> redis.Redis:
    return client_for(settings.REDIS_URL)


_held: dict[tuple[str, int], redis.Redis] = {}
_held_lock = threading.Lock()


def get_held_redis() -> redis.Redis:
    """A client that holds one connection, for a process's per-run commands
    (a run's claim and end): no trip through the pool per command, which
    cost a third of each call. One per process and URL, made in the process
    that uses it, since a held connection must never cross a fork. Its
    commands are serialized by redis-py's own lock."""
    key = (settings.REDIS_URL, os.getpid())
    client = _held.get(key)
    if client is None:
        with _held_lock:
            client = _held.get(key)
            if client is None:
                client = redis.Redis(
                    connection_pool=get_redis().connection_pool, single_connection_client=True
                )
                _held[key] = client
    return client


def held_script_call(script: Any, keys: Sequence[str], args: Sequence[str | int | bytes]) -> Any:
    """Run a registered Lua script (redis-py's Script, for its SHA and text)
    on this process's held connection, its EVALSHA packed here.

    For the calls every run makes (its claim). redis-py's general path
    (Script.__call__, the per-argument encoder, the retry wrapper) cost as
    much CPU as the call itself; this one sends the same bytes. A script the
    server does not know yet, or a connection that failed, goes through
    redis-py's own path, which loads the script, reconnects and retries."""
    try:
        return _held_send([(b"EVALSHA", script.sha, len(keys), *keys, *args)])[0]
    except (NoScriptError, ConnectionError, TimeoutError, _NotHeld):
        return script(keys=list(keys), args=list(args), client=get_held_redis())


def held_commands(*commands: Sequence[str | int | bytes]) -> list[Any]:
    """Send `commands` in one write on the held connection and return their
    replies: a pipeline without MULTI (each command still runs whole, in
    order). A connection that failed goes through redis-py's pipeline, which
    reconnects and retries: a command may then run twice, so only commands
    that may (an append the journal applies once, an expiry) are sent so."""
    try:
        return _held_send(commands)
    except (ConnectionError, TimeoutError, _NotHeld):
        return _pipeline(commands, transaction=False)


def held_transaction(*commands: Sequence[str | int | bytes]) -> list[Any]:
    """Run `commands` in one MULTI/EXEC on the held connection (all of them,
    in order, or none) and return their results. A connection that failed
    goes through redis-py's transaction pipeline, which reconnects and
    retries: the commands may then run twice, so they must allow it."""
    try:
        replies = _held_send([(b"MULTI",), *commands, (b"EXEC",)])
    except (ConnectionError, TimeoutError, _NotHeld):
        return _pipeline(commands, transaction=True)
    results = replies[-1]  # EXEC's: one per command (no WATCH, so never aborted)
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


def _pipeline(commands: Sequence[Sequence[str | int | bytes]], *, transaction: bool) -> list[Any]:
    # redis-py's own path: it reconnects and retries
    pipe = get_held_redis().pipeline(transaction=transaction)
    for command in commands:
        pipe.execute_command(*command)
    return pipe.execute()


class _NotHeld(Exception):
    pass


def _held_send(commands: Sequence[Sequence[str | int | bytes]]) -> list[Any]:
    client = get_held_redis()
    conn = client.connection
    if conn is None:
        raise _NotHeld
    packed = b"".join(_pack(command) for command in commands)
    replies: list[Any] = []
    error: ResponseError | None = None
    with client.single_connection_lock:
        conn.send_packed_command([packed])
        for _ in commands:
            try:
                replies.append(conn.read_response())
            except ResponseError as exc:  # read every reply: the connection stays in step
                error = error or exc
                replies.append(exc)
    if error is not None:
        raise error
    return replies


def _pack(args: Sequence[str | int | bytes]) -> bytes:
    # RESP: *<count> then $<length> + bytes per argument
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, int):
            data = b"%d" % arg
        else:
            raise TypeError(
                f"a command argument must be str, bytes or int, not {type(arg).__name__}"
            )
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)
