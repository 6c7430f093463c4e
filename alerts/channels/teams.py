"""Microsoft Teams webhook (Workflows / incoming webhook): an Adaptive Card
message. The URL is a secret, stored encrypted."""

from __future__ import annotations

from typing import Any

from alerts.channels.http import post_json, validate_secret_url

COLORS = {"low": "Accent", "medium": "Warning", "high": "Attention", "critical": "Attention"}


validate = validate_secret_url


def body(payload: dict[str, Any]) -> dict[str, Any]:
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "size": "Medium",
                "weight": "Bolder",
                "wrap": True,
                "color": COLORS.get(payload["alert"].get("severity"), "Default"),
                "text": payload["subject"],
            },
            {"type": "TextBlock", "wrap": True, "text": payload["text"]},
        ],
        "actions": [{"type": "Action.OpenUrl", "title": "Open alert", "url": payload.get("url")}]
        if payload.get("url")
        else [],
    }
    return {
        "type": "message",
        "summary": payload["subject"],
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


def send(
    payload: dict[str, Any], config: dict[str, Any], secrets: dict[str, Any], *, delivery_id: int
) -> int:
    return post_json(secrets["url"], body(payload))
