# Jobwarden — `make help` lists the targets.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run web worker beat flower test lint format bench docs migrate clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip && $(BIN)/pip install -q -r requirements.lock && $(BIN)/pip install -q --no-deps -e . && touch $(STAMP)

install: $(STAMP) ## Create .venv and install the locked dependencies

run: install ## Everything on embedded defaults: migrate, example jobs, admin login, web + worker + beat
	$(BIN)/python -m config.launcher

web: install ## The web app (admin at /admin/, API at /api/v1/)
	$(MANAGE) runserver 0.0.0.0:$${PORT:-8000}

worker: install ## One Celery worker (jobs and system queues)
	$(BIN)/celery -A config worker -l INFO -Q celery,jobs

beat: install ## Celery beat reading the schedule from the database
	$(BIN)/celery -A config beat -l INFO

flower: install ## Flower, behind basic auth (FLOWER_BASIC_AUTH=user:password)
	$(BIN)/celery -A config flower --basic-auth=$${FLOWER_BASIC_AUTH:?set FLOWER_BASIC_AUTH=user:password}

migrate: install ## Apply database migrations
	$(MANAGE) migrate

test: install ## The whole suite against real PostgreSQL and Redis
	$(BIN)/pytest

lint: install ## ruff, mypy on services/selectors, makemigrations --check
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy && DJANGO_SETTINGS_MODULE=config.settings.test DATABASE_URL=sqlite:///:memory: $(MANAGE) makemigrations --check --dry-run

format: install ## Apply ruff formatting and safe fixes
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: install ## Benchmarks (not tests): throughput and latency figures
	$(BIN)/python -m bench

docs: install ## Regenerate docs/job-kinds.md from the kinds' key reference
	$(BIN)/python -m jobs.execution.kinds.reference > docs/job-kinds.md

clean: ## Remove the virtualenv and local state
	rm -rf $(VENV) db.sqlite3* var/
