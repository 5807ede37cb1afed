#!/usr/bin/env bash
# Download the real Porto Seguro Safe Driver Prediction data with the kaggle CLI.
#
# Needs: the kaggle CLI (`pipx install kaggle` or `uv tool install kaggle`), an API token in
# ~/.kaggle/kaggle.json (or KAGGLE_USERNAME + KAGGLE_KEY, or KAGGLE_CONFIG_DIR), and the
# competition's rules accepted once on kaggle.com. Writes train.csv.zip and test.csv.zip to
# $PORTO_DATA_DIR (default data/kaggle), the files `porto-train train --data` reads as they are.
set -euo pipefail

COMPETITION="porto-seguro-safe-driver-prediction"
DEST="${PORTO_DATA_DIR:-data/kaggle}"

fail() { echo "error: $*" >&2; exit 1; }

command -v kaggle >/dev/null 2>&1 ||
  fail "the kaggle CLI is not installed: run 'pipx install kaggle' (or 'uv tool install kaggle'), then 'make data-kaggle' again"

config_dir="${KAGGLE_CONFIG_DIR:-$HOME/.kaggle}"
if [ -z "${KAGGLE_USERNAME:-}" ] || [ -z "${KAGGLE_KEY:-}" ]; then
  [ -f "$config_dir/kaggle.json" ] ||
    fail "no Kaggle credentials: create an API token at https://www.kaggle.com/settings (Account > API > Create New Token) and save it as $config_dir/kaggle.json (chmod 600), or set KAGGLE_USERNAME and KAGGLE_KEY"
fi

mkdir -p "$DEST"
for file in train.csv test.csv; do
  if [ -s "$DEST/$file.zip" ] || [ -s "$DEST/$file" ]; then
    echo "$DEST/$file: already there"
    continue
  fi
  echo "downloading $file of $COMPETITION into $DEST"
  if ! out="$(kaggle competitions download -c "$COMPETITION" -f "$file" -p "$DEST" 2>&1)"; then
    echo "$out" >&2
    case "$out" in
      *403*|*Forbidden*) fail "Kaggle refused the download: accept the rules at https://www.kaggle.com/c/$COMPETITION/rules with the account of your token" ;;
      *401*|*Unauthorized*) fail "Kaggle rejected the credentials in $config_dir/kaggle.json (or KAGGLE_USERNAME/KAGGLE_KEY)" ;;
      *) fail "kaggle download of $file failed (see above)" ;;
    esac
  fi
done

echo "done: $(ls "$DEST" | tr '\n' ' ')"
train="$DEST/train.csv.zip"
[ -f "$train" ] || train="$DEST/train.csv"
echo "next: make train ARGS=\"--data $train\""
