"""Jobwarden's own settings, read from the environment (config.env): Redis
and Celery, jobs, monitoring, alerts, compliance, the REST API. Jobwarden's
project settings (config.settings.base) star-import this module; so does a
host project that adds Jobwarden to itself (docs/integrating.md), with the
apps, middleware and authentication backends Jobwarden needs listed below.
"""

from __future__ import annotations

from datetime import timedelta

from config.env import (
    env_bool,
    env_duration,
    env_float,
    env_int,
    env_list,
    env_networks,
    env_str,
)

# What a project that runs Jobwarden puts in INSTALLED_APPS, MIDDLEWARE and
# AUTHENTICATION_BACKENDS (config.settings.base does exactly this).
JOBWARDEN_APPS = [
    "rest_framework",
    # API tokens stored as SHA-512 digests, each with an expiry (config.auth).
    "knox",
    # Admin login lockout after repeated failures (AXES_* below).
    "axes",
    "drf_spectacular",
    # Swagger UI served from vendored static files, never from a CDN.
    "drf_spectacular_sidecar",
    "django_celery_beat",
    # Opt-in raw task results (CELERY_RESULT_BACKEND=django-db); runs are
    # recorded in JobRun either way.
    "django_celery_results",
    "jobs",
    "monitoring",
    "alerts",
    "compliance",
]
# Last in MIDDLEWARE, as django-axes requires: turns a lockout into its 429.
JOBWARDEN_MIDDLEWARE = ["axes.middleware.AxesMiddleware"]
# Axes first: a locked-out client is refused before its password is checked.
JOBWARDEN_AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# --- Login lockout (django-axes) ------------------------------------------
# Failed logins are counted per (username, client address): 5 failures lock
# that pair out for 15 minutes. Per pair rather than per address, so one
# attacker cannot lock a real admin out from everywhere, and one office behind
# NAT is not locked out by a colleague's typos; a success resets the count.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(seconds=env_duration("AXES_COOLOFF_TIME", "15m"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The same client address as the API's (X-Forwarded-For only from TRUSTED_PROXIES).
AXES_CLIENT_IP_CALLABLE = "config.api.client_ip"
# Successful logins are already in the session; failures are what matter.
AXES_DISABLE_ACCESS_LOG = True
# No start-up banner: every manage.py command would print it before its own output.
AXES_VERBOSE = False

# --- Proxies --------------------------------------------------------------
# Addresses or networks (CIDR) of the reverse proxies in front of the web app.
# Only a request arriving from one of them has its X-Forwarded-For read (the
# nearest address not itself a proxy is the client); anyone else could forge
# the header to dodge the login lockout and the API throttling. Empty: the
# direct peer is the client.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES", "")

# --- Redis / Celery -------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

