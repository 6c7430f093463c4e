"""Issue 12 item 13: admin logins are locked out after repeated failures
(django-axes), and passwords pass Django's four validators."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/?next=/admin/"
ATTACKER, COLLEAGUE = "203.0.113.66", "198.51.100.20"
GOOD = "correct-horse-battery-staple"


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", GOOD)


def login(client: Client, password: str, username: str = "root", **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def test_failures_lock_the_pair_out_even_for_the_right_password(admin_user):
    client = Client(REMOTE_ADDR=ATTACKER)
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, f"guess-{i}").status_code == 200  # the form again, with an error
    assert login(client, "last-guess").status_code == 429
    locked = login(client, GOOD)
    assert locked.status_code == 429 and b"too many login attempts" in locked.content
    assert not logged_in(client)


def test_a_lockout_does_not_shut_the_real_admin_out_from_elsewhere(admin_user):
    attacker = Client(REMOTE_ADDR=ATTACKER)
    for i in range(settings.AXES_FAILURE_LIMIT):
        login(attacker, f"guess-{i}")
    colleague = Client(REMOTE_ADDR=COLLEAGUE)
    assert login(colleague, GOOD).status_code == 302
    assert logged_in(colleague)


def test_a_forged_x_forwarded_for_does_not_escape_the_lockout(admin_user):
    client = Client(REMOTE_ADDR=ATTACKER)
    for i in range(settings.AXES_FAILURE_LIMIT):
        login(client, f"guess-{i}", HTTP_X_FORWARDED_FOR=f"192.0.2.{i + 1}")
    assert login(client, GOOD, HTTP_X_FORWARDED_FOR="192.0.2.200").status_code == 429
    assert not logged_in(client)


@override_settings(AXES_FAILURE_LIMIT=2)
def test_the_failure_limit_is_a_setting(admin_user):
    client = Client(REMOTE_ADDR=ATTACKER)
    assert login(client, "one").status_code == 200
    assert login(client, "two").status_code == 429


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("Xk9#mP2qLw", "too short"),  # 10 characters: Django's default minimum would allow it
        ("password1234", "too common"),
        ("839201746251", "entirely numeric"),
        ("ops-deployer-1", "too similar"),
    ],
)
def test_the_admin_refuses_a_weak_password_and_creates_no_user(admin_user, password, why):
    client = Client()
    client.force_login(admin_user)
    form = {"username": "ops-deployer", "password1": password, "password2": password}
    response = client.post("/admin/auth/user/add/", {**form, "usable_password": "true"})
    assert response.status_code == 200  # the form again
    assert why in response.content.decode()
    assert not get_user_model().objects.filter(username="ops-deployer").exists()


def test_the_admin_accepts_a_strong_password(admin_user):
    client = Client()
    client.force_login(admin_user)
    strong = "tidal-quartz-harbor-97"
    form = {"username": "ops-deployer", "password1": strong, "password2": strong}
    response = client.post("/admin/auth/user/add/", {**form, "usable_password": "true"})
    assert response.status_code == 302, response.content[:2000]
    assert get_user_model().objects.get(username="ops-deployer").check_password(strong)
