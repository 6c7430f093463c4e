"""Compliance permissions for the roles created by monitoring (issue 5):
viewer reads rules; admin manages rules (running a check is
operator work: jobs.trigger_job)."""

from django.db import migrations

from monitoring.roles import grant, revoke, roles

VIEW = [("compliance", "view_rule")]
OPERATE: list = []
ADMIN = [("compliance", "manage_rules"), ("compliance", "add_rule"), ("compliance", "change_rule")]
ROLES = roles(VIEW, OPERATE, ADMIN)


def grant_roles(apps, schema_editor):
    grant(apps, ROLES)


def revoke_roles(apps, schema_editor):
    revoke(apps, "compliance", list(ROLES))


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0001_initial"),
        ("monitoring", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant_roles, revoke_roles)]
