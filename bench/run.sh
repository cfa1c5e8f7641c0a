#!/usr/bin/env bash
# Runs nabla's benchmarks from a release build and keeps their output.
#
#   bench/run.sh [build-dir]            (default build/release)
#
# Writes <build-dir>/bench/results/{ops.json,ops.txt,vs_libtorch.txt,cnn.txt}. When the environment sets
# OPENBLAS_CORETYPE, each benchmark runs twice: as set, and with it unset (DESIGN §5: benchmarks
# report which BLAS kernel ran). Set NABLA_BENCH_RT=1 to run under SCHED_FIFO (`chrt -f 1`,
# needs root): on a machine shared with builds this removes most of the scheduling noise.
# Extra flags for bench_vs_libtorch go in NABLA_BENCH_VS_FLAGS (e.g. "--rounds 40"), for bench_cnn
# in NABLA_BENCH_CNN_FLAGS.
set -euo pipefail

build=${1:-build/release}
out="$build/bench/results"
mkdir -p "$out"
prefix=()
if [[ "${NABLA_BENCH_RT:-0}" == 1 ]]; then prefix=(chrt -f 1); fi

run_all() {  # $1: suffix for the output files
  local sfx=$1
  echo "== bench_ops (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})"
  "${prefix[@]}" "$build/bench/bench_ops" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
    --benchmark_out="$out/ops$sfx.json" --benchmark_out_format=json | tee "$out/ops$sfx.txt"
  if [[ -x "$build/bench/bench_vs_libtorch" ]]; then
    echo "== bench_vs_libtorch (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})"
    # shellcheck disable=SC2086
    "${prefix[@]}" "$build/bench/bench_vs_libtorch" ${NABLA_BENCH_VS_FLAGS:-} | tee "$out/vs_libtorch$sfx.txt"
  else
    echo "(bench_vs_libtorch not built: LibTorch was not found at configure time)"
  fi
  if [[ -x "$build/bench/bench_cnn" ]]; then
    echo "== bench_cnn (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})"
    # shellcheck disable=SC2086
    "${prefix[@]}" "$build/bench/bench_cnn" --kernels ${NABLA_BENCH_CNN_FLAGS:-} | tee "$out/cnn$sfx.txt"
  fi
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
run_all ""
if [[ -n "${OPENBLAS_CORETYPE:-}" ]]; then
  (unset OPENBLAS_CORETYPE; run_all "_no_coretype")
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "results in $out"
