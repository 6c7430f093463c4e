"""Base settings. Every value comes from the environment via config.env."""

from __future__ import annotations

import warnings
from pathlib import Path

import dj_database_url

from config.env import (
    env_bool,
    env_int,
    env_list,
    env_str,
)

# Jobwarden's own settings (also what a host project imports).
from config.settings.jobwarden import *  # noqa: E402,F403

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# Public, for development only: config.settings.production refuses it.
DEV_SECRET_KEY = "dev-insecure-key-change-me"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
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
    *JOBWARDEN_APPS,  # noqa: F405
]

MIDDLEWARE = [
    "config.health.HealthzMiddleware",  # first: probes skip host checks and redirects
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ from STATIC_ROOT (collectstatic) in any deployment, so the
    # admin is styled without a separate static file server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    *JOBWARDEN_MIDDLEWARE,  # noqa: F405  (last: django-axes requires it)
]
AUTHENTICATION_BACKENDS = JOBWARDEN_AUTHENTICATION_BACKENDS  # noqa: F405

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
# The business database compliance SQL rules read, never "default"
# (COMPLIANCE_DATABASE_URL in config.settings.jobwarden says why).
if COMPLIANCE_DATABASE_URL:  # noqa: F405
    DATABASES["compliance"] = dj_database_url.parse(COMPLIANCE_DATABASE_URL)  # noqa: F405
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's four validators. 12 characters rather than the default 8: these
# logins can run code on the workers.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("AUTH_PASSWORD_MIN_LENGTH", 12, minimum=8)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves what collectstatic put in STATIC_ROOT (the Docker image) and,
# where it never ran (`make run`, the tests), the apps' own static files, so
# the admin is styled either way. Its warning about the absent STATIC_ROOT is
# expected then.
WHITENOISE_USE_FINDERS = True
warnings.filterwarnings("ignore", message="No directory at: .*staticfiles", category=UserWarning)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
