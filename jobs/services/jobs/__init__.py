"""Writes to job definitions: create, update, delete, enable, disable, apply,
and the sync of code-defined jobs (the deploy rule, see jobs.definitions).

Every service here:
* validates through jobs.specs (one shape for every door),
* runs in one transaction that also keeps beat's schedule in step
  (jobs.services.scheduling.schedule_sync) and writes one audit record per
  changed job (secrets masked),
* refuses a user without `jobs.manage_execution_jobs` for process and SQL
  jobs, and for setting or changing `parameter_queries` (SQL run before a
  job of any kind), whatever door the call came through,
* raises jobs.errors (ValidationError, NotFound, Forbidden) and leaves
  nothing half-saved.

The package: permissions (who may define process/SQL jobs and parameter
queries), lifecycle (one job: create ... disable), apply (many jobs from
files), codesync (code-defined jobs). Import from here.
"""

from jobs.services.jobs.apply import ApplyReport, jobs_apply
from jobs.services.jobs.codesync import REMOVED_FROM_CODE, job_sync_code, jobs_retire_code
from jobs.services.jobs.lifecycle import (
    job_create,
    job_delete,
    job_disable,
    job_enable,
    job_update,
    save_spec,
)
from jobs.services.jobs.permissions import (
    EXECUTION_KINDS,
    check_definition_permission,
    check_execution_permission,
    sets_parameter_queries,
)

__all__ = [
    "EXECUTION_KINDS",
    "REMOVED_FROM_CODE",
    "ApplyReport",
    "check_definition_permission",
    "check_execution_permission",
    "job_create",
    "job_delete",
    "job_disable",
    "job_enable",
    "job_sync_code",
    "job_update",
    "jobs_apply",
    "jobs_retire_code",
    "save_spec",
    "sets_parameter_queries",
]
