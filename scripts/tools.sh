#!/usr/bin/env bash
# Build the pinned Go tools porto's tests use, once, into ~/.cache/porto/bin/<tool>-<version>.
# Usage: scripts/tools.sh [tool ...]   (default: all). Prints nothing when everything is cached.
#
# `make tools` builds what the test suite uses (MinIO, helm, kubeconform, actionlint, and the
# Kubernetes control plane: etcd, kube-apiserver, kubectl); kind is pinned for `make cluster`,
# which builds it on first use. The harness reads the binary names from this table
# (tests/harness/tools.py), so a pin lives in one place.
#
# A package written `<dir>:<package>` is built with `go build` inside the repository's Go module
# <dir> (tools/kube, tools/etcd), whose go.mod pins the version and carries the replace
# directives `go install` refuses; the version column must match that go.mod (checked here).
#
# A binary's cached name names its build recipe: when a tool's ldflags (STAMP below) change, give
# it a new name, so every cache (yours, CI's) builds it again instead of keeping the old binary.
set -euo pipefail
CACHE="${PORTO_CACHE:-$HOME/.cache/porto}"
BIN="$CACHE/bin"
mkdir -p "$BIN"

# tool | go package | version | binary name in cache
TOOLS=(
  "minio|github.com/minio/minio|v0.0.0-20260212201848-7aac2a2c5b7c|minio-20260212201848"
  "helm|helm.sh/helm/v3/cmd/helm|v3.19.0|helm-v3.19.0-stamped"
  "kubeconform|github.com/yannh/kubeconform/cmd/kubeconform|v0.7.0|kubeconform-v0.7.0"
  "actionlint|github.com/rhysd/actionlint/cmd/actionlint|v1.7.12|actionlint-v1.7.12"
  "kind|sigs.k8s.io/kind|v0.33.0|kind-v0.33.0"
  "etcd|tools/etcd:go.etcd.io/etcd/server/v3|v3.6.8|etcd-v3.6.8"
  "kube-apiserver|tools/kube:k8s.io/kubernetes/cmd/kube-apiserver|v1.36.3|kube-apiserver-v1.36.3"
  "kubectl|tools/kube:k8s.io/kubernetes/cmd/kubectl|v1.36.3|kubectl-v1.36.3"
  # The node (tests/harness/node.py, `make node-up`): the rest of Kubernetes, cluster DNS, and
  # the monitoring stack kube-prometheus-stack would run (the operator at deploy/versions.mk's
  # KPS_OPERATOR_<KPS_VERSION>, and the Prometheus it runs by default; tests/node/test_node.py
  # checks both).
  "kubelet|tools/kube:k8s.io/kubernetes/cmd/kubelet|v1.36.3|kubelet-v1.36.3"
  "kube-controller-manager|tools/kube:k8s.io/kubernetes/cmd/kube-controller-manager|v1.36.3|kube-controller-manager-v1.36.3"
  "kube-scheduler|tools/kube:k8s.io/kubernetes/cmd/kube-scheduler|v1.36.3|kube-scheduler-v1.36.3"
  "kube-proxy|tools/kube:k8s.io/kubernetes/cmd/kube-proxy|v1.36.3|kube-proxy-v1.36.3"
  "coredns|github.com/coredns/coredns|v1.15.0|coredns-v1.15.0-static"
  "prometheus-operator|tools/promop:github.com/prometheus-operator/prometheus-operator/cmd/operator|v0.94.1|prometheus-operator-v0.94.1-static"
  "prometheus-config-reloader|tools/promop:github.com/prometheus-operator/prometheus-operator/cmd/prometheus-config-reloader|v0.94.1|prometheus-config-reloader-v0.94.1-static"
  "prometheus|tools/prometheus:github.com/prometheus/prometheus/cmd/prometheus|v0.314.0|prometheus-v3.14.0-static"
  "kube-state-metrics|k8s.io/kube-state-metrics/v2|v2.19.1|kube-state-metrics-v2.19.1-static"
  "local-path-provisioner|github.com/rancher/local-path-provisioner|v0.0.30|local-path-provisioner-v0.0.30-static"
)
# Tools that run inside the node's pods, from FROM-scratch images: built without cgo (static).
STATIC=" coredns prometheus-operator prometheus-config-reloader prometheus kube-state-metrics local-path-provisioner "
# -ldflags a tool's own release build stamps and `go install` leaves out (%v = the version column).
# helm's Makefile stamps its version and commit, and the Kubernetes version it assumes without a
# cluster (`helm template`, `helm lint`): from its k8s.io/client-go (v0.34 -> 1.34). Unstamped,
# helm reports "v3.19" and Kubernetes v1.20, and refuses charts requiring `kubeVersion: >=1.27`.
declare -A STAMP
STAMP[helm]="-X helm.sh/helm/v3/internal/version.version=%v"
STAMP[helm]+=" -X helm.sh/helm/v3/internal/version.metadata="
STAMP[helm]+=" -X helm.sh/helm/v3/internal/version.gitCommit=3d8990f0836691f0229297773f3524598f46bda6"
STAMP[helm]+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in pkg/lint/rules pkg/chartutil; do
  STAMP[helm]+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=34"
