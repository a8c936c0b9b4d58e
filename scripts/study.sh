#!/usr/bin/env bash
# Runs the study's items one after another at low priority, resumable: `archc item` passes
# `--resume` to its trainings, so re-running the script continues each unfinished model and
# skips the finished ones.  Usage: scripts/study.sh [ITEM …]  (default: every item, MNIST
# first since its models are short).  ARCHC_BIN (default target/release/archc), DATA
# (default ../shared/data).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${ARCHC_BIN:-target/release/archc}
DATA=${DATA:-../shared/data}
ITEMS=("$@")
[ ${#ITEMS[@]} -eq 0 ] && ITEMS=(3a 3.1a 3.1c 3.1e 3.2b 3.2d 3.2e 3.3a 3.3b 3.3c 3.3d 3.1g 3.1h 3.1i
  1a 1b 1c 1d 1e 1f 1g 1h)
for id in "${ITEMS[@]}"; do
  echo "== $(date -u +%FT%TZ) item $id"
  nice -n 19 "$BIN" item "$id" --data "$DATA" || echo "!! item $id failed ($?)"
done
