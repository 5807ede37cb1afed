# porto: every command a user types. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV := $(shell scripts/ensure-uv.sh)
$(if $(UV),,$(error uv could not be installed by scripts/ensure-uv.sh: see the error above))
RUN := $(UV) run --frozen
PORTO_HOME ?= .porto
export PORTO_HOME

.PHONY: help install lint format test test-deps test-fast demo train bench-train bench-score data-kaggle tools clean

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

install: ## Install the Python workspace (all packages + dev tools) from the lockfiles
	$(UV) sync --frozen --all-packages
	@# the kserve SDK for the Open Inference Protocol tests, in its own environment: its pins
	@# (psutil<6, protobuf<7) cannot join the workspace's lock (tests/clients/kserve)
	$(UV) sync --frozen --project tests/clients/kserve

lint: install ## ruff + mypy (strict on packages/, jobs/, services/)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: install ## Apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

tools: ## Build the pinned tools the tests use (MinIO, helm, kubeconform, actionlint, and the node's: Kubernetes, CoreDNS, the Prometheus Operator...) into ~/.cache/porto/bin, once
	scripts/tools.sh minio helm kubeconform actionlint $(NODE_TOOLS)

test-deps: ## Check and install what the tests need: Debian packages (as root), pinned Go tools, offline schemas
	scripts/test-deps.sh

# The suite runs with the package registries switched off, so a test that would download
# something fails loudly instead of passing on a machine that happens to have network.
test: install test-deps lint ## Set up (test-deps), lint, then run the whole test suite against real servers
	UV_OFFLINE=1 GOPROXY=off PIP_NO_INDEX=1 $(RUN) pytest -q

test-fast: install ## Tests that need no external server
	$(RUN) pytest -q -m "not integration and not slow"

demo: install ## Run porto locally: train if needed (synthetic data), then API :8000 + UI :8501
	$(RUN) python scripts/demo.py $(ARGS)

train: install ## Train with jobs/training/config.yaml (pass ARGS="--help" for options)
	$(RUN) porto-train train $(ARGS)

bench-train: install ## Train on 595,212 synthetic rows; print wall time, peak RSS, AUC vs oracle
	$(RUN) python bench/bench_train.py

bench-score: install ## porto-score on 595,212 synthetic rows (CSV, Parquet); print rows/s and peak RSS (ARGS="--explain")
	$(RUN) python bench/bench_score.py $(ARGS)

data-kaggle: install ## Download the real Porto Seguro data with the kaggle CLI (needs credentials)
	scripts/fetch-kaggle.sh

clean: ## Remove local state (.porto/) and caches in the checkout
	rm -rf .porto .pytest_cache .mypy_cache .ruff_cache catboost_info

.PHONY: monitor
monitor: ## Prometheus + node exporter on 127.0.0.1:9090 for the local API (:8000), with porto's alerts
	$(RUN) python dashboards/monitor.py $(ARGS)

