"""Run message signatures (jobs.signing): what a signature binds, and key
rotation the Django way. The attacks themselves go through a real broker
and worker in test_broker_messages.py."""

from __future__ import annotations

from jobs.signing import run_message_sign, run_message_valid

RUN_ID = "5f0c1f4e-9a53-4a43-9a3c-2f0f0c1d2e3f"
VALUES = {"trigger": "cli", "triggered_by": "ops", "parameters": {"days": 7}}


def test_a_signature_binds_the_run_id_job_sent_time_and_every_value():
    sig = run_message_sign(RUN_ID, 3, 1700000000.25, VALUES)
    assert run_message_valid(RUN_ID, 3, 1700000000.25, dict(reversed(VALUES.items())), sig)
    altered = [
        ("5f0c1f4e-9a53-4a43-9a3c-000000000000", 3, 1700000000.25, VALUES),
        (RUN_ID, 4, 1700000000.25, VALUES),
        (RUN_ID, 3, 1800000000.25, VALUES),  # a replay made to look fresh
        (RUN_ID, 3, 1700000000.25, {**VALUES, "triggered_by": "admin"}),
        (RUN_ID, 3, 1700000000.25, {**VALUES, "parameters": {"days": 8}}),
    ]
    for args in altered:
        assert not run_message_valid(*args, sig), args
    for bad in (None, "", 42, sig.upper() + "0", {"sig": sig}):
        assert not run_message_valid(RUN_ID, 3, 1700000000.25, VALUES, bad)


def test_a_message_signed_before_a_secret_key_rotation_still_verifies(settings):
    settings.SECRET_KEY = "old-key-" + "x" * 50
    sig = run_message_sign(RUN_ID, 3, 1.5, VALUES)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-key-" + "y" * 50, []
    assert not run_message_valid(RUN_ID, 3, 1.5, VALUES, sig)
    settings.SECRET_KEY_FALLBACKS = ["old-key-" + "x" * 50]
    assert run_message_valid(RUN_ID, 3, 1.5, VALUES, sig)
