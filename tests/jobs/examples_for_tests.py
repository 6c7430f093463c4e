"""More job functions for worker tests."""

import time


def streaming(ctx):
    for i in range(1, 11):
        ctx.logger.info("line %d", i)
        ctx.progress(i * 10, f"step {i}")
        time.sleep(0.4)
    return {"lines": 10}


def needs_token(ctx):
    """Fails on the first attempt; the retry must still get the real token."""
    token = ctx.parameters["api_token"]
    assert token != "********"
    if ctx.attempt == 1:
        raise RuntimeError("first attempt fails")
    return {"token_length": len(token)}