# --- cluster: porto on Kubernetes (kind by default; minikube in charts/porto/README.md) ---------
# Needs docker and kubectl on PATH; helm and kind are the pinned builds of scripts/tools.sh
# (override with HELM=helm KIND=kind to use your own). Every command names KUBE_CONTEXT, so
# nothing lands on another cluster by accident.
CLUSTER ?= porto
KUBE_CONTEXT ?= kind-$(CLUSTER)
NAMESPACE ?= porto
RELEASE ?= porto
MONITORING_NAMESPACE ?= monitoring
# Add-on versions (KPS_VERSION and the prometheus-operator it runs, TRAEFIK_VERSION,
# GATEWAY_API_VERSION): one file, which the test harness reads too.
include deploy/versions.mk
PROMETHEUS_OPERATOR_VERSION = $(KPS_OPERATOR_$(KPS_VERSION))
# Traefik, the Ingress and Gateway API controller: TRAEFIK=kind (host ports 80/443 of the kind
# node), minikube (a NodePort Service), none (the cluster has a controller: skip it).
TRAEFIK ?= kind
# The images' tag: `git describe`, plus a hash of the uncommitted changes when there are any
# (scripts/image-tag.sh), so changed content always rolls out. Computed once, on first use.
IMAGE_TAG ?= $(eval IMAGE_TAG := $(shell scripts/image-tag.sh))$(IMAGE_TAG)
PORTO_BIN = $(or $(PORTO_CACHE),$(HOME)/.cache/porto)/bin
pinned = $(PORTO_BIN)/$(shell sed -n 's/^ *"$(1)|[^|]*|[^|]*|\([^"]*\)".*/\1/p' scripts/tools.sh)
HELM ?= $(call pinned,helm)
KIND ?= $(call pinned,kind)
# kubectl from PATH, else the pinned build (`make tools`).
KUBECTL ?= $(or $(shell command -v kubectl 2>/dev/null),$(call pinned,kubectl))
K = $(KUBECTL) --context $(KUBE_CONTEXT)
H = $(HELM) --kube-context $(KUBE_CONTEXT)
# `make images`: the engine DOCKER_HOST names, through DOCKER (a client that builds with BuildKit).
# BASE_IMAGE=offline builds the base from Debian packages (no container registry needed);
# EXTRA_CA=<pem> adds CAs a TLS-intercepting proxy needs; IMAGES picks images (also: postgres).
DOCKER ?= docker
# The node of `make node-up` has no registry: PostgreSQL's image is built and loaded too.
ON_NODE = $(filter porto-node,$(KUBE_CONTEXT))
IMAGES ?= inference ui training minio$(if $(ON_NODE), postgres)
BUILD_IMAGES = DOCKER='$(DOCKER)' IMAGE_TAG='$(IMAGE_TAG)' IMAGES='$(IMAGES)' \
	BASE_IMAGE='$(BASE_IMAGE)' EXTRA_CA='$(EXTRA_CA)' UV_OFFLINE='$(UV_OFFLINE)' \
	VERSION='$(IMAGE_TAG)' REVISION='$(shell git rev-parse HEAD 2>/dev/null || echo unknown)' \
	SOURCE='$(shell git remote get-url origin 2>/dev/null)' scripts/build-images.sh

.PHONY: cluster cluster-addons cluster-tools check-versions images load deploy dev port-forward e2e \
	undeploy cluster-down grafana-password chart-sync chart-docs train-cluster image-sizes

# (no `##`: a prerequisite of the cluster targets, not a command of its own)
cluster-tools:
	@command -v docker >/dev/null || { echo "docker is required (https://docs.docker.com/engine/install/)"; exit 1; }
	@command -v $(KUBECTL) >/dev/null || [ "$(KUBECTL)" != "$(call pinned,kubectl)" ] || scripts/tools.sh kubectl
	@command -v $(KUBECTL) >/dev/null || { echo "kubectl is required (https://kubernetes.io/docs/tasks/tools/)"; exit 1; }
	@[ "$(HELM)" != "$(call pinned,helm)" ] || scripts/tools.sh helm
	@[ -n "$(ON_NODE)" ] || [ "$(KIND)" != "$(call pinned,kind)" ] || scripts/tools.sh kind

cluster: cluster-tools ## kind cluster `porto` (ports 80/443) + Traefik (Ingress, Gateway API) + kube-prometheus-stack, Grafana password generated
	@$(KIND) get clusters 2>/dev/null | grep -qx '$(CLUSTER)' || \
	  $(KIND) create cluster --name $(CLUSTER) --config deploy/kind-config.yaml --wait 120s
	$(MAKE) --no-print-directory cluster-addons

# (no `##`: a prerequisite) KPS_VERSION must have its operator row in deploy/versions.mk.
check-versions:
	@[ -n "$(PROMETHEUS_OPERATOR_VERSION)" ] || { echo "error: KPS_VERSION=$(KPS_VERSION) has no KPS_OPERATOR_$(KPS_VERSION) row in deploy/versions.mk (the prometheus-operator that kube-prometheus-stack version runs: its Chart.yaml appVersion)" >&2; exit 1; }

cluster-addons: check-versions cluster-tools ## Gateway API CRDs + Traefik + kube-prometheus-stack on KUBE_CONTEXT (TRAEFIK=minikube|none)
ifneq ($(TRAEFIK),none)
	$(K) apply --server-side --force-conflicts \
	  -f https://github.com/kubernetes-sigs/gateway-api/releases/download/$(GATEWAY_API_VERSION)/standard-install.yaml
	$(H) upgrade --install traefik traefik \
	  --repo https://traefik.github.io/charts --version $(TRAEFIK_VERSION) \
	  --namespace traefik --create-namespace \
	  -f deploy/traefik-values.yaml -f deploy/traefik-values-$(TRAEFIK).yaml --wait --timeout 5m
