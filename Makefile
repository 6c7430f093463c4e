# Jobwarden — `make help` lists the targets.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
# Two stamps: run/install get the runtime pins only; test/lint/format add the dev tools.
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# Where `make web` listens: loopback unless told (HOST=0.0.0.0 make web).
HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install install-dev system-deps run web worker beat flower test lint format bench docs migrate clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip && $(BIN)/pip install -q -r requirements.lock && $(BIN)/pip install -q --no-deps -e . && touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.lock
	$(BIN)/pip install -q -r requirements-dev.lock && touch $(DEV_STAMP)

install: $(STAMP) ## Create .venv and install the runtime dependencies (requirements.lock)

install-dev: $(DEV_STAMP) ## install, plus pytest, ruff, mypy, schemathesis … (requirements-dev.lock)

system-deps: ## Debian packages the tests use (ODBC drivers, docker-compose): installed as root, else named
	bash scripts/system-deps

run: install ## Everything on embedded defaults: migrate, example jobs, admin login, web + worker + beat
	$(BIN)/python -m config.launcher

web: install ## The web app on 127.0.0.1 (HOST=0.0.0.0 to listen on every interface)
	$(MANAGE) runserver $(HOST):$(PORT)

worker: install ## One Celery worker (jobs and system queues)
	$(BIN)/celery -A config worker -l INFO -Q celery,jobs

beat: install ## Celery beat reading the schedule from the database
	$(BIN)/celery -A config beat -l INFO

flower: install ## Flower, read-only, on 127.0.0.1 (FLOWER_BASIC_AUTH=user:password in the environment)
	$(BIN)/celery -A config flower --conf=config/flower.py

migrate: install ## Apply database migrations
	$(MANAGE) migrate

test: install-dev system-deps ## The whole suite against real PostgreSQL and Redis (flushes Redis db 15)
	@echo "make test: Redis $${REDIS_URL:-redis://127.0.0.1:6379/15} is flushed" >&2
	$(BIN)/pytest

lint: install-dev ## ruff, mypy on services/selectors, makemigrations --check
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy && DJANGO_SETTINGS_MODULE=config.settings.test DATABASE_URL=sqlite:///:memory: $(MANAGE) makemigrations --check --dry-run

format: install-dev ## Apply ruff formatting and safe fixes
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: install ## Benchmarks (not tests): throughput and latency figures
	$(BIN)/python -m bench

docs: install ## Regenerate docs/job-kinds.md from the kinds' key reference
	$(BIN)/python -m jobs.execution.kinds.reference > docs/job-kinds.md

clean: ## Remove the virtualenv and local state
	rm -rf $(VENV) db.sqlite3* var/
