"""The lean read path of the job and run serializers gives exactly what
DRF's own ModelSerializer.to_representation gives."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from jobs.api.serializers import JobRunSerializer, JobSerializer
from monitoring.selectors import job_queryset
from tests.factories import JobFactory, JobRunFactory, UserFactory

pytestmark = pytest.mark.django_db


def _drf(serializer_class, instance):
    return serializers.ModelSerializer.to_representation(serializer_class(), instance)


def test_a_job_reads_the_same_as_through_drf():
    owner = UserFactory(username="ops-owner")
    plain = JobFactory(name="plain", cron="", schedule_type="manual", owner=None)
    full = JobFactory(
        name="full",
        cron="0 2 * * *",
        timezone="Europe/Prague",
        owner=owner,
        tags=["nightly", "finance"],
        parameters={"region": "eu", "day": "{today}"},
        last_error="boom",
    )
    for job in job_queryset().filter(pk__in=[plain.pk, full.pk]):
        lean = JobSerializer(job).data
        assert lean == _drf(JobSerializer, job)
        assert lean["name"] == job.name  # and the comparison saw real content
    assert JobSerializer(job_queryset().get(pk=full.pk)).data["owner"] == "ops-owner"


def test_a_run_reads_the_same_as_through_drf_with_its_relations():
    job = JobFactory()
    first = JobRunFactory(job=job, status="failed", error="boom", result={"rows": 3})
    retry = JobRunFactory(job=job, attempt=2, first_attempt=first, trigger="retry")
    for run in (first, retry):
        run.refresh_from_db()
        assert JobRunSerializer(run).data == _drf(JobRunSerializer, run)
    data = JobRunSerializer(retry).data
    assert (data["job"], data["first_attempt"]) == (job.name, first.pk)
    assert JobRunSerializer(first).data["first_attempt"] is None
