"""The personas of tests/api (admin, operator, viewer … clients) and its
sample job, for the attacks performed here through the public doors."""

import pytest

from tests.api.conftest import (  # noqa: F401 - fixtures
    admin_client,
    anon_client,
    job,
    operator_client,
    outsider_client,
    viewer_client,
)


@pytest.fixture
def executor_client(db):
    """An admin who also holds manage_execution_jobs: may define process and
    SQL jobs, so what is refused here is refused for everyone."""
    from django.contrib.auth.models import Permission

    from tests.api.conftest import _client
    from tests.monitoring.history import user_with_role

    user = user_with_role("admin", "exa")
    user.user_permissions.add(Permission.objects.get(codename="manage_execution_jobs"))
    return _client(user)


@pytest.fixture
def owner(db):
    """A viewer who owns the job under attack: owning grants no execution rights."""
    from tests.monitoring.history import user_with_role

    return user_with_role("viewer", "owen")


@pytest.fixture
def owner_client(owner):
    from tests.api.conftest import _client

    return _client(owner)
