"""Property-based run of the whole API against its own OpenAPI schema:
whatever the input, the API answers without a server error (5xx)."""

import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.db import transaction
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.factories import UserFactory

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())


@pytest.fixture(autouse=True)
def _keep_test_connection():
    # As Django's test client does: the WSGI handler must not close the
    # test's database connection at the end of each request.
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(db):
    from jobs.actors import Actor
    from monitoring.tokens import token_create

    UserFactory(username="fuzzer", is_superuser=True, is_staff=True)
    return token_create("fuzzer", actor=Actor.system()).key


@schema.parametrize()
@settings(
    # 20 per operation: in the time 10 took with a table flush per operation
    # (API_FUZZ_EXAMPLES=200 for a deeper run).
    max_examples=int(os.environ.get("API_FUZZ_EXAMPLES", "20")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.django_db
def test_no_input_makes_the_api_fail_with_a_server_error(
    case, token, django_capture_on_commit_callbacks
):
    # Each example in a savepoint rolled back after it: one request's database
    # error cannot leave the test's transaction aborted for the next example,
    # and no example sees another's rows. (A transactional test per operation
    # spent most of the run truncating tables.) The on-commit work (publishing
    # a run) still runs, and fails the example if it raises.
    savepoint = transaction.savepoint()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            case.call_and_validate(
                headers={"Authorization": f"Token {token}"}, checks=[not_a_server_error]
            )
    finally:
        transaction.savepoint_rollback(savepoint)
