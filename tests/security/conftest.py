"""Personas for the attacks: the API personas of tests/api, plus an admin
who holds jobs.manage_execution_jobs and a viewer who owns a job."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from tests.api.conftest import (  # noqa: F401  (fixtures re-exported)
    _client,
    admin_client,
    anon_client,
    operator_client,
    viewer_client,
)
from tests.monitoring.history import user_with_role


@pytest.fixture
def exec_admin_client(db):
    user = user_with_role("admin", "erin")
    user.user_permissions.add(Permission.objects.get(codename="manage_execution_jobs"))
    return _client(user)


@pytest.fixture
def owner(db):
    return user_with_role("viewer", "owen")


@pytest.fixture
def owner_client(owner):
    return _client(owner)
