"""The three API roles as Django groups (issue 4).

viewer   reads everything
operator + trigger / cancel / enable / disable / reset health (jobs.trigger_job)
admin    + create / edit / delete jobs
Process and SQL jobs keep their own permission (jobs.manage_execution_jobs),
given to no group by default. Other apps add their permissions to these
groups in their own migrations (e.g. alerts: acknowledge for operator).
"""

from django.db import migrations

from monitoring.roles import grant, roles

VIEW = [
    ("jobs", "view_job"),
    ("jobs", "view_jobrun"),
    ("jobs", "view_auditevent"),
    ("monitoring", "view_jobhealth"),
    ("monitoring", "view_healthevent"),
]
OPERATE = [("jobs", "trigger_job")]
ADMIN = [("jobs", "add_job"), ("jobs", "change_job"), ("jobs", "delete_job")]
ROLES = roles(VIEW, OPERATE, ADMIN)


def create_roles(apps, schema_editor):
    grant(apps, ROLES)


def remove_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0001_health"),
        ("jobs", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
