"""Issue 12 item 6: every admin action checks the same permission as its API
twin. A staff user with only the viewer role posts each action to the admin
changelist; nothing runs."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from alerts.models import Channel, Delivery
from alerts.services import channel_create
from compliance.services import rule_create
from jobs.actors import Actor
from jobs.models import JobRun
from tests.factories import JobFactory
from tests.monitoring.history import user_with_role

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system()


@pytest.fixture
def staff_viewer(client):
    client.force_login(user_with_role("viewer", "vera", is_staff=True))
    return client


@pytest.fixture
def staff_operator(client):
    client.force_login(user_with_role("operator", "oscar", is_staff=True))
    return client


def _post_action(client, model: str, action: str, pks: list[int]):
    return client.post(
        reverse(f"admin:{model}_changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in pks]},
        follow=True,
    )


@pytest.fixture
def channel(settings):
    settings.JOBS_HTTP_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    return channel_create(
        {"name": "ops", "kind": "slack", "secrets": {"url": "http://127.0.0.1:9/hook"}},
        actor=SYSTEM,
    )


@pytest.fixture
def rule(compliance_db):
    JobFactory(
        name="compliance-check",
        target="compliance.jobs:compliance_check",
        overridable_parameters=["rules", "area"],  # as its @job declares
    )
    return rule_create(
        {"name": "one", "area": "a", "query": "SELECT 1 WHERE false", "database": "compliance"},
        actor=SYSTEM,
    )


def test_staff_viewer_cannot_send_a_channel_test_from_the_admin(staff_viewer, channel):
    response = _post_action(staff_viewer, "alerts_channel", "send_test", [channel.pk])

    assert response.status_code == 200
    assert not Delivery.objects.exists()
    assert "send_test" not in response.content.decode()  # not even offered


def test_staff_viewer_cannot_run_compliance_rules_from_the_admin(staff_viewer, rule):
    _post_action(staff_viewer, "compliance_rule", "run_selected", [rule.pk])

    assert not JobRun.objects.exists()


def test_staff_operator_runs_compliance_rules_like_the_api_allows(staff_operator, rule):
    _post_action(staff_operator, "compliance_rule", "run_selected", [rule.pk])

    assert JobRun.objects.filter(job__name="compliance-check").count() == 1


def test_every_custom_admin_action_declares_a_permission():
    """The audit as a rule: an action without `permissions=` would run for
    any staff user who can see the changelist."""
    unchecked = [
        f"{model._meta.label}.{name}"
        for model, model_admin in admin.site._registry.items()
        for func, name, _ in model_admin._get_base_actions()
        if name != "delete_selected" and not getattr(func, "allowed_permissions", None)
    ]
    assert unchecked == []


def test_channel_admin_action_is_offered_to_channel_managers(client, channel):
    client.force_login(user_with_role("admin", "alice", is_staff=True))
    response = client.get(reverse("admin:alerts_channel_changelist"))
    assert "send_test" in response.content.decode()
    assert Channel.objects.count() == 1


def test_beat_admin_with_its_unchecked_run_tasks_action_is_not_exposed(client, django_user_model):
    """django-celery-beat's PeriodicTask admin offers `run_tasks` (any task, any
    arguments) with no permission check; its rows mirror the jobs."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="django_celery_beat")
    )
    client.force_login(user)

    response = client.post(
        "/admin/django_celery_beat/periodictask/",
        {"action": "run_tasks", "_selected_action": ["1"]},
    )

    assert response.status_code == 404