CELERY_BROKER_URL = REDIS_URL
# kombu's Redis transport, sending a run's queued journal event with its
# message in one round trip (jobs.broker); plain redis:// URLs only.
CELERY_BROKER_TRANSPORT = "jobs.broker:Transport" if REDIS_URL.startswith("redis://") else None
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
# Celery's Django fixup closes every database connection around every task
# unless this is set; reconnecting per task costs more than the whole run
# path. Broken connections are closed by jobs.recording instead.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 100_000, minimum=1)
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
# The queues a job may name (besides the default). Workers must consume them
# (`celery worker -Q celery,jobs,...`); a name outside the list is refused at
# save, so a job cannot publish into a broker-internal or Jobwarden key (Redis
# keeps queues and its own bookkeeping in one keyspace). Empty: any name that
# passes jobs.limits.check_queue_name.
JOBS_QUEUES = env_list("JOBS_QUEUES", JOBS_DEFAULT_QUEUE)
# The longest timeout a job may declare; the broker visibility timeout must
# exceed it (checked at start-up).
JOBS_MAX_TIMEOUT = env_duration("JOBS_MAX_TIMEOUT", "4h")
# Input limits (jobs.limits): every value a user stores is bounded, so one
# row cannot bloat the database, a page or a worker's memory, and date
# arithmetic on a stored duration cannot overflow. The longest grace time,
# retry delay or expected duration: a month covers a monthly job's slack.
JOBS_MAX_DURATION = env_duration("JOBS_MAX_DURATION", "31d")
# Backoff factor ceiling: 10x per attempt already reaches JOBS_MAX_DURATION
# within a handful of retries.
JOBS_MAX_RETRY_BACKOFF = env_float("JOBS_MAX_RETRY_BACKOFF", 10.0, minimum=1)
# Parameters, config, overrides, channel config ...: their JSON encoding in
# UTF-8 and their nesting. 64 KiB is far above any real job's parameters and
# far below what slows a list page; 20 levels is deeper than any sane config.
JOBS_MAX_JSON_BYTES = env_int("JOBS_MAX_JSON_BYTES", 64 * 1024, minimum=1024)
JOBS_MAX_JSON_DEPTH = env_int("JOBS_MAX_JSON_DEPTH", 20, minimum=2, maximum=200)
# Free text (descriptions, reasons, notes, compliance queries): a page of text.
JOBS_MAX_TEXT_LENGTH = env_int("JOBS_MAX_TEXT_LENGTH", 10_000, minimum=200)
# Tags, notification e-mails and channels per job, and the length of one tag.
JOBS_MAX_LIST_ITEMS = env_int("JOBS_MAX_LIST_ITEMS", 50, minimum=1)
JOBS_MAX_TAG_LENGTH = env_int("JOBS_MAX_TAG_LENGTH", 100, minimum=8)
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
# A run still queued this long may have lost its message (a producer or a
# worker died holding it): the sweeper sends it again. A duplicate is
# harmless, the claim discards it; too short would only re-send messages that
# are merely waiting in a busy queue.
JOBS_REQUEUE_AFTER = env_duration("JOBS_REQUEUE_AFTER", "10m")
# Static beat entries (system tasks); job entries are synced from Job rows.
CELERY_BEAT_SCHEDULE = {
    "jobwarden-sweep": {"task": "jobs.sweep", "schedule": JOBS_SWEEP_INTERVAL},
}
# Celery remote-control commands that change a worker (terminate, shutdown,
# pool, rate/time limits, consumers) come from anyone who can write to the
# broker, past roles and audit: off, a worker answers only inspection and a
# revoke of a run whose cancel Jobwarden recorded (jobs.worker_steps). Turn
# on only where the broker is as trusted as the admin (e.g. with Flower's
# FLOWER_ALLOW_CONTROL).
JOBS_WORKER_REMOTE_CONTROL = env_bool("JOBS_WORKER_REMOTE_CONTROL", False)
# Workers cache job definitions this long. Each change also publishes the
# job's version to Redis, which the claim compares: the next run sees it.
JOBS_DEFINITION_CACHE_SECONDS = env_float("JOBS_DEFINITION_CACHE_SECONDS", 2.0, minimum=0)
# Run journal (jobs.runlog): how long a run's claim is remembered after it
# ended (a message older than this is checked against the database), and how
# often a worker's journal writer drains it (the longest a run's state waits
# for the database; longer batches cost less per run).
JOBS_CLAIM_MEMORY = env_duration("JOBS_CLAIM_MEMORY", "10m")
JOBS_RUNLOG_FLUSH_INTERVAL = env_float("JOBS_RUNLOG_FLUSH_INTERVAL", 0.05, minimum=0.001)
# Each worker starts a journal writer process (jobs.journal_writer), at this
# much lower CPU priority than the worker (nice): it is on no run's path, and
# the events it has not written yet wait safely in Redis.
JOBS_RUNLOG_WRITER = env_bool("JOBS_RUNLOG_WRITER", True)
JOBS_RUNLOG_WRITER_NICE = env_int("JOBS_RUNLOG_WRITER_NICE", 10, minimum=0, maximum=19)
# A worker that ends a run and finds this many events waiting writes them
# itself (the writer has fallen behind, or is off).
JOBS_RUNLOG_BATCH_MIN = env_int("JOBS_RUNLOG_BATCH_MIN", 2000, minimum=1)
JOBS_OUTPUT_MAX_BYTES = env_int("JOBS_OUTPUT_MAX_BYTES", 64 * 1024, minimum=1024)
JOBS_RUN_RETENTION_DAYS = env_int("JOBS_RUN_RETENTION_DAYS", 90, minimum=1)
JOBS_LOAD_EXAMPLES = env_bool("JOBS_LOAD_EXAMPLES", False)
# Job kinds (see jobs.execution.kinds)
# Python jobs run only functions registered in code (@job, @runnable in an
# app's jobs.py). This adds whole modules by prefix ("myapp.tasks" allows
# myapp.tasks and myapp.tasks.*, top-level functions defined there only).
# Empty by default: a prefix trusts every function of those modules, and
# choosing such a target needs jobs.manage_execution_jobs.
JOBS_PYTHON_ALLOWED_TARGETS = env_list("JOBS_PYTHON_ALLOWED_TARGETS", "")
# The largest JSON result a python job may store on its run (viewers read it
# on the run page; bulky data belongs in the job's own storage). Larger, or
# not JSON at all, and the run fails saying so.
JOBS_RESULT_MAX_BYTES = env_int("JOBS_RESULT_MAX_BYTES", 256 * 1024, minimum=1024)
JOBS_PROCESS_ALLOWED_EXECUTABLES = env_list("JOBS_PROCESS_ALLOWED_EXECUTABLES", "")
JOBS_HTTP_ALLOWED_NETWORKS = env_list("JOBS_HTTP_ALLOWED_NETWORKS", "")
# Procedures SQL jobs may call (names or globs, e.g. reporting.*). Empty: any
# schema-qualified procedure (a bare name can resolve to a built-in). System
# functions (pg_catalog, information_schema, mysql, sys, performance_schema,
# pg_*, lo_*, dblink*) are never callable, listed or not.
JOBS_SQL_ALLOWED_PROCEDURES = env_list("JOBS_SQL_ALLOWED_PROCEDURES", "")
# ODBC drivers connection strings may name (as registered in odbcinst.ini).
# Empty: any registered driver; a file path is never accepted.
JOBS_SQL_ALLOWED_DRIVERS = env_list("JOBS_SQL_ALLOWED_DRIVERS", "")
# Non-public networks ODBC connections may reach (CIDRs), like
# JOBS_HTTP_ALLOWED_NETWORKS for HTTP jobs. Kept apart because a database
# normally sits on a private network that HTTP jobs must not reach; empty
# means public addresses only, so list the database subnets.
JOBS_SQL_ALLOWED_NETWORKS = env_list("JOBS_SQL_ALLOWED_NETWORKS", "")
# Fernet keys, newest first; older keys still decrypt (rotation).
JOBS_SECRET_KEYS = env_list("JOBS_SECRET_KEYS", "")
# PATH of the scrubbed base environment a process job starts with: the system
# directories only, never the worker's own PATH (a virtualenv, ~/bin).
JOBS_PROCESS_PATH = env_str("JOBS_PROCESS_PATH", "/usr/local/bin:/usr/bin:/bin")
# Environment variables a process job may set (globs). An allowlist, because
# interpreters read many variables as code (PYTHONWARNINGS, PERL5OPT,
# NODE_OPTIONS, SHELLOPTS, JAVA_TOOL_OPTIONS …); a JOB_ prefix is a namespace
# no runtime reads. PATH, HOME and the loader's variables are never settable.
JOBS_PROCESS_ALLOWED_ENV = env_list("JOBS_PROCESS_ALLOWED_ENV", "JOB_*")
# Circuit breaker per HTTP host: after this many consecutive transient failures
# (5 rides out a short blip) calls stop for the cool-down (5m: long enough for an
# API to recover, short enough that an hourly job loses at most one run).
JOBS_HTTP_CIRCUIT_FAILURES = env_int("JOBS_HTTP_CIRCUIT_FAILURES", 5, minimum=1)
JOBS_HTTP_CIRCUIT_COOLDOWN = env_duration("JOBS_HTTP_CIRCUIT_COOLDOWN", "5m")
# Redirects are followed by hand (each target passes the SSRF guard); 5 is what
# browsers-in-practice need, more is a loop.
JOBS_HTTP_MAX_REDIRECTS = env_int("JOBS_HTTP_MAX_REDIRECTS", 5, minimum=0)
# Default response cap when a job sets no max_response_bytes: enough for API
# answers, small enough that a runaway download cannot exhaust a worker.
JOBS_HTTP_MAX_RESPONSE_BYTES = env_int(
    "JOBS_HTTP_MAX_RESPONSE_BYTES", 10 * 1024 * 1024, minimum=1024
)
# A server's Retry-After is honoured up to this; a bogus "retry in a week"
# must not park the job.
JOBS_HTTP_MAX_RETRY_AFTER = env_duration("JOBS_HTTP_MAX_RETRY_AFTER", "1h")
# Django database aliases SQL jobs and parameter queries may use. Empty = any
# alias except "default": Jobwarden's own database (users, encrypted secrets)
# is not a target unless listed explicitly.
JOBS_SQL_ALLOWED_DATABASES = env_list("JOBS_SQL_ALLOWED_DATABASES", "")
# Upper bound for a SQL job's capture_rows (rows are stored on the run).
JOBS_SQL_MAX_ROWS = env_int("JOBS_SQL_MAX_ROWS", 10000, minimum=1)
# A dynamic-parameter query is a lookup, not a job: 30s is generous for one.
JOBS_PARAMETER_QUERY_TIMEOUT = env_duration("JOBS_PARAMETER_QUERY_TIMEOUT", "30s")

