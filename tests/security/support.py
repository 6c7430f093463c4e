"""Assertions shared by the attacks in tests/security."""

from __future__ import annotations

from jobs.models import Job

JOBS = "/api/v1/jobs/"


def refused(client, spec: dict, field: str, text: str) -> None:
    """POSTing `spec` is a 400 naming `field`, with `text` in its one-line
    message, and no job of that name is saved."""
    response = client.post(JOBS, spec, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert field in error["fields"], error
    assert text in error["message"], error["message"]
    assert not Job.objects.filter(name=spec["name"]).exists()
