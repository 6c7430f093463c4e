"""All writes of the jobs app. Import from here: `from jobs import services`."""

from jobs.services.audit import audit_record, diff_fields  # noqa: F401
from jobs.services.jobs import (  # noqa: F401
    job_create,
    job_delete,
    job_disable,
    job_enable,
    job_update,
    jobs_apply,
)
