"""Alerts permissions for the roles created by monitoring (issue 5):
viewer reads alerts and channels; operator acknowledges and resolves;
admin manages channels."""

from django.db import migrations

from monitoring.roles import grant, revoke, roles

VIEW = [("alerts", "view_alert"), ("alerts", "view_channel"), ("alerts", "view_delivery")]
OPERATE = [("alerts", "acknowledge_alert")]
ADMIN = [("alerts", "manage_channels"), ("alerts", "add_channel"), ("alerts", "change_channel")]
ROLES = roles(VIEW, OPERATE, ADMIN)


def grant_roles(apps, schema_editor):
    grant(apps, ROLES)


def revoke_roles(apps, schema_editor):
    revoke(apps, "alerts", list(ROLES))


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0001_initial"),
        ("monitoring", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant_roles, revoke_roles)]
