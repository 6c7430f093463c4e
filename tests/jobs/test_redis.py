"""jobs.redis: the held connection and its hand-packed script calls, against
real Redis (a script the server forgot, a connection it dropped)."""

from __future__ import annotations

import pytest

from jobs.redis import _pack, get_held_redis, get_redis, held_script_call

KEY = "jobwarden:test:held"
SOURCE = "return {redis.call('incrby', KEYS[1], ARGV[1]), ARGV[2]}"


@pytest.fixture
def script():
    get_redis().delete(KEY)
    yield get_held_redis().register_script(SOURCE)
    get_redis().delete(KEY)


def test_a_script_call_returns_what_redis_py_would(script):
    assert held_script_call(script, [KEY], [5, "é"]) == [5, "é".encode()]
    assert script(keys=[KEY], args=[5, "é"]) == [10, "é".encode()]


def test_a_script_the_server_does_not_know_is_loaded_and_run(script):
    get_redis().script_flush()
    assert held_script_call(script, [KEY], [1, b"x"]) == [1, b"x"]
    assert held_script_call(script, [KEY], [1, b"x"]) == [2, b"x"]


def test_a_dropped_connection_is_reconnected_and_the_call_made(script):
    held = get_held_redis()
    held_script_call(script, [KEY], [1, ""])
    before = held.client_id()
    get_redis().client_kill_filter(_id=before)
    assert held_script_call(script, [KEY], [1, ""]) == [2, b""]
    assert int(get_redis().get(KEY)) == 2  # once, not retried twice
    assert held.client_id() != before  # on a new connection


def test_arguments_are_packed_as_redis_expects_them():
    packed = _pack((b"EVALSHA", "ab", 0, "é"))
    assert packed == b"*4\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n0\r\n$2\r\n\xc3\xa9\r\n"
    with pytest.raises(TypeError, match="not float"):
        _pack(("x", 1.5))


def test_commands_sent_together_answer_in_order_and_an_error_keeps_the_connection_in_step():
    from redis.exceptions import ResponseError

    from jobs.redis import held_commands

    get_redis().delete(KEY)
    assert held_commands((b"RPUSH", KEY, "a"), (b"RPUSH", KEY, "b"), (b"LLEN", KEY)) == [1, 2, 2]
    with pytest.raises(ResponseError):
        held_commands((b"INCR", KEY), (b"LLEN", KEY))  # a list is not a counter
    assert held_commands((b"LRANGE", KEY, 0, -1)) == [[b"a", b"b"]]
    get_redis().delete(KEY)


def test_commands_on_a_dropped_connection_are_sent_again_on_a_new_one():
    from jobs.redis import held_commands

    held = get_held_redis()
    get_redis().delete(KEY)
    held_commands((b"PING",))
    get_redis().client_kill_filter(_id=held.client_id())
    assert held_commands((b"RPUSH", KEY, "x"), (b"LLEN", KEY)) == [1, 1]
    get_redis().delete(KEY)


def test_a_transaction_runs_whole_and_a_failed_command_in_it_raises():
    from redis.exceptions import ResponseError

    from jobs.redis import held_transaction

    other = KEY + ":other"
    get_redis().delete(KEY, other)
    assert held_transaction((b"RPUSH", KEY, "a", "b"), (b"LPUSH", other, "m")) == [2, 1]
    with pytest.raises(ResponseError):
        held_transaction((b"INCR", KEY), (b"LPUSH", other, "n"))  # the list is no counter
    # MULTI/EXEC has no rollback: the rest ran; the connection is in step
    assert held_transaction((b"LLEN", other)) == [2]
    get_redis().client_kill_filter(_id=get_held_redis().client_id())
    assert held_transaction((b"LLEN", KEY), (b"LLEN", other)) == [2, 2]
    get_redis().delete(KEY, other)
