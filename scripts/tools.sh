#!/usr/bin/env bash
# Build the pinned Go tools porto's tests use, once, into ~/.cache/porto/bin/<tool>-<version>.
# Usage: scripts/tools.sh [tool ...]   (default: all). Prints nothing when everything is cached.
set -euo pipefail
CACHE="${PORTO_CACHE:-$HOME/.cache/porto}"
BIN="$CACHE/bin"
mkdir -p "$BIN"

# tool | go package | version | binary name in cache
TOOLS=(
  "minio|github.com/minio/minio|v0.0.0-20260212201848-7aac2a2c5b7c|minio-20260212201848"
)

build() {
  local name=$1 pkg=$2 version=$3 out=$4
  [ -x "$BIN/$out" ] && return 0
  echo "building $name $version (first time only; cached in $BIN)" >&2
  local gobin; gobin=$(mktemp -d)
  GOPATH="$CACHE/gopath" GOBIN="$gobin" GOFLAGS=-mod=mod go install "$pkg@$version"
  mv "$gobin/$(basename "$pkg")" "$BIN/$out"
  rm -rf "$gobin"
}

wanted=("$@")
for entry in "${TOOLS[@]}"; do
  IFS='|' read -r name pkg version out <<<"$entry"
  if [ "${#wanted[@]}" -eq 0 ] || [[ " ${wanted[*]} " == *" $name "* ]]; then
    build "$name" "$pkg" "$version" "$out"
  fi
done
