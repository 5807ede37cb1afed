#!/usr/bin/env bash
# Print the path of a uv binary at the pinned version, installing it from PyPI on first use.
#
# The binary lives at <cache>/uv-<version>/bin/uv whatever python3 installs it: pip's --prefix
# layout differs between interpreters (Debian's python3 puts scripts under <prefix>/local/bin,
# pyenv's under <prefix>/bin), so pip installs into a scratch --target and the uv executable found
# there is moved into place atomically. Later calls only test that one path.
set -euo pipefail
UV_VERSION="${UV_VERSION:-0.13.9}"
cache="${PORTO_CACHE:-$HOME/.cache/porto}/uv-$UV_VERSION"
uv="$cache/bin/uv"
if [ -x "$uv" ]; then echo "$uv"; exit 0; fi

fail() { echo "error: $*" >&2; exit 1; }
command -v python3 >/dev/null || fail "installing uv $UV_VERSION needs python3 (apt-get install python3)"
python3 -m pip --version >/dev/null 2>&1 ||
  fail "installing uv $UV_VERSION needs pip for $(command -v python3) (apt-get install python3-pip)"

mkdir -p "$cache"
scratch=$(mktemp -d "$cache/.install-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# shellcheck source=lib/retry.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/retry.sh"
install_uv() {
  rm -rf "$scratch/target"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    --no-deps --only-binary=:all: --target "$scratch/target" "uv==$UV_VERSION" >&2
}
retry "downloading uv $UV_VERSION from PyPI" install_uv || exit 1
built=$(find "$scratch/target" -type f -name uv -perm -u+x | head -n 1)
[ -n "$built" ] || fail "the uv $UV_VERSION wheel held no uv executable"
"$built" --version >/dev/null || fail "the downloaded uv $UV_VERSION does not run on this machine"
mkdir -p "$cache/bin"
mv "$built" "$uv.tmp.$$"
mv "$uv.tmp.$$" "$uv"
echo "$uv"
