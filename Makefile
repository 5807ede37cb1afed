# porto: every command a user types. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV := $(shell scripts/ensure-uv.sh)
RUN := $(UV) run --frozen
PORTO_HOME ?= .porto
export PORTO_HOME

.PHONY: help install lint format test test-fast demo train bench-train data-kaggle tools clean

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

install: ## Install the Python workspace (all packages + dev tools) from the lockfile
	$(UV) sync --frozen --all-packages

lint: install ## ruff + mypy (strict on packages/, jobs/, services/)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: install ## Apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

tools: ## Build the pinned tools the tests use (MinIO, helm, kubeconform) into ~/.cache/porto/bin, once
	scripts/tools.sh minio helm kubeconform

test: install tools lint ## Lint, then run the whole test suite against real servers
	$(RUN) pytest -q

test-fast: install ## Tests that need no external server
	$(RUN) pytest -q -m "not integration and not slow"

demo: install ## Run porto locally: synthetic data → train → local artifact store
	$(RUN) python -m porto_training.demo

train: install ## Train with jobs/training/config.yaml (pass ARGS="--help" for options)
	$(RUN) porto-train train $(ARGS)

bench-train: install ## Train on 595,212 synthetic rows; print wall time, peak RSS, AUC vs oracle
	$(RUN) python bench/bench_train.py

data-kaggle: install ## Download the real Porto Seguro data with the kaggle CLI (needs credentials)
	scripts/fetch-kaggle.sh

clean: ## Remove local state (.porto/) and caches in the checkout
	rm -rf .porto .pytest_cache .mypy_cache .ruff_cache catboost_info

.PHONY: monitor
monitor: ## Prometheus + node exporter on 127.0.0.1:9090 for the local API (:8000), with porto's alerts
	$(RUN) python dashboards/monitor.py $(ARGS)

# --- inference API benchmark (services/inference) ----------------------------------------------
.PHONY: bench-api
bench-api: install ## Benchmark the API under gunicorn with wrk and a real PostgreSQL (ARGS="--duration 20")
	$(RUN) python bench/bench_api.py $(ARGS)
