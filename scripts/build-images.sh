#!/usr/bin/env bash
# Build porto's images with the engine DOCKER_HOST names (`make images`, `make image-sizes`).
#
#   scripts/build-images.sh build [image ...]   build (default: $IMAGES), tagged $IMAGE_TAG
#   scripts/build-images.sh sizes [image ...]   print each image's size against its target
#   scripts/build-images.sh minio-tag           print porto-minio's own tag: the MinIO source
#                                               pinned in scripts/tools.sh (the chart's default)
#
# Images: inference, ui, training (porto's services), minio (the pinned MinIO source the tests run,
# built by scripts/tools.sh, packaged: the chart's default object store), postgres (Debian's
# PostgreSQL with the official image's environment contract: what the container tests run).
#
# Environment (the Makefile passes its variables):
#   BASE_IMAGE   base of every image; `offline` builds one from Debian packages
#                (scripts/base-image.sh) for machines with no container registry. Default: each
#                Dockerfile's own (the official python / debian image).
#   EXTRA_CA     a PEM file of CA certificates the build trusts in addition to the base image's,
#                when package downloads go through a TLS-intercepting proxy (a build secret: it
#                lands in no layer).
#   UV_OFFLINE   1: the Python steps install from the BuildKit cache alone (the test suite).
#   DOCKER       the client (default docker); it must build with BuildKit (DOCKER_BUILDKIT=1).
#   VERBOSE=1    stream BuildKit's output instead of printing it only when a build fails.
#   BUILD_LOG_DIR  keep each image's BuildKit output there (<image>.log).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fail() { echo "error: $*" >&2; exit 1; }
DOCKER=${DOCKER:-docker}
IMAGE_TAG=${IMAGE_TAG:-dev}
export DOCKER_BUILDKIT=1

# image | Dockerfile | build context | size target, MB (uncompressed, as `docker images` shows)
TABLE=(
  "inference|services/inference/Dockerfile|.|700"
  "ui|services/ui/Dockerfile|.|450"
  "training|jobs/training/Dockerfile|.|1200"
  "minio|deploy/images/minio/Dockerfile|minio|250"
  "postgres|deploy/images/postgres/Dockerfile|deploy/images/postgres|300"
)
row() {
  local r
  for r in "${TABLE[@]}"; do [ "${r%%|*}" = "$1" ] && { echo "$r"; return 0; }; done
  fail "unknown image '$1' (known: $(printf '%s ' "${TABLE[@]%%|*}"))"
}

# The MinIO pin of scripts/tools.sh: its Go module version and cached binary name. porto-minio is
# tagged IMAGE_TAG and, like upstream's images, with the MinIO version it holds: the pseudo-version
# without its `v0.0.0-` (commit time and commit, e.g. 20260212201848-7aac2a2c5b7c), the tag the
# chart's minio.image defaults to (tests/charts check they agree).
minio_pin() { sed -n 's/^ *"minio|[^|]*|\([^|]*\)|\([^"]*\)".*/\1 \2/p' "$REPO/scripts/tools.sh"; }
read -r MINIO_VERSION MINIO_BINARY <<<"$(minio_pin)"
[ -n "${MINIO_BINARY:-}" ] || fail "no minio row in scripts/tools.sh"
MINIO_TAG=${MINIO_VERSION#v0.0.0-}

cmd=${1:-build}; shift || true
if [ "$cmd" = minio-tag ]; then echo "$MINIO_TAG"; exit 0; fi
read -r -a images <<<"${*:-${IMAGES:-inference ui training minio}}"
for image in "${images[@]}"; do row "$image" >/dev/null; done

if [ "$cmd" = sizes ]; then
  over=0
  printf '%-26s %9s %9s\n' IMAGE "SIZE MB" "TARGET"
  for image in "${images[@]}"; do
    IFS='|' read -r _ _ _ target <<<"$(row "$image")"
    bytes=$("$DOCKER" image inspect --format '{{.Size}}' "porto-$image:$IMAGE_TAG" 2>/dev/null) ||
      fail "porto-$image:$IMAGE_TAG is not built: run \`make images\` first"
    mb=$((bytes / 1000000))
    flag=""; [ "$mb" -le "$target" ] || { flag="  OVER"; over=1; }
    printf '%-26s %9d %9s%s\n' "porto-$image:$IMAGE_TAG" "$mb" "≤ $target" "$flag"
  done
  exit "$over"
fi
[ "$cmd" = build ] || fail "usage: scripts/build-images.sh build|sizes [image ...]"

if ! err=$("$DOCKER" version --format '{{.Server.Version}}' 2>&1 >/dev/null); then
  err=$(printf '%s\n' "$err" | tail -n 1)
  case "$err" in
    *"permission denied"*) fail "no permission on the Docker socket (${DOCKER_HOST:-/var/run/docker.sock}): add yourself to the docker group or run as root ($err)" ;;
    *) fail "no Docker engine answers at ${DOCKER_HOST:-the default socket}: start Docker, or set DOCKER_HOST ($err)" ;;
  esac