done
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/retry.sh
. "$REPO/scripts/lib/retry.sh"

# fetch_modules DIR GO-ARGS...: `go install -n` / `go build -n` in DIR resolves and downloads
# every module the build needs, then only prints the build commands (to stderr, discarded unless
# it fails). Run under `retry`: downloads fail for passing reasons, compilers do not.
fetch_modules() {
  local dir=$1; shift
  local log; log=$(mktemp)
  if (cd "$dir" && GOPATH="$CACHE/gopath" GOFLAGS=-mod=mod go "$@" 2>"$log" >/dev/null); then
    rm -f "$log"; return 0
  fi
  tail -n 20 "$log" >&2; rm -f "$log"; return 1
}

build() {
  local name=$1 pkg=$2 version=$3 out=$4
  [ -x "$BIN/$out" ] && return 0
  echo "building $name $version (first time only; cached in $BIN)" >&2
  local gobin; gobin=$(mktemp -d)
  local cgo=${CGO_ENABLED:-}
  [[ "$STATIC" != *" $name "* ]] || cgo=0
  if [[ "$pkg" == *:* ]]; then
    local dir="$REPO/${pkg%%:*}" gopkg="${pkg#*:}"
    # The module's go.mod is the pin; the table's version names the cached binary.
    if ! grep -Eq "^require [^ ]+ $version\$" "$dir/go.mod"; then
      echo "$dir/go.mod does not pin $version for $name: update the table or the module" >&2
      return 1
    fi
    local ldflags="-s -w"
    if [[ "$gopkg" == k8s.io/kubernetes/* ]]; then
      # What Kubernetes' own build stamps: without it the server reports v0.0.0-master and
      # clients (helm's kubeVersion checks, kubectl's skew warning) see a version it is not.
      local minor="${version#v*.}"; minor="${minor%%.*}"
      local v
      for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $v.gitVersion=$version -X $v.gitMajor=1 -X $v.gitMinor=$minor"
        ldflags+=" -X $v.gitTreeState=clean"
      done
    fi
    retry "downloading the modules of $name $version" fetch_modules "$dir" build -n "$gopkg"
    (cd "$dir" && GOPATH="$CACHE/gopath" GOFLAGS=-mod=mod CGO_ENABLED=$cgo go build -trimpath -ldflags="$ldflags" -o "$gobin/$name" "$gopkg")
  else
    retry "downloading the modules of $name $version" \
      fetch_modules "${TMPDIR:-/tmp}" install -n "$pkg@$version"
    local flags=()
    if [ -n "${STAMP[$name]:-}" ]; then
      # Release builds are also stripped (-s -w) and path-free (-trimpath), as helm's Makefile does.
      flags=(-trimpath "-ldflags=-s -w ${STAMP[$name]//%v/$version}")
    fi
    [[ "$STATIC" != *" $name "* ]] || flags=(-trimpath "-ldflags=-s -w")
    GOPATH="$CACHE/gopath" GOBIN="$gobin" GOFLAGS=-mod=mod CGO_ENABLED=$cgo \
      go install "${flags[@]}" "$pkg@$version"
  fi
  # go install names the binary after the last path element that is not a major-version
  # suffix (.../helm/v3/cmd/helm -> helm, .../foo/v2 -> foo); take whatever it produced.
  local built=("$gobin"/*)
  if [ "${#built[@]}" -ne 1 ] || [ ! -x "${built[0]}" ]; then
    echo "expected one binary from go install $pkg, got: ${built[*]}" >&2
    return 1
  fi
  # Move into place atomically, so an interrupted build never leaves a half-copied binary.
  mv "${built[0]}" "$BIN/.$out.tmp"
  mv "$BIN/.$out.tmp" "$BIN/$out"
  rm -rf "$gobin"
}

known=()
for entry in "${TOOLS[@]}"; do known+=("${entry%%|*}"); done
for want in "$@"; do
  if [[ " ${known[*]} " != *" $want "* ]]; then
    echo "unknown tool '$want' (known: ${known[*]})" >&2
    exit 2
  fi
done

for entry in "${TOOLS[@]}"; do
  IFS='|' read -r name pkg version out <<<"$entry"
  if [ "$#" -eq 0 ] || [[ " $* " == *" $name "* ]]; then
    build "$name" "$pkg" "$version" "$out"
  fi
done
