#!/usr/bin/env bash
# Print the path of a uv binary at the pinned version, installing it from PyPI if needed.
set -euo pipefail
UV_VERSION="${UV_VERSION:-0.13.9}"
cache="${PORTO_CACHE:-$HOME/.cache/porto}/uv-$UV_VERSION"
if [ -x "$cache/bin/uv" ]; then echo "$cache/bin/uv"; exit 0; fi
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --ignore-installed --prefix "$cache" "uv==$UV_VERSION" >&2
echo "$cache/bin/uv"
