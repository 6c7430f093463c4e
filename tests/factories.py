"""factory-boy factories shared by the tests."""

import factory
from django.contrib.auth import get_user_model

from jobs.models import Job, JobRun


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw")


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    name = factory.Sequence(lambda n: f"job-{n}")
    kind = "python"
    target = "tests.jobs.sample_jobs:succeed"
    schedule_type = "manual"
    cron = ""
    timezone = "UTC"
    timeout = 60
    overlap = "allow"


class JobRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JobRun

    job = factory.SubFactory(JobFactory)
    trigger = "manual"
