"""The API roles -- viewer, operator, admin -- as Django groups, and the
helpers every app's roles data migration uses to give them its permissions
(monitoring/0002_roles creates the groups; alerts and compliance add theirs).

Migrations import this module, so what these functions do to the database
must not change: a new role or permission is a new migration, not an edit here.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.management import create_permissions

Perm = tuple[str, str]  # (app_label, codename)


def roles(view: list[Perm], operate: list[Perm], admin: list[Perm]) -> dict[str, list[Perm]]:
    """Each role holds the permissions of the one below it, plus its own."""
    return {"viewer": view, "operator": view + operate, "admin": view + operate + admin}


def grant(apps: Any, group_perms: dict[str, list[Perm]]) -> None:
    """Add each group's permissions, creating the group if it is missing."""
    # Permissions are normally created after all migrations; create those of
    # the apps named here now, so the groups can reference them on a fresh
    # database.
    labels = dict.fromkeys(label for perms in group_perms.values() for label, _ in perms)
    for label in labels:
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in group_perms.items():
        group, _ = Group.objects.get_or_create(name=role)
        for app_label, codename in perms:
            perm = Permission.objects.get(content_type__app_label=app_label, codename=codename)
            group.permissions.add(perm)


def revoke(apps: Any, app_label: str, group_names: list[str]) -> None:
    """Take every permission of `app_label` away from the named groups (the
    reverse of an app's grant; the groups themselves stay)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(content_type__app_label=app_label)
    for group in Group.objects.filter(name__in=group_names):
        group.permissions.remove(*perms)
