"""Production settings: HTTPS only, secrets and hosts given explicitly.

`manage.py check --deploy` is clean with these (tests/security). Anything
that cannot be safe by default is refused at start-up with one line naming
the variable (manage.py prints it without a traceback).
"""

from config.env import ImproperlyConfiguredEnv, env_bool, env_int, env_list, env_str

env_str("DATABASE_URL")  # fail loudly if missing
env_str("REDIS_URL")

from config.settings.base import *  # noqa: E402,F403

DEBUG = False


def _secret_key() -> str:
    """The key signs sessions, CSRF tokens and password-reset links: the
    development default (public, in this repository) or a short one would
    let anyone forge them."""
    key = env_str("DJANGO_SECRET_KEY", "")
    if key in ("", DEV_SECRET_KEY) or key.startswith("django-insecure-"):  # noqa: F405
        raise ImproperlyConfiguredEnv(
            "DJANGO_SECRET_KEY must be set to a random secret (the development key is refused); "
            "generate one: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    if len(key) < 50 or len(set(key)) < 5:
        raise ImproperlyConfiguredEnv(
            "DJANGO_SECRET_KEY is too weak: use at least 50 random characters"
        )
    return key


SECRET_KEY = _secret_key()
# No default: "testserver" or "localhost" in production would be a mistake.
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")

# --- HTTPS -----------------------------------------------------------------
# Plain HTTP is redirected to HTTPS. Behind a proxy that terminates TLS, set
# DJANGO_SECURE_PROXY_SSL_HEADER (e.g. X-Forwarded-Proto) or every request
# looks like HTTP and is redirected in a loop.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
# The header (and value "https") the proxy sets for HTTPS requests. Empty by
# default: trusting it while clients can reach the app directly would let
# them claim HTTPS. The proxy must overwrite the header, never pass it on.
_proxy_ssl_header = env_str("DJANGO_SECURE_PROXY_SSL_HEADER", "").strip()
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https") if _proxy_ssl_header else None
)
# HSTS: one year (what browsers' preload lists ask for) once HTTPS works.
# Subdomains of this host are included: they are ours too.
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading binds the whole registered domain for months and is hard to
# undo; it is the domain owner's decision, so it is off unless asked for, and
# Django's reminder (security.W021) is silenced only while it is off.
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# --- Static files (WhiteNoise) ---------------------------------------------
# Hashed, pre-compressed static file names: cached forever by browsers, never stale.
# Needs collectstatic (the Docker image runs it); the tests keep the plain storage.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Cookies and headers -----------------------------------------------------
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
