"""Domain signals the engine sends, declared in one place.

Receivers (monitoring, alerts) must be cheap or hand work to a task: these are
sent on the per-run path, after the run's end is committed.
"""

from django.dispatch import Signal

# A run reached a final status (succeeded, failed, retrying, timed_out,
# cancelled, skipped, orphaned). kwargs: run (JobRun), job (Job, live state
# already updated), previous_consecutive_failures (int, before this run; a
# success with previous > 0 is a recovery), will_retry (bool: a failed,
# timed_out or orphaned attempt whose retry is already scheduled — not final).
# Sent once per run: its receivers are looked up once per sender, not per send.
run_finished = Signal(use_caching=True)

# A job was disabled automatically after repeated failures.
# kwargs: job (Job), run (JobRun that tipped it), reason (str).
job_auto_disabled = Signal()

# A disabled job was enabled again (by any door: job_enable or a spec with
# enabled: true). Sent inside the enabling transaction, so what receivers
# write commits or rolls back with it. kwargs: job (Job), actor (Actor).
job_enabled = Signal()
