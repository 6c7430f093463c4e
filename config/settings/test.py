"""Test settings: real PostgreSQL and Redis (DATABASE_URL / REDIS_URL)."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jobwarden")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
# The test databases reached through ODBC (MariaDB, PostgreSQL) run on loopback.
os.environ.setdefault("JOBS_SQL_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
os.environ.setdefault("JOBS_SECRET_KEYS", "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC0=")

from config.settings.base import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Generous rates so no test is throttled by the ones before it;
# tests/security/test_throttling.py sets low ones and proves the 429.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "user": "100000/min"},
}

# The test suite's own job functions (tests/jobs/sample_jobs.py ...) are
# trusted modules, like a deployment's JOBS_PYTHON_ALLOWED_TARGETS.
JOBS_PYTHON_ALLOWED_TARGETS = ["tests.jobs", "tests.security.allowed"]
