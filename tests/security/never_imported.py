"""Named as a python target by the attacks: saving such a job must never
import it in the web process (it is not registered nor allowed)."""

IMPORTED = True


def run(ctx):
    return "should never run"
