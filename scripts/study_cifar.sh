#!/usr/bin/env bash
# Runs the study's CIFAR-10 models one after another, at low priority, resumable:
# re-running the script continues each unfinished model from its last checkpoint.
#   ARCHC_BIN (default: target/release/archc), DATA (default: ../shared/data), OUT (runs)
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${ARCHC_BIN:-target/release/archc}
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs}
SPECS=(cifar_base cifar_rmsprop cifar_deep cifar_strided cifar_strided_valid
       cifar_deep_kernels cifar_deep_l2 cifar_augment)
for s in "${SPECS[@]:-}"; do
  [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $s "* ]] && continue
  echo "== $(date -u +%FT%TZ) $s"
  nice -n 19 "$BIN" train "specs/$s.arch" --data "$DATA" --out "$OUT" --resume || echo "!! $s failed ($?)"
done
