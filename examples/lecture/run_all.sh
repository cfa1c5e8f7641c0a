#!/usr/bin/env bash
# The full runs of the lecture gallery, as committed under docs/lecture/ (docs/lecture.md holds
# the measured figures). One thread each, one after the other, at low priority; about 25 minutes
# in all on a 2-core machine (experiment 7, 74 CNN trainings, is 11 of them).
#   examples/lecture/run_all.sh [BUILD_DIR] [OUT_DIR] [EXPERIMENT...]
#   examples/lecture/run_all.sh build/release docs/lecture 02_momentum 05_init
set -euo pipefail
BUILD=${1:-build/release}
OUT=${2:-docs/lecture}
shift $(( $# > 2 ? 2 : $# ))
# 08_gpu_params needs a CUDA GPU (without one it only says so): name it on a machine that has one;
# its committed results came from `tests/gpu/run.sh` on an H100.
ALL=(01_autodiff 02_momentum 03_optimizers 04_lr_decay 05_init 06_generalization 07_transfer)
RUN=("${@:-${ALL[@]}}")
for exp in "${RUN[@]}"; do
  mkdir -p "$OUT/$exp"
  cmd=(nice -n 5 "$BUILD/lecture_$exp" --threads 1 --out "$OUT/$exp")
  echo "== ${cmd[*]}"
  start=$(date +%s)
  "${cmd[@]}" | tee "$OUT/$exp/log.txt"
  # Record how the results were made, next to them.
  printf '%s\n# wall time: %d s\n' "${cmd[*]}" $(( $(date +%s) - start )) > "$OUT/$exp/COMMAND"
done
