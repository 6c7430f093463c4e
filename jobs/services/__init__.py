"""All writes of the jobs app. Import from here: `from jobs import services`."""

from jobs.services.audit import audit_record, diff_fields  # noqa: F401