# --- REST API -------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: DRF answers an anonymous request with the first class's
    # WWW-Authenticate challenge, which makes it a 401 (session alone gives 403).
    # SessionAuthentication enforces CSRF on writes made with a session cookie.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Per client address (anonymous) and per user; over the rate: 429 in the
    # error shape with Retry-After. Counted in Redis, so shared by every web
    # process (config.auth explains the classes).
    "DEFAULT_THROTTLE_CLASSES": [
        "config.auth.AnonRateThrottle",
        "config.auth.UserRateThrottle",
    ],
    # Anonymous callers can only read the schema and be refused, so 60/min is
    # plenty; 1200/min (20/s) lets a dashboard or a script poll many jobs yet
    # stops a runaway loop or a token being used to scrape.
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_ANON", "60/min"),
        "user": env_str("API_THROTTLE_USER", "1200/min"),
    },
    # Reads need the viewer role at least; each view narrows further (config.api).
    "DEFAULT_PERMISSION_CLASSES": ["config.api.CanView"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "config.api.PagePagination",
    "PAGE_SIZE": 50,
    # Every error, ours or DRF's, leaves as {"error": {"code", "message", "fields"}}.
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # JSON only, bounded in size and nesting (config.api.BoundedJSONParser).
    "DEFAULT_PARSER_CLASSES": ["config.api.BoundedJSONParser"],
}
# API tokens (django-rest-knox): only a SHA-512 digest is stored, the key is
# shown once. Every token expires: 90 days by default (a quarter: rotation
# fits a release cycle), at most a year; `jobs token create --expires`.
API_TOKEN_TTL = env_duration("API_TOKEN_TTL", "90d")
API_TOKEN_MAX_TTL = env_duration("API_TOKEN_MAX_TTL", "365d")
REST_KNOX = {
    "TOKEN_TTL": timedelta(seconds=API_TOKEN_TTL),
    # `Authorization: Token <key>`, as before; a prefix lets secret scanners
    # recognise a leaked key.
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_PREFIX": "jw_",
    "AUTO_REFRESH": False,
}
# One Redis for the broker and the shared cache (throttle counters); the key
# prefix keeps the cache out of Celery's and the run journal's keys.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "jobwarden:cache",
    }
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Jobwarden API",
    "DESCRIPTION": "Control plane for recurring background jobs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs pages are public (issue 4); every other endpoint is not.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI and ReDoc from drf-spectacular-sidecar's static files: the
    # docs page loads no script from a third-party host.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "jobs.models.RunStatus",
        "JobStatusEnum": "jobs.models.JobStatus",
        "HealthLevelEnum": "monitoring.models.HealthLevel",
        "HealthIssueSeverityEnum": [("warning", "warning"), ("critical", "critical")],
        "JobKindEnum": "jobs.models.JobKind",
        "OverlapPolicyEnum": "jobs.models.OverlapPolicy",
        "ChannelKindEnum": "alerts.models.ChannelKind",
        "RuleKindEnum": "compliance.models.RuleKind",
        "AlertSeverityEnum": "alerts.models.Severity",
        "AlertStatusEnum": "alerts.models.AlertStatus",
        "DeliveryStatusEnum": "alerts.models.DeliveryStatus",
    },
}