endif
	$(K) create namespace $(MONITORING_NAMESPACE) --dry-run=client -o yaml | $(K) apply -f -
	@# A generated admin password, kept across re-runs (never admin/admin): make grafana-password
	@$(K) -n $(MONITORING_NAMESPACE) get secret grafana-admin >/dev/null 2>&1 || \
	  $(K) -n $(MONITORING_NAMESPACE) create secret generic grafana-admin --from-literal=admin-user=admin \
	    --from-literal=admin-password="$$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32)"
	@# prometheus-operator $(PROMETHEUS_OPERATOR_VERSION); its CRDs follow the chart (crds.upgradeJob in the values).
	$(H) upgrade --install kube-prometheus-stack kube-prometheus-stack \
	  --repo https://prometheus-community.github.io/helm-charts --version $(KPS_VERSION) \
	  --namespace $(MONITORING_NAMESPACE) -f deploy/kube-prometheus-stack-values.yaml --wait --timeout 15m

images: ## Build porto-inference, -ui, -training and -minio, tagged IMAGE_TAG (BASE_IMAGE=offline: no registry needed)
	@CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) $(BUILD_IMAGES) build

image-sizes: ## Print each image's size (as `docker images` shows) against its target; fails when one is over
	@$(BUILD_IMAGES) sizes

# porto-minio's tag is the MinIO version it holds (scripts/tools.sh's pin), the chart's default.
MINIO_IMAGE_TAG = $(eval MINIO_IMAGE_TAG := $(shell scripts/build-images.sh minio-tag))$(MINIO_IMAGE_TAG)
LOAD_IMAGES = porto-inference:$(IMAGE_TAG) porto-ui:$(IMAGE_TAG) porto-training:$(IMAGE_TAG) \
	porto-minio:$(MINIO_IMAGE_TAG)$(if $(ON_NODE), porto-postgres:$(IMAGE_TAG))

load: cluster-tools ## Load the images into the kind cluster (minikube: KUBE_CONTEXT=minikube; the node of `make node-up`: KUBE_CONTEXT=porto-node)
ifeq ($(KUBE_CONTEXT),minikube)
	minikube image load $(LOAD_IMAGES)
else ifeq ($(KUBE_CONTEXT),porto-node)
	$(NODE) load --docker '$(DOCKER)' $(LOAD_IMAGES)
else
	$(KIND) load docker-image --name $(CLUSTER) $(LOAD_IMAGES)
endif

deploy: cluster-tools ## helm upgrade --install porto with IMAGE_TAG; waits until the first model is served
	$(H) upgrade --install $(RELEASE) charts/porto --namespace $(NAMESPACE) --create-namespace \
	  -f deploy/porto-values-kind.yaml \
	  $(if $(ON_NODE),-f deploy/porto-values-node.yaml --set postgres.image.tag=$(IMAGE_TAG)) \
	  --set inference.image.tag=$(IMAGE_TAG) --set training.image.tag=$(IMAGE_TAG) \
	  --set ui.image.tag=$(IMAGE_TAG) \
	  --wait --timeout 20m
	$(H) test $(RELEASE) --namespace $(NAMESPACE) --logs

dev: cluster-tools ## skaffold dev: rebuild, redeploy, port-forward (API :8000, UI :8501, Grafana :3000) on every change; trains on the first deploy only (TRAIN=1: on every one)
	@command -v skaffold >/dev/null || { echo "skaffold is required (https://skaffold.dev/docs/install/)"; exit 1; }
	@# skaffold runs helm, kind (`kind load`) and kubectl by name from PATH: put the ones this
	@# Makefile uses (the pinned builds unless HELM/KIND/KUBECTL say otherwise) there.
	mkdir -p $(PORTO_BIN)/skaffold
	ln -sf "$$(command -v $(HELM))" $(PORTO_BIN)/skaffold/helm
	ln -sf "$$(command -v $(KIND))" $(PORTO_BIN)/skaffold/kind
	ln -sf "$$(command -v $(KUBECTL))" $(PORTO_BIN)/skaffold/kubectl
	@# PORTO_DEV_TRAIN: skaffold.yaml's training.job.onUpgrade (a redeploy starts no training run).
	PORTO_DEV_TRAIN=$(if $(filter 1 true yes,$(TRAIN)),true,false) PATH="$(PORTO_BIN)/skaffold:$$PATH" \
	  skaffold dev --kube-context $(KUBE_CONTEXT) --port-forward

