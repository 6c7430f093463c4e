"""Property-based run of the whole API against its own OpenAPI schema:
whatever the input, the API answers without a server error (5xx)."""

import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
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
def token(transactional_db):
    from jobs.actors import Actor
    from monitoring.tokens import token_create

    UserFactory(username="fuzzer", is_superuser=True, is_staff=True)
    return token_create("fuzzer", actor=Actor.system()).key


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("API_FUZZ_EXAMPLES", "10")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
# Autocommit, as in production: one request's database error must not leave
# a shared test transaction aborted for the next generated example.
@pytest.mark.django_db(transaction=True)
def test_no_input_makes_the_api_fail_with_a_server_error(case, token):
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=[not_a_server_error])
