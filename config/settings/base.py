"""Base settings. Every value comes from the environment via config.env."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from config.env import (
    env_bool,
    env_duration,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = env_str("DJANGO_SECRET_KEY", "dev-insecure-key-change-me")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_celery_beat",
    "jobs",
    "monitoring",
    "alerts",
    "compliance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --- Database -------------------------------------------------------------
# SQLite is the zero-setup default for `make run`; PostgreSQL is the system of
# record in production and in the tests.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# Persistent connections: without them Django opens a new PostgreSQL session per
# Celery task, which alone costs more than the rest of the run path.
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL + a busy timeout let web, worker and beat share one SQLite file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- Redis / Celery -------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

CELERY_BROKER_URL = REDIS_URL
# Run outcomes live in JobRun, the system of record; a Celery result backend
# would only add a second, expiring copy (set CELERY_RESULT_BACKEND to opt in).
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "") or None
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]  # never pickle: a broker message must not run code
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_TRACK_STARTED = False  # JobRun records the start itself
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 4, minimum=1)
CELERY_WORKER_CONCURRENCY = env_int("CELERY_WORKER_CONCURRENCY", 2, minimum=1)
CELERY_WORKER_SEND_TASK_EVENTS = env_bool("CELERY_WORKER_SEND_TASK_EVENTS", False)
CELERY_TASK_SEND_SENT_EVENT = CELERY_WORKER_SEND_TASK_EVENTS
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Unacked messages come back after the visibility timeout: it must exceed the
# longest job timeout or a long job would be delivered twice (system check).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 6 * 3600, minimum=60),
}
CELERY_BEAT_SCHEDULER = "jobs.beat:JobScheduler"
# Beat re-reads the schedule at least this often, so an edit applies within it.
CELERY_BEAT_MAX_LOOP_INTERVAL = env_int("CELERY_BEAT_MAX_LOOP_INTERVAL", 5, minimum=1)
DJANGO_CELERY_BEAT_TZ_AWARE = True

# --- Jobs -----------------------------------------------------------------
JOBS_DEFAULT_QUEUE = env_str("JOBS_DEFAULT_QUEUE", "jobs")
JOBS_DEFAULT_TIMEOUT = env_duration("JOBS_DEFAULT_TIMEOUT", "20m")
# The longest timeout a job may declare; the broker visibility timeout must
# exceed it (checked at start-up).
JOBS_MAX_TIMEOUT = env_duration("JOBS_MAX_TIMEOUT", "4h")
# Soft timeout first, then this long for clean-up before the hard kill.
JOBS_TIMEOUT_GRACE = env_duration("JOBS_TIMEOUT_GRACE", "10s")
# How long a cancelled running job gets to notice before it is terminated.
JOBS_CANCEL_GRACE = env_duration("JOBS_CANCEL_GRACE", "10s")
# Lease: renewed every HEARTBEAT seconds; expires LEASE_TTL after the holder
# stops renewing, so a dead worker blocks its job for at most that long.
JOBS_HEARTBEAT_INTERVAL = env_duration("JOBS_HEARTBEAT_INTERVAL", "10s")
JOBS_LEASE_TTL = env_duration("JOBS_LEASE_TTL", "30s")
# A running run whose heartbeat is older than this is orphaned (worker died).
JOBS_ORPHAN_AFTER = env_duration("JOBS_ORPHAN_AFTER", "90s")
JOBS_SWEEP_INTERVAL = env_duration("JOBS_SWEEP_INTERVAL", "20s")
JOBS_OUTPUT_MAX_BYTES = env_int("JOBS_OUTPUT_MAX_BYTES", 64 * 1024, minimum=1024)
JOBS_RUN_RETENTION_DAYS = env_int("JOBS_RUN_RETENTION_DAYS", 90, minimum=1)
JOBS_LOAD_EXAMPLES = env_bool("JOBS_LOAD_EXAMPLES", False)
# Job kinds (see jobs.execution.kinds)
JOBS_PROCESS_ALLOWED_EXECUTABLES = env_list("JOBS_PROCESS_ALLOWED_EXECUTABLES", "")
JOBS_HTTP_ALLOWED_NETWORKS = env_list("JOBS_HTTP_ALLOWED_NETWORKS", "")
JOBS_SQL_ALLOWED_PROCEDURES = env_list("JOBS_SQL_ALLOWED_PROCEDURES", "")
# Fernet keys, newest first; older keys still decrypt (rotation).
JOBS_SECRET_KEYS = env_list("JOBS_SECRET_KEYS", "")

# --- REST API -------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Jobwarden API",
    "DESCRIPTION": "Control plane for recurring background jobs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Email (alerts) -------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "jobwarden@localhost")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)

# --- Alerts ---------------------------------------------------------------
# At most this many notifications per job per hour: a job failing every
# minute must not bury its owners; the rest are counted and summarised in the
# next notification that goes out (seed 002's MaxAlertsPerHour).
ALERTS_MAX_PER_JOB_PER_HOUR = env_int("ALERTS_MAX_PER_JOB_PER_HOUR", 6, minimum=1)
# Unacknowledged high/critical alerts escalate after this long (seed 001: 2 hours).
ALERTS_ESCALATE_AFTER = env_duration("ALERTS_ESCALATE_AFTER", "2h")
# Extra addresses told about escalations (besides channels marked escalation).
ALERTS_ESCALATION_EMAILS = env_list("ALERTS_ESCALATION_EMAILS", "")
# Resolved alerts are kept this long for statistics, then deleted.
ALERTS_RETENTION_DAYS = env_int("ALERTS_RETENTION_DAYS", 180, minimum=1)
# Delivery retries: attempt n waits DELAY * 2^(n-1), capped; 10 attempts at
# 30 s base span about 2 hours, long enough to ride out a chat/SMTP outage.
ALERTS_DELIVERY_MAX_ATTEMPTS = env_int("ALERTS_DELIVERY_MAX_ATTEMPTS", 10, minimum=1)
ALERTS_DELIVERY_RETRY_DELAY = env_duration("ALERTS_DELIVERY_RETRY_DELAY", "30s")
ALERTS_DELIVERY_MAX_DELAY = env_duration("ALERTS_DELIVERY_MAX_DELAY", "30m")
# Per-request timeout of webhook/chat deliveries: a slow endpoint must not
# hold a worker slot for long.
ALERTS_HTTP_TIMEOUT = env_duration("ALERTS_HTTP_TIMEOUT", "10s")
# Each occurrence of a still-open alert notifies again (throttled), as a job
# failing over and over is news; set false to notify only when it opens.
ALERTS_NOTIFY_REPEATS = env_bool("ALERTS_NOTIFY_REPEATS", True)
# Minimum severity for a job's own notification_emails.
ALERTS_JOB_EMAIL_MIN_SEVERITY = env_str("ALERTS_JOB_EMAIL_MIN_SEVERITY", "low")
# The backend alert e-mail goes through (empty = EMAIL_BACKEND); lets the
# tests send alerts over real SMTP while Django's own mail stays in memory.
ALERTS_EMAIL_BACKEND = env_str("ALERTS_EMAIL_BACKEND", "")
# Links in notifications point here (e.g. https://jobs.example.com).
ALERTS_BASE_URL = env_str("ALERTS_BASE_URL", "http://localhost:8000")

# --- Compliance -----------------------------------------------------------
# Defaults for SQL rules that set none: a rule returns violating rows, so a
# bad query must not pull a whole table or run for ever.
COMPLIANCE_DEFAULT_ROW_LIMIT = env_int("COMPLIANCE_DEFAULT_ROW_LIMIT", 1000, minimum=1)
COMPLIANCE_DEFAULT_TIMEOUT = env_duration("COMPLIANCE_DEFAULT_TIMEOUT", "60s")
# Violating rows kept per rule on the run's result (the rest are counted).
COMPLIANCE_SAMPLE_ROWS = env_int("COMPLIANCE_SAMPLE_ROWS", 10, minimum=0)
