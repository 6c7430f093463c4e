# Jobwarden's production image: runtime dependencies only (requirements.lock),
# the Debian ODBC drivers SQL jobs use, static files collected, a non-root user.
# docker-compose.yml runs it as web, worker, beat and flower.

# --- build: a virtualenv with the locked runtime dependencies ----------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /venv
ENV PATH=/venv/bin:$PATH
COPY requirements.lock /tmp/
RUN pip install -r /tmp/requirements.lock

WORKDIR /app
COPY . .
# Hashed, compressed copies for WhiteNoise (the production storage, hence the
# production settings); no database, broker or real key is used here.
RUN DJANGO_SETTINGS_MODULE=config.settings.production \
    DJANGO_SECRET_KEY=collectstatic-only-never-a-runtime-key-0123456789abcdefghij \
    DJANGO_ALLOWED_HOSTS=build DATABASE_URL=sqlite:////tmp/build.sqlite3 REDIS_URL=redis://unused:6379/0 \
    python manage.py collectstatic --noinput \
 && python -m compileall -q /app

# --- runtime ----------------------------------------------------------------
FROM python:3.11-slim
# unixodbc: libodbc.so.2 for pyodbc; the drivers register "PostgreSQL Unicode"
# and "MariaDB Unicode" in /etc/odbcinst.ini.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      unixodbc odbc-postgresql odbc-mariadb \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --home-dir /app jobwarden
COPY --from=build /venv /venv
# Owned by root: the app user can read its code but not change it; it writes
# only under /tmp (beat's pid file).
COPY --from=build /app /app
ENV PATH=/venv/bin:$PATH PYTHONPATH=/app PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production
WORKDIR /app
USER 10001
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
