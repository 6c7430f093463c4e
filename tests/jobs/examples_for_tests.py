"""More job functions for worker tests."""

import time


def streaming(ctx):
    for i in range(1, 11):
        ctx.logger.info("line %d", i)
        ctx.progress(i * 10, f"step {i}")
        time.sleep(0.4)
    return {"lines": 10}
