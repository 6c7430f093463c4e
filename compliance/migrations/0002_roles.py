"""Compliance permissions for the roles created by monitoring (issue 5):
viewer reads rules; admin manages rules (running a check is
operator work: jobs.trigger_job)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = [("compliance", "view_rule")]
OPERATE: list = []
ADMIN = [("compliance", "manage_rules"), ("compliance", "add_rule"), ("compliance", "change_rule")]
ROLES = {"viewer": VIEW, "operator": VIEW + OPERATE, "admin": VIEW + OPERATE + ADMIN}


def grant(apps, schema_editor):
    config = apps.get_app_config("compliance")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        for app_label, codename in perms:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(content_type__app_label="compliance")
    for group in Group.objects.filter(name__in=list(ROLES)):
        group.permissions.remove(*perms)


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0001_initial"),
        ("monitoring", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
