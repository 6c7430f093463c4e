"""Cross-setting rules refuse a configuration that would misbehave."""

from django.test import override_settings

from jobs.checks import visibility_timeout_exceeds_job_timeouts


def ids(errors):
    return sorted(e.id for e in errors)


def test_default_configuration_passes():
    assert visibility_timeout_exceeds_job_timeouts(None) == []


@override_settings(
    CELERY_BROKER_TRANSPORT_OPTIONS={"visibility_timeout": 3600}, JOBS_MAX_TIMEOUT=4 * 3600
)
def test_visibility_timeout_shorter_than_the_longest_job_is_refused():
    errors = visibility_timeout_exceeds_job_timeouts(None)
    assert ids(errors) == ["jobs.E001"]
    assert "delivered twice" in errors[0].msg


@override_settings(JOBS_LEASE_TTL=10, JOBS_HEARTBEAT_INTERVAL=10)
def test_lease_that_can_lapse_between_heartbeats_is_refused():
    assert "jobs.E002" in ids(visibility_timeout_exceeds_job_timeouts(None))


@override_settings(JOBS_ORPHAN_AFTER=20, JOBS_LEASE_TTL=30, JOBS_HEARTBEAT_INTERVAL=5)
def test_orphan_bound_shorter_than_the_lease_is_refused():
    assert "jobs.E003" in ids(visibility_timeout_exceeds_job_timeouts(None))
