"""factory-boy factories shared by the tests."""

import factory
from django.contrib.auth import get_user_model

from jobs.models import Job, JobRun


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        if create and results:
            instance.save()  # keep the hashed password set above


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
