#!/usr/bin/env bash
# The offline base image: Debian bookworm (minbase) with Debian's Python 3.11, python3-venv and
# ca-certificates, made with debootstrap from Debian's package mirror and `docker import`ed, for
# machines that reach Debian's and Python's package registries but no container registry.
# `make images BASE_IMAGE=offline` builds on it; prints the image's tag (porto-base:<key>) on
# stdout, everything else on stderr.
#
# The rootfs tarball is cached in $PORTO_CACHE/base-images (default ~/.cache/porto), keyed by
# this script and the debootstrap version, so it is built once (about 1-4 minutes) and only
# imported afterwards (seconds). Needs root (debootstrap chroots) and Debian's debootstrap the
# first time; the engine is the one DOCKER_HOST names, through $DOCKER (default docker).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/retry.sh
. "$REPO/scripts/lib/retry.sh"
fail() { echo "error: $*" >&2; exit 1; }

SUITE=bookworm
PACKAGES=python3,python3-venv,ca-certificates
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
DOCKER=${DOCKER:-docker}
CACHE="${PORTO_CACHE:-$HOME/.cache/porto}/base-images"

command -v debootstrap >/dev/null || fail "debootstrap is missing: run \`apt-get install debootstrap\` (Debian/Ubuntu), needed once to build the offline base image"
deb_version=$(dpkg-query -W -f='${Version}' debootstrap 2>/dev/null || debootstrap --version)
key=$( { cat "${BASH_SOURCE[0]}"; echo "$deb_version $MIRROR $SECURITY_MIRROR"; } | sha256sum | cut -c1-12)
tag="porto-base:$SUITE-python3-$key"
tarball="$CACHE/porto-base-$SUITE-$key.tar.gz"

"$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
  fail "no Docker engine answers at ${DOCKER_HOST:-the default socket}: start one (or set DOCKER_HOST), and check you may use its socket"
if "$DOCKER" image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"; exit 0
fi

if [ ! -s "$tarball" ]; then
  [ "$(id -u)" -eq 0 ] || fail "building the offline base image needs root once (debootstrap chroots into the new rootfs): run \`sudo make images BASE_IMAGE=offline\`, or use BASE_IMAGE=<an image you can pull>"
  mkdir -p "$CACHE"
  work=$(mktemp -d "$CACHE/.build-XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "building the offline base image $tag with debootstrap (once; cached in $tarball)" >&2
  bootstrap() {
    rm -rf "$work/rootfs"
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$work/rootfs" "$MIRROR" \
      >"$work/debootstrap.log" 2>&1 || { tail -n 20 "$work/debootstrap.log" >&2; return 1; }
  }
  retry "debootstrap $SUITE from $MIRROR" bootstrap
  root="$work/rootfs"
  # Security updates for whatever the images install later, and nothing a container never reads.
  cat >"$root/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
SOURCES
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/info "$root"/usr/share/locale \
    "$root"/var/log/*.log "$root"/var/cache/debconf/*-old
  mkdir -p "$root/usr/share/doc" "$root/usr/share/man"
  tar --numeric-owner -C "$root" -czf "$work/rootfs.tar.gz" .
  mv "$work/rootfs.tar.gz" "$tarball"
fi

# The official python image's environment: UTF-8, python3 first on PATH.
"$DOCKER" import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' \
  "$tarball" "$tag" >/dev/null || fail "docker import of $tarball failed (see above)"
echo "$tag"
