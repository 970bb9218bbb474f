# Every install step of the project lives here: `make setup` is idempotent and runs on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
CDK_FLAGS := --no-notices --no-version-reporting --no-lookups
# Glue's Java major version, from the one place that declares Glue's runtime.
GLUE_JAVA = $(shell $(PYTHON) -c 'from stacks.runtimes import GLUE; print(GLUE.java)')
ENVS = $(shell $(PYTHON) -c 'import json; print(" ".join(json.load(open("cdk.json"))["context"]["environments"]))')

# jsii prints a banner on Node 20 (the version this machine ships); the CDK itself runs fine on it.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: help setup demo synth snapshot smoke iam check test lint bench system-packages clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: $(VENV)/.installed node_modules/.installed ## Create .venv and install pinned Python and npm dependencies

$(VENV)/.installed: requirements-dev.txt requirements-demo.txt processing/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -r requirements-demo.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: setup system-packages ## Run both pipelines end to end offline (moto, local DeepAR); artifacts in demo-out/
	$(PY) -m localrun demo

# The CDK's built-in CloudFormation validator takes about two thirds of a synth; cdk-nag still
# runs here, and the validator runs in the test suite's CLI synth of every environment
# (tests/infra/test_gates.py) and on every `cdk deploy`.
synth: setup ## Write the CloudFormation templates of every environment to cdk.out/<env>/ (cdk-nag on)
	@for env in $(ENVS); do \
	  echo "synth $$env -> cdk.out/$$env"; \
	  $(CDK) synth $(CDK_FLAGS) --no-validation --quiet -c env=$$env -o cdk.out/$$env || exit 1; \
	done

snapshot: setup ## Write each environment's templates, asset hashes masked, to snapshots/<env>/ (review, then commit)
	$(PY) -m tests.infra.snapshots

smoke: setup ## Check a deployed environment with your AWS credentials: make smoke ENV=dev [SMOKE_FLAGS="--forecast"]
	@test -n "$(ENV)" || { echo "usage: make smoke ENV=<environment of cdk.json> [SMOKE_FLAGS=...]"; exit 2; }
	$(PY) -m tools.smoke -c env=$(ENV) $(SMOKE_FLAGS)

iam: synth ## Evaluate every inventoried AWS request against each environment's templates (tools/iam_check)
	$(PY) -m tools.iam_check $(addprefix cdk.out/,$(ENVS))

system-packages: ## Install what the database and Spark tests run on when missing: MariaDB, Glue's Java, MariaDB JDBC (apt, root)
	@need=""; \
	if [ -z "$$MYSQL_URL" ] && ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ] && [ ! -x /usr/sbin/mysqld ]; then \
	  need="mariadb-server"; \
	fi; \
	if ! { [ -n "$$JAVA_HOME" ] && [ -x "$$JAVA_HOME/bin/java" ]; } && ! java -version 2>&1 | grep -q 'version "$(GLUE_JAVA)[."]'; then \
	  need="$$need openjdk-$(GLUE_JAVA)-jre-headless"; \
	fi; \
	if [ -z "$$MARIADB_JDBC_JAR" ] && ! dpkg -L libmariadb-java 2>/dev/null | grep -q 'mariadb-java-client.*\.jar$$'; then \
	  need="$$need libmariadb-java"; \
	fi; \
	if [ -z "$$need" ]; then \
	  exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing$$need for the database and Spark tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$need >/dev/null; \
	else \
	  echo "missing:$$need (the database and Spark tests need them; install them or set MYSQL_URL, JAVA_HOME, MARIADB_JDBC_JAR)"; \
	fi

# pytest-xdist workers for make test (each starts its own MariaDB and Spark); 0 runs serially.
PYTEST_WORKERS ?= 2

check: setup ## The inner loop, about a minute: ruff, mypy, the unit and template tests (no Spark, database server or DeepAR twin)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m "not slow and not mysql" tests/unit tests/infra

test: setup system-packages lint ## Lint, then run the whole test suite (unit, infra, gates, database, end to end)
	$(PY) -m pytest -n $(PYTEST_WORKERS)

lint: setup ## ruff (lint and format), mypy (each Lambda folder on its own), the Python-version gate, the CI workflow's and Dependabot's schemas, zizmor
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(PY) -m tools.version_gate
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	$(VENV)/bin/zizmor --offline --no-progress .github
	$(VENV)/bin/pre-commit validate-config .pre-commit-config.yaml
	@for fn in lambdas/*/; do echo "mypy $$fn"; \
	  (cd "$$fn" && $(CURDIR)/$(VENV)/bin/mypy --config-file $(CURDIR)/pyproject.toml --exclude '^$$' \
	    --cache-dir $(CURDIR)/.mypy_cache/$$(basename $$fn) *.py) || exit 1; \
	done

bench: setup system-packages ## Measure start-up, forecast write, generate-dataset, the DeepAR twin's forecasts, per-series selection, a standardize burst and standardize (benchmarks/README.md)
	$(PY) benchmarks/runner_startup.py
	$(PY) benchmarks/forecast_write.py
	$(PY) benchmarks/generate_dataset.py
	$(PY) benchmarks/deepar_quality.py
	$(PY) benchmarks/forecast_selection.py
	$(PY) benchmarks/standardize_burst.py
	$(PY) benchmarks/standardize.py

clean: ## Remove build output (keeps .venv and node_modules)
	rm -rf cdk.out demo-out .pytest_cache .mypy_cache .ruff_cache
