#!/usr/bin/env bash
# Print the tag `make images` gives porto's images: it changes whenever the content does.
#
#   clean checkout       `git describe --tags --always`             e.g. v0.3.0-4-g1a2b3c4
#   uncommitted changes  `<describe>-dirty-<12 hex of the tree>`     e.g. v0.3.0-4-g1a2b3c4-dirty-5d41402abc4b
#   not a git checkout   `dev`
#
# The dirty suffix is the id of the git tree the working directory would commit: tracked changes
# and untracked files that .gitignore does not exclude, staged or not. The same content gives the
# same tag (a rebuild without changes changes nothing); any other content gives another, so
# `make images load deploy` rolls out every change (a pod spec naming the same tag would not
# roll out, and IfNotPresent would keep the old image on the nodes).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo dev
  exit 0
fi
describe=$(git describe --tags --always 2>/dev/null) || { echo dev; exit 0; }
# A Docker tag allows [A-Za-z0-9_.-] only (a git tag may hold a `/`).
describe=${describe//[^A-Za-z0-9_.-]/-}
if [ -z "$(git status --porcelain --untracked-files=normal)" ]; then
  echo "$describe"
  exit 0
fi
# Stage everything into a scratch copy of the index: the real index (and what the user staged)
# is left alone. Starting from a copy keeps git's stat cache, so only changed files are hashed.
index=$(mktemp)
trap 'rm -f "$index"' EXIT
cp "$(git rev-parse --git-path index)" "$index" 2>/dev/null || rm -f "$index"
tree=$(GIT_INDEX_FILE=$index git add --all . && GIT_INDEX_FILE=$index git write-tree)
echo "$describe-dirty-${tree:0:12}"