port-forward: ## Forward the API to localhost:8000, the UI to :8501 and Grafana to :3000 (Ctrl-C stops them)
	@echo "API http://localhost:8000/docs   UI http://localhost:8501   Grafana http://localhost:3000 (make grafana-password)"
	@$(K) -n $(NAMESPACE) port-forward svc/$(RELEASE)-inference 8000:8000 & api=$$!; \
	 $(K) -n $(NAMESPACE) port-forward svc/$(RELEASE)-ui 8501:8501 & ui=$$!; \
	 $(K) -n $(MONITORING_NAMESPACE) port-forward svc/kube-prometheus-stack-grafana 3000:80 & grafana=$$!; \
	 trap 'kill $$api $$ui $$grafana 2>/dev/null' INT TERM EXIT; wait

grafana-password: ## Print Grafana's generated admin password (user admin)
	@$(K) -n $(MONITORING_NAMESPACE) get secret grafana-admin -o jsonpath='{.data.admin-password}' | base64 -d; echo

train-cluster: install ## Start a training run on the cluster from the release's Job template and follow it (ARGS="--rows 200000 --promote")
	$(RUN) porto-train cluster run --context $(KUBE_CONTEXT) --namespace $(NAMESPACE) \
	  --release $(RELEASE) $(ARGS)

e2e: install ## End-to-end tests against the deployed release (needs `make cluster images load deploy`)
	PORTO_E2E=1 PORTO_E2E_CONTEXT=$(KUBE_CONTEXT) PORTO_E2E_NAMESPACE=$(NAMESPACE) \
	  PORTO_E2E_RELEASE=$(RELEASE) PORTO_E2E_MONITORING_NAMESPACE=$(MONITORING_NAMESPACE) \
	  PORTO_E2E_KUBECTL='$(KUBECTL)' \
	  $(RUN) pytest -v -p no:cacheprovider tests/e2e

undeploy: cluster-tools ## Uninstall porto (PURGE=1 also deletes its volumes and kept Secrets: database and MinIO credentials, the API key)
	-$(H) uninstall $(RELEASE) --namespace $(NAMESPACE) --wait
	@# What helm does not own: the `helm test` pod (a hook) and the training runs started by
	@# `make train-cluster` or the UI, all labelled with the release.
	$(K) -n $(NAMESPACE) delete jobs,pods -l app.kubernetes.io/instance=$(RELEASE) \
	  --ignore-not-found --wait=true
ifeq ($(PURGE),1)
	$(K) -n $(NAMESPACE) delete pvc,secret -l app.kubernetes.io/instance=$(RELEASE) --ignore-not-found
endif

# --- a real one-node cluster on this machine, where kind cannot run (no registry) ------------------
# tests/harness/node.py: etcd, kube-apiserver, controller-manager, scheduler, kubelet on
# containerd, kube-proxy, CoreDNS, the local-path provisioner (StorageClass standard), and the
# Prometheus Operator with a Prometheus as kube-prometheus-stack sets it up. Needs root.
NODE = PYTHONPATH=tests $(RUN) python -m harness.node
NODE_TOOLS = etcd kube-apiserver kubectl kube-controller-manager kube-scheduler kubelet kube-proxy \
	coredns local-path-provisioner prometheus-operator prometheus-config-reloader prometheus \
	kube-state-metrics
.PHONY: node-up node-down node-status
node-up: install ## A real Kubernetes node on this machine (root), context porto-node: then `make images load deploy e2e KUBE_CONTEXT=porto-node`
	@scripts/tools.sh $(NODE_TOOLS)
	$(NODE) up

node-down: install ## Stop the node of `make node-up` and remove everything it made (pods, mounts, iptables rules, bridge)
	$(NODE) down

node-status: install ## Which of the node's processes run (exit 1 when it is not up)
	@$(NODE) status

cluster-down: cluster-tools ## Delete the kind cluster (everything in it)
	$(KIND) delete cluster --name $(CLUSTER)

chart-sync: ## Copy dashboards/ (JSON + alert rules) into the chart (the tests fail on drift)
	$(RUN) python charts/porto/hack/sync_dashboards.py

chart-docs: install ## Regenerate the charts' values.schema.json and the README values tables
	$(RUN) python charts/porto/hack/values_docs.py

# --- inference API benchmark (services/inference) ----------------------------------------------
.PHONY: bench-api
bench-api: install ## Benchmark the API under gunicorn with wrk and a real PostgreSQL (ARGS="--duration 20")
	$(RUN) python bench/bench_api.py $(ARGS)
