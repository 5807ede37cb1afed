#!/usr/bin/env bash
# Everything `make test` needs beyond the Python workspace, checked first, then installed where this
# script can, once: Debian packages (as root, with apt), uv, the pinned Go tools, and the offline
# caches the tests read (kubeconform schemas, the add-ons' CRD modules). Prints nothing
# when all of it is there. A prerequisite it cannot install stops it at once with one line naming
# it. Tests never download: whatever they read from the network is fetched here, with retries.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/retry.sh
. "$REPO/scripts/lib/retry.sh"
fail() { echo "error: $*" >&2; exit 1; }

# postgresql: the harness runs Debian's server binaries; prometheus (+ promtool) and the node
# exporter: the rule and PromQL checks; chromium: the UI's browser tests; docker.io (dockerd,
# containerd, runc, the docker CLI with BuildKit built in), debootstrap and iproute2: the harness's
# own Docker engine, which builds and runs porto's images (tests/harness/docker.py);
# containernetworking-plugins, conntrack and busybox-static: the real node (containerd and runc
# come with docker.io; tests/harness/node.py).
# PORTO_TEST_DEBIAN_PACKAGES replaces the list (the installer's own tests use it).
read -r -a DEBIAN_PACKAGES <<<"${PORTO_TEST_DEBIAN_PACKAGES:-postgresql prometheus prometheus-node-exporter chromium docker.io debootstrap iproute2 containernetworking-plugins conntrack busybox-static}"
# The Go the pinned tool modules declare (tools/*/go.mod `go` lines).
GO_MIN=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$REPO"/tools/*/go.mod | sort -V | tail -n 1)

# --- 1. prerequisites, all checked before anything is installed ------------------------------
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]; }
if ! command -v go >/dev/null; then
  fail "Go >= $GO_MIN is required to build the pinned test tools and is not on PATH: install it (https://go.dev/doc/install)"
fi
go_version=$(go env GOVERSION); go_version=${go_version#go}
version_ge "${go_version%%[!0-9.]*}" "$GO_MIN" ||
  fail "Go >= $GO_MIN is required (tools/*/go.mod), found $go_version at $(command -v go): upgrade it (https://go.dev/doc/install)"

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    fail "missing Debian packages: ${missing[*]}: run \`sudo apt-get install -y --no-install-recommends ${missing[*]}\` (or run make test as root on Debian/Ubuntu, which installs them)"
  fi
  echo "installing Debian packages: ${missing[*]}" >&2
  # Keep the packages' system services from starting (the tests start their own servers on free
  # loopback ports): policy-rc.d answering 101 is Debian's switch for that.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  retry "apt-get update" apt-get update -qq
  retry "apt-get install ${missing[*]}" \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- 2. uv, the pinned Go tools, the offline caches, the images -------------------------------
UV=$("$REPO/scripts/ensure-uv.sh")
# The images: the offline base (debootstrap, cached) and every download step of `make images`
# (uv, the locked wheels, Debian packages), built here into the harness engine's BuildKit cache,
# so the suite's `make images` finds them there and downloads nothing. Mostly downloads: it runs
# alongside the Go builds (CPU), in the background; MinIO's image waits for its binary.
prebuild() { (cd "$REPO" && PYTHONPATH=tests "$UV" run --frozen --quiet python -m harness.docker prebuild "$@"); }
images_pid=""
if [ -z "${PORTO_TEST_SKIP_IMAGES:-}" ]; then
  images_log=$(mktemp)
  (retry "prebuilding the images (make images)" prebuild inference ui training postgres) >"$images_log" 2>&1 &
  images_pid=$!
fi
# Two lines of Go builds at once: each `go build` compiles on both cores, but links on one, and
# the Kubernetes binaries link for minutes. The node's tools are those of `make node-up`.
tools_log=$(mktemp)
"$REPO/scripts/tools.sh" minio helm kubeconform actionlint coredns local-path-provisioner \
  prometheus-operator prometheus-config-reloader prometheus kube-state-metrics 2>"$tools_log" &
tools_pid=$!
"$REPO/scripts/tools.sh" etcd kube-apiserver kubectl kubelet kube-controller-manager \
  kube-scheduler kube-proxy
if ! wait "$tools_pid"; then
  cat "$tools_log" >&2; rm -f "$tools_log"
  fail "building the pinned Go tools failed (output above)"
fi
cat "$tools_log" >&2; rm -f "$tools_log"
# kubeconform's Kubernetes schemas (a sha256-pinned wheel) and the add-ons' CRDs (Go modules at
# the versions of deploy/versions.mk: prometheus-operator, Gateway API).
(cd "$REPO" && export UV PYTHONPATH=tests && retry "fetching the kubeconform schemas" \
  "$UV" run --frozen --quiet python -m harness.kubeschemas build)
if [ -n "$images_pid" ]; then
  if ! wait "$images_pid"; then
    tail -n 40 "$images_log" >&2; rm -f "$images_log"
    fail "the images could not be prebuilt (output above)"
  fi
  rm -f "$images_log"
  retry "prebuilding the MinIO image" prebuild minio >/dev/null
fi
