# Versions of the add-ons `make cluster` installs, in one place: the Makefile includes this file
# and tests/harness/versions.py reads it, so the CRDs the chart tests install and validate
# against are those of the add-ons a user gets. Bump here, then `make test-deps` (the install
# phase fetches the matching CRDs) and the tests.

# kube-prometheus-stack chart -> the prometheus-operator it runs (the chart's appVersion): the
# operator's CRDs (ServiceMonitor, PodMonitor, PrometheusRule) come from its Go module at that
# version. Bumping KPS_VERSION needs a row here; `make cluster-addons` refuses a version without
# one, and tests/charts/test_cluster_setup.py checks the pair.
# Sources: kube-prometheus-stack-77.1.1 Chart.yaml appVersion; release notes of
# kube-prometheus-stack-91.5.1 (github.com/prometheus-community/helm-charts/releases, "Update
# dependency prometheus-operator/prometheus-operator to v0.94.1", #7312). The newest release is
# 94.4.0 (2026-12-01), but operator versions after v0.94.1 (v0.94.2, v0.95.x) are not served by
# the Go module proxy (403), so their CRDs cannot be fetched by the install phase: 91.5.1 /
# v0.94.1 is the newest pair the tests can validate against.
KPS_OPERATOR_77.1.1 := v0.85.0
KPS_OPERATOR_91.5.1 := v0.94.1
KPS_VERSION ?= 91.5.1

# Traefik (Ingress and Gateway API controller; chart v42.4.3 of 2026-11-24 runs Traefik v3.7.20,
# github.com/traefik/traefik-helm-chart/releases) and the Gateway API release it implements:
# Traefik v3.7 supports Gateway API v1.5 (traefik/traefik#12930: "gateway-api 1.5.1 is supported
# since traefik 3.7.0"; the chart's README installs v1.5.1's standard-install.yaml). The test API
# server gets the same CRDs from the Go module sigs.k8s.io/gateway-api at this version.
TRAEFIK_VERSION ?= 42.4.3
GATEWAY_API_VERSION ?= v1.5.1
