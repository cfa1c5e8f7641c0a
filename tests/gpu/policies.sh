#!/usr/bin/env bash
# cuDNN algorithm policies side by side: nabla's CNN and ResNet-18 step at batch 64 and 512 under
# each (benchmark, deterministic) pair, PyTorch eager with cudnn.benchmark off (its default) and
# on, and the per-layer breakdown under the heuristic pick with non-deterministic algorithms and
# under nabla's defaults (timed, deterministic). Output: OUT_DIR/policies.md, and every log and
# JSON file in OUT_DIR/policy_logs.tar.gz (packed also when the script is interrupted). A run
# that fails leaves its table rows out; policies.md ends with the runs that failed.
# About 80 s on an H100; each run is capped at 200 s.
#
#   tests/gpu/policies.sh BUILD_DIR OUT_DIR      # same BUILD_DIR layout as run.sh
set -u
if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR OUT_DIR" >&2
  exit 2
fi
BUILD=$(cd "$1" && pwd) && mkdir -p "$2" && OUT=$(cd "$2" && pwd) || exit 2
# Everything but the table goes to a folder of its own, packed at exit (the device tool returns
# at most 8 files).
WORK="$OUT/policy_work"
mkdir -p "$WORK"
pack() { tar -C "$OUT" -czf "$OUT/policy_logs.tar.gz" policy_work && rm -rf "$WORK"; }
trap pack EXIT
trap 'exit 130' INT TERM
FAILED=()
run() {  # run NAME CMD...: output to $WORK/NAME.log; remembers failures
  local name=$1
  shift
  timeout 200 "$@" >"$WORK/$name.log" 2>&1 || FAILED+=("$name (exit $?)")
}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-python3}
STEPS=${BENCH_STEPS:-50}
[ -d "$BUILD/../devlibs" ] && export LD_LIBRARY_PATH="$(cd "$BUILD/../devlibs" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
B="$BUILD/bench/gpu/bench_gpu_step"
COMMON=(--models cnn,resnet18 --batches 64,512 --steps "$STEPS" --warmup 10 --overlap 0)
for bench in 0 1; do
  for det in 1 0; do
    run "nabla_b${bench}_d${det}" "$B" "${COMMON[@]}" --cudnn-benchmark $bench --deterministic $det \
      --out "$WORK/nabla_b${bench}_d${det}.jsonl"
  done
  run "torch_b${bench}" "$PYTHON" "$ROOT/bench/gpu/torch_step.py" --models cnn,resnet18 --batches 64,512 \
    --steps "$STEPS" --warmup 10 --cudnn-benchmark $bench --out "$WORK/torch_b${bench}.jsonl"
done
for pol in "0 0" "1 1"; do
  set -- $pol
  run "layers_b$1_d$2" "$B" --layers 1 --batches 64,512 --steps "$STEPS" --warmup 10 --cudnn-benchmark $1 \
    --deterministic $2 --out "$WORK/layers_b$1_d$2.jsonl"
done
run layers_torch "$PYTHON" "$ROOT/bench/gpu/torch_step.py" --layers 1 --batches 64,512 --steps "$STEPS" --warmup 10 \
  --out "$WORK/layers_torch.jsonl"
{
  for bench in 0 1; do
    for det in 1 0; do
      echo "## nabla cudnn_benchmark=$bench deterministic=$det vs PyTorch cudnn.benchmark=$bench"
      "$PYTHON" "$ROOT/bench/gpu/compare.py" "$WORK/nabla_b${bench}_d${det}.jsonl" "$WORK/torch_b${bench}.jsonl" 2>&1 |
        grep -E '^\|( model|---| cnn| resnet18)' | grep -v '| — |'
      echo
    done
  done
  for pol in b0_d0 b1_d1; do
    echo "## per layer, nabla $pol vs PyTorch default"
    "$PYTHON" "$ROOT/bench/gpu/compare.py" "$WORK/layers_$pol.jsonl" "$WORK/layers_torch.jsonl" 2>&1 |
      awk '/^Per layer/{f=1} /^Transfer/{f=0} f'
    echo
  done
  [ ${#FAILED[@]} -gt 0 ] && echo "Runs that failed (logs in policy_logs.tar.gz): ${FAILED[*]}"
} >"$OUT/policies.md"
cat "$OUT/policies.md"
