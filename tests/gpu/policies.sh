#!/usr/bin/env bash
# cuDNN algorithm policies side by side: nabla's CNN and ResNet-18 step at batch 64 and 512 under
# each (benchmark, deterministic) pair, PyTorch eager with cudnn.benchmark off (its default) and
# on, and the per-layer breakdown under the non-default policies. Output: OUT_DIR/policies.md.
#
#   tests/gpu/policies.sh BUILD_DIR OUT_DIR      # same BUILD_DIR layout as run.sh
set -u
BUILD=$(cd "$1" && pwd) && mkdir -p "$2" && OUT=$(cd "$2" && pwd) || exit 2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-python3}
STEPS=${BENCH_STEPS:-50}
[ -d "$BUILD/../devlibs" ] && export LD_LIBRARY_PATH="$(cd "$BUILD/../devlibs" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
B="$BUILD/bench/gpu/bench_gpu_step"
COMMON=(--models cnn,resnet18 --batches 64,512 --steps "$STEPS" --warmup 10 --overlap 0)
for bench in 0 1; do
  for det in 1 0; do
    timeout 200 "$B" "${COMMON[@]}" --cudnn-benchmark $bench --deterministic $det \
      --out "$OUT/nabla_b${bench}_d${det}.jsonl" >"$OUT/nabla_b${bench}_d${det}.log" 2>&1
  done
  timeout 200 "$PYTHON" "$ROOT/bench/gpu/torch_step.py" --models cnn,resnet18 --batches 64,512 --steps "$STEPS" \
    --warmup 10 --cudnn-benchmark $bench --out "$OUT/torch_b${bench}.jsonl" >"$OUT/torch_b${bench}.log" 2>&1
done
for pol in "0 0" "1 1"; do
  set -- $pol
  timeout 200 "$B" --layers 1 --batches 64,512 --steps "$STEPS" --warmup 10 --cudnn-benchmark $1 --deterministic $2 \
    --out "$OUT/layers_b$1_d$2.jsonl" >"$OUT/layers_b$1_d$2.log" 2>&1
done
timeout 200 "$PYTHON" "$ROOT/bench/gpu/torch_step.py" --layers 1 --batches 64,512 --steps "$STEPS" --warmup 10 \
  --out "$OUT/layers_torch.jsonl" >"$OUT/layers_torch.log" 2>&1
{
  for bench in 0 1; do
    for det in 1 0; do
      echo "## nabla cudnn_benchmark=$bench deterministic=$det vs PyTorch cudnn.benchmark=$bench"
      "$PYTHON" "$ROOT/bench/gpu/compare.py" "$OUT/nabla_b${bench}_d${det}.jsonl" "$OUT/torch_b${bench}.jsonl" 2>&1 |
        grep -E '^\|( model|---| cnn| resnet18)' | grep -v '| — |'
      echo
    done
  done
  for pol in b0_d0 b1_d1; do
    echo "## per layer, nabla $pol vs PyTorch default"
    "$PYTHON" "$ROOT/bench/gpu/compare.py" "$OUT/layers_$pol.jsonl" "$OUT/layers_torch.jsonl" 2>&1 |
      awk '/^Per layer/{f=1} /^Transfer/{f=0} f'
    echo
  done
} >"$OUT/policies.md"
cat "$OUT/policies.md"
# The device tool returns at most 8 files: everything but the table goes into one archive.
cd "$OUT" && mapfile -t rest < <(ls | grep -vx -e policies.md -e policy_logs.tar.gz) &&
  tar -czf policy_logs.tar.gz "${rest[@]}" && rm -f "${rest[@]}"