fi

args=(--progress=plain)
if [ "${BASE_IMAGE:-}" = offline ]; then
  BASE_IMAGE=$("$REPO/scripts/base-image.sh") || fail "the offline base image could not be built (see above)"
fi
[ -z "${BASE_IMAGE:-}" ] || args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
if [ -n "${EXTRA_CA:-}" ]; then
  [ -r "$EXTRA_CA" ] || fail "EXTRA_CA=$EXTRA_CA is not a readable file"
  args+=(--secret "id=extra-ca,src=$EXTRA_CA")
fi
[ -z "${UV_OFFLINE:-}" ] || args+=(--build-arg "UV_OFFLINE=$UV_OFFLINE")
for a in VERSION REVISION CREATED SOURCE; do
  [ -z "${!a:-}" ] || args+=(--build-arg "$a=${!a}")
done

logdir=$(mktemp -d); trap 'rm -rf "$logdir"' EXIT
for image in "${images[@]}"; do
  IFS='|' read -r _ dockerfile context _ <<<"$(row "$image")"
  extra=()
  if [ "$context" = minio ]; then
    # The pinned MinIO build the tests run, copied into a context of its own.
    "$REPO/scripts/tools.sh" minio
    context="$logdir/minio-context"; mkdir -p "$context"
    cp "${PORTO_CACHE:-$HOME/.cache/porto}/bin/$MINIO_BINARY" "$context/minio"
    cp -r "$REPO/deploy/images/minio/." "$context/"
    extra=(--build-arg "MINIO_VERSION=$MINIO_VERSION" -t "porto-minio:$MINIO_TAG")
  else
    context="$REPO/$context"
  fi
  log="$logdir/$image.log"; began=$SECONDS
  echo "building porto-$image:$IMAGE_TAG ($dockerfile)" >&2
  if [ -n "${VERBOSE:-}" ]; then
    "$DOCKER" build "${args[@]}" "${extra[@]}" -f "$REPO/$dockerfile" -t "porto-$image:$IMAGE_TAG" "$context" 2>&1 | tee "$log" >&2
    status=${PIPESTATUS[0]}
  else
    status=0
    "$DOCKER" build "${args[@]}" "${extra[@]}" -f "$REPO/$dockerfile" -t "porto-$image:$IMAGE_TAG" "$context" >"$log" 2>&1 || status=$?
  fi
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log" >&2
    step=$(grep -m1 '^ > \[' "$log" | sed 's/^ > //; s/:$//' || true)
    fail "building porto-$image failed${step:+ at step: $step} (BuildKit output above)"
  fi
  steps=$(grep -cE '^#[0-9]+ \[' "$log" || true)
  cached=$(grep -cE '^#[0-9]+ CACHED' "$log" || true)
  [ -z "${BUILD_LOG_DIR:-}" ] || { mkdir -p "$BUILD_LOG_DIR"; cp "$log" "$BUILD_LOG_DIR/$image.log"; }
  echo "built porto-$image:$IMAGE_TAG in $((SECONDS - began)) s ($cached of $steps steps cached)"
done
