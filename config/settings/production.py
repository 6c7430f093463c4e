"""Production settings: PostgreSQL and Redis must be given explicitly."""

from config.env import env_str

env_str("DATABASE_URL")  # fail loudly if missing
env_str("REDIS_URL")
env_str("DJANGO_SECRET_KEY")

from config.settings.base import *  # noqa: E402,F403

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
