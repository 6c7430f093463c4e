"""Job functions the attacks run (under JOBS_PYTHON_ALLOWED_TARGETS in the
test settings): each returns something that is not a JSON result."""

import os


def leak_environment(ctx):
    return os.environ  # an os._Environ, not a dict: refused, never repr()'d


def returns_a_set(ctx):
    return {"ids": {1, 2, 3}}


def returns_too_much(ctx):
    return "x" * (1024 * 1024)


def returns_json(ctx):
    return {"ok": [1, 2.5, "three", None, True]}


def returns_parameters(ctx):
    return {"params": ctx.parameters}  # macros are dates: stored as ISO text