# --- Monitoring -----------------------------------------------------------
# Health rules (issue 4). Each threshold is a setting so an installation can
# tune how noisy its health levels are; the defaults are the numbers.
# Runs considered by the rate / duration / never-succeeded rules: a week reacts
# to a regression within days but is long enough that one bad night does not
# dominate.
MONITORING_HEALTH_WINDOW = env_duration("MONITORING_HEALTH_WINDOW", "7d")
# Consecutive failures: 3 is a pattern rather than bad luck, 5 is an outage.
# A job with no success at all in the window is a warning from its first
# failure and critical at FAILURES_CRITICAL failed runs (monitoring/health.py).
MONITORING_FAILURES_WARNING = env_int("MONITORING_FAILURES_WARNING", 3, minimum=1)
MONITORING_FAILURES_CRITICAL = env_int("MONITORING_FAILURES_CRITICAL", 5, minimum=1)
# Low success rate: below 80 % over more than 10 runs (fewer is too noisy).
MONITORING_MIN_SUCCESS_RATE = env_float("MONITORING_MIN_SUCCESS_RATE", 80.0, minimum=0)
MONITORING_SUCCESS_RATE_MIN_RUNS = env_int("MONITORING_SUCCESS_RATE_MIN_RUNS", 10, minimum=1)
# A job that sets no expected maximum duration is "long" past one hour.
MONITORING_DEFAULT_EXPECTED_MAX_DURATION = env_duration(
    "MONITORING_DEFAULT_EXPECTED_MAX_DURATION", "1h"
)
# Duration anomaly: the last run took more than FACTOR x the median of the
# SAMPLE successful runs before it. 3x is well outside normal jitter; fewer
# than MIN_SAMPLES runs give no meaningful median, so no verdict.
MONITORING_ANOMALY_FACTOR = env_float("MONITORING_ANOMALY_FACTOR", 3.0, minimum=1)
MONITORING_ANOMALY_SAMPLE = env_int("MONITORING_ANOMALY_SAMPLE", 20, minimum=1)
MONITORING_ANOMALY_MIN_SAMPLES = env_int("MONITORING_ANOMALY_MIN_SAMPLES", 5, minimum=1)
# ...and by at least this much: 3x of a few milliseconds is scheduling noise.
MONITORING_ANOMALY_MIN_EXCESS = env_duration("MONITORING_ANOMALY_MIN_EXCESS", "5s")
# A run is stuck once it runs this long past its timeout (the engine kills it
# at timeout + JOBS_TIMEOUT_GRACE; anything later means the kill did not land).
MONITORING_STUCK_GRACE = env_duration("MONITORING_STUCK_GRACE", "60s")
# Statistics window when the caller gives none, and the widest one allowed
# (a bound keeps one request from aggregating the whole table).
MONITORING_STATS_DEFAULT_DAYS = env_int("MONITORING_STATS_DEFAULT_DAYS", 30, minimum=1)
MONITORING_STATS_MAX_DAYS = env_int("MONITORING_STATS_MAX_DAYS", 366, minimum=1)
# The built-in refresh job: every minute keeps stored health at most a minute
# behind for the rules that no run triggers (missed execution, stuck runs).
MONITORING_HEALTH_REFRESH_CRON = env_str("MONITORING_HEALTH_REFRESH_CRON", "* * * * *")
# Retention: daily at a quiet hour; 1000-row batches keep each DELETE's locks
# to milliseconds so recording never waits on the clean-up.
MONITORING_CLEANUP_CRON = env_str("MONITORING_CLEANUP_CRON", "17 3 * * *")
MONITORING_CLEANUP_BATCH_SIZE = env_int("MONITORING_CLEANUP_BATCH_SIZE", 1000, minimum=1)
# After each run the receiver skips a job known healthy for this long, so a
# healthy job's success costs no query at all (per-run path budget).
MONITORING_HEALTHY_CACHE_TTL = env_duration("MONITORING_HEALTHY_CACHE_TTL", "30s")
# System status asks Celery which workers answer; a short wait keeps the
# status page fast while a live worker answers in milliseconds.
MONITORING_WORKER_PING_TIMEOUT = env_duration("MONITORING_WORKER_PING_TIMEOUT", "0.5s")

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
# An alert still unacknowledged escalates again after twice the previous wait
# (2h, then 4h, 8h ... later), raising severity one step each time, at most
# this many times: 4 covers the first 30 hours (a weekend's first day and
# night) without paging on-call forever about one forgotten alert.
ALERTS_ESCALATE_MAX_TIMES = env_int("ALERTS_ESCALATE_MAX_TIMES", 4, minimum=1, maximum=20)
# Extra addresses told about escalations (besides channels marked escalation).
ALERTS_ESCALATION_EMAILS = env_list("ALERTS_ESCALATION_EMAILS", "")
# Resolved alerts are kept this long for statistics, then deleted.
ALERTS_RETENTION_DAYS = env_int("ALERTS_RETENTION_DAYS", 180, minimum=1)
# Delivery retries: attempt n waits DELAY * 2^(n-1), capped; 10 attempts at
# 30 s base span about 2 hours, long enough to ride out a chat/SMTP outage.
ALERTS_DELIVERY_MAX_ATTEMPTS = env_int("ALERTS_DELIVERY_MAX_ATTEMPTS", 10, minimum=1)
ALERTS_DELIVERY_RETRY_DELAY = env_duration("ALERTS_DELIVERY_RETRY_DELAY", "30s")
ALERTS_DELIVERY_MAX_DELAY = env_duration("ALERTS_DELIVERY_MAX_DELAY", "30m")
# Total deadline of one webhook/chat delivery (connect, send, answer; not per
# socket read, so a server dripping its answer cannot stretch it): a slow
# endpoint must not hold a worker slot for long.
ALERTS_HTTP_TIMEOUT = env_duration("ALERTS_HTTP_TIMEOUT", "10s")
# How much of a receiver's answer is read: only a 200-character preview is
# ever shown, and a huge answer must not fill the web process's memory.
ALERTS_HTTP_MAX_RESPONSE_BYTES = env_int("ALERTS_HTTP_MAX_RESPONSE_BYTES", 64 * 1024, minimum=1024)
# A delivery being sent is claimed until this long after the send began, so a
# redelivered task message does not send it twice at once; no row lock is held
# during the send. Past it (the sending worker died) another attempt may claim
# it. Well above ALERTS_HTTP_TIMEOUT and an SMTP exchange.
ALERTS_DELIVERY_CLAIM = env_duration("ALERTS_DELIVERY_CLAIM", "5m")
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
# The business database SQL rules query, as the "compliance" alias: a URL
# whose role can only read (checked at every connect: not a superuser, no
# write or create privilege, default_transaction_read_only on). Jobwarden's
# own database ("default": tokens, password hashes, secrets) is never a
# target, so there is no default; rules may also name an ODBC connection.
# (The project's settings add the alias to DATABASES: config.settings.base.)
COMPLIANCE_DATABASE_URL = env_str("COMPLIANCE_DATABASE_URL", "")
# Django aliases SQL rules may query; the first is used by rules that name none.
COMPLIANCE_SQL_DATABASES = env_list(
    "COMPLIANCE_SQL_DATABASES", "compliance" if COMPLIANCE_DATABASE_URL else ""
)
# Extra modules holding @rule Python checks, besides each app's compliance_rules.py.
COMPLIANCE_RULE_MODULES = env_list("COMPLIANCE_RULE_MODULES", "")
