"""Slack incoming webhook. The webhook URL is a secret (it alone lets anyone
post to the channel), so it is stored encrypted."""

from __future__ import annotations

from typing import Any

from alerts.channels.http import post_json, validate_secret_url

COLORS = {"low": "#439FE0", "medium": "#E8A317", "high": "#E5533D", "critical": "#A30200"}


validate = validate_secret_url


def body(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "text": payload["subject"],
        "attachments": [
            {
                "color": COLORS.get(payload["alert"].get("severity"), "#888888"),
                "title": payload["subject"],
                "title_link": payload.get("url"),
                "text": payload["text"],
            }
        ],
    }


def send(
    payload: dict[str, Any], config: dict[str, Any], secrets: dict[str, Any], *, delivery_id: int
) -> int:
    return post_json(secrets["url"], body(payload))
