"""Issue 12 item 13: API tokens are stored hashed, expire, are shown once,
and the admin lists them without their secret."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework.test import APIClient

from jobs.models import AuditEvent
from tests.api.conftest import assert_error
from tests.monitoring.history import user_with_role

pytestmark = pytest.mark.django_db
JOBS = "/api/v1/jobs/"


def create_token(username: str, *args: str, capsys) -> str:
    call_command("jobs", "token", "create", username, *args)
    return capsys.readouterr().out.strip()


def api(key: str):
    return APIClient().get(JOBS, HTTP_AUTHORIZATION=f"Token {key}")


def test_token_create_prints_a_working_key_once_and_stores_only_its_digest(capsys):
    user_with_role("viewer", "deploy-bot")
    key = create_token("deploy-bot", capsys=capsys)
    assert api(key).status_code == 200
    row = AuthToken.objects.get(user__username="deploy-bot")
    assert row.digest == hash_token(key)
    # The key is in no column of any row of the token table (a database dump
    # or a SQL job reading it finds no usable token).
    with connection.cursor() as cur:
        cur.execute(f"SELECT * FROM {AuthToken._meta.db_table}")
        assert not any(key in str(value) for row_ in cur.fetchall() for value in row_)
    assert key not in str(list(AuditEvent.objects.values_list("changes", "target", "reason")))


def test_token_expires_after_the_default_ttl_and_is_then_refused(capsys, settings):
    user_with_role("viewer", "ci-bot")
    key = create_token("ci-bot", capsys=capsys)
    expiry = AuthToken.objects.get(user__username="ci-bot").expiry
    expected = timezone.now() + timedelta(seconds=settings.API_TOKEN_TTL)
    assert abs((expiry - expected).total_seconds()) < 60
    with time_machine.travel(expiry + timedelta(seconds=1)):
        assert_error(api(key), 401, "authentication_failed")
    assert not AuthToken.objects.filter(user__username="ci-bot").exists()


def test_expires_option_sets_a_shorter_life(capsys):
    user_with_role("viewer", "short-bot")
    key = create_token("short-bot", "--expires", "2h", capsys=capsys)
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        assert api(key).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=2, minutes=1)):
        assert_error(api(key), 401)


@pytest.mark.parametrize("expires", ["0", "30s", "10000d", "never", "-1d"])
def test_expires_out_of_bounds_is_refused_with_one_line_and_nothing_saved(expires):
    user_with_role("viewer", "bad-bot")
    with pytest.raises(CommandError, match="expires") as err:
        call_command("jobs", "token", "create", "bad-bot", "--expires", expires)
    assert "\n" not in str(err.value)
    assert not AuthToken.objects.exists() and not AuditEvent.objects.exists()


def test_rotate_revokes_the_old_key_and_create_refuses_a_second_live_token(capsys):
    user_with_role("viewer", "rot-bot")
    old = create_token("rot-bot", capsys=capsys)
    with pytest.raises(CommandError, match="already has a token"):
        call_command("jobs", "token", "create", "rot-bot")
    new = create_token("rot-bot", "--rotate", capsys=capsys)
    assert new != old
    assert_error(api(old), 401, "authentication_failed")
    assert api(new).status_code == 200
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "token.create",
        "token.rotate",
    ]
    with pytest.raises(CommandError, match="unknown user"):
        call_command("jobs", "token", "create", "ghost")


def test_an_expired_token_does_not_block_a_new_one(capsys):
    user_with_role("viewer", "old-bot")
    create_token("old-bot", "--expires", "1h", capsys=capsys)
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        key = create_token("old-bot", capsys=capsys)
        assert api(key).status_code == 200
    assert AuthToken.objects.filter(user__username="old-bot").count() == 1


@pytest.mark.parametrize("header", ["Token abc\x00def", "Token caf\xe9", "Token " + "a" * 5000])
def test_a_malformed_token_is_a_401_never_a_400_or_500(db, header):
    response = APIClient().get(JOBS, HTTP_AUTHORIZATION=header)
    assert_error(response, 401, "authentication_failed")


@pytest.fixture
def superuser_client(client, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    return client


def test_admin_lists_tokens_without_the_key_and_cannot_mint_one(superuser_client, capsys):
    user_with_role("viewer", "listed-bot")
    key = create_token("listed-bot", capsys=capsys)
    digest = AuthToken.objects.get().digest
    page = superuser_client.get("/admin/knox/authtoken/")
    assert page.status_code == 200
    assert b"listed-bot" in page.content
    # Neither the key nor even its lookup prefix (the digest, a SHA-512 of
    # the key, is the row's primary key and so appears in links).
    assert key.encode() not in page.content and key[3:15].encode() not in page.content
    detail = superuser_client.get(f"/admin/knox/authtoken/{digest}/change/")
    assert detail.status_code == 200 and key[3:15].encode() not in detail.content
    assert superuser_client.get("/admin/knox/authtoken/add/").status_code == 403


def test_admin_delete_revokes_the_token_and_is_audited(superuser_client, capsys):
    user_with_role("viewer", "revoked-bot")
    key = create_token("revoked-bot", capsys=capsys)
    digest = AuthToken.objects.get().digest
    response = superuser_client.post(
        "/admin/knox/authtoken/",
        {"action": "delete_selected", "_selected_action": [digest], "post": "yes"},
    )
    assert response.status_code == 302
    assert_error(api(key), 401, "authentication_failed")
    event = AuditEvent.objects.get(action="token.revoke")
    assert (event.target, event.source) == ("revoked-bot", "admin")
    assert digest not in str(event.changes)
