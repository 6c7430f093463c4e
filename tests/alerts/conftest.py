from __future__ import annotations

import pytest

from tests.alerts.servers import HttpReceiver, SmtpServer


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def http_receiver():
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def alert_settings(settings):
    """The test process routes like the worker: SMTP configured, loopback
    allowed by the SSRF guard."""
    settings.JOBS_HTTP_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.EMAIL_HOST = "127.0.0.1"
    settings.ALERTS_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    return settings


@pytest.fixture
def email_channel(alert_settings):
    """The default channel: e-mail to ops@example.com."""
    from alerts.services import channel_create
    from jobs.actors import Actor

    return channel_create(
        {
            "name": "ops-mail",
            "kind": "email",
            "config": {"recipients": ["ops@example.com"]},
            "is_default": True,
        },
        actor=Actor(name="alice", source="cli"),
    )


def worker_env(smtp: SmtpServer | None = None, **extra: str) -> dict[str, str]:
    env = {
        "JOBS_HTTP_ALLOWED_NETWORKS": "127.0.0.0/8",
        "ALERTS_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "ALERTS_DELIVERY_RETRY_DELAY": "1s",
        "ALERTS_DELIVERY_MAX_DELAY": "2s",
    }
    if smtp is not None:
        env.update({"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp.port)})
    env.update(extra)
    return env
