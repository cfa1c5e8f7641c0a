#!/usr/bin/env bash
# GPU time per kernel (Nsight Compute, clocks not locked) of a few training steps of one model,
# nabla and PyTorch eager: where a step-time gap comes from, kernel by kernel.
#
#   tests/gpu/kernel_times.sh BUILD_DIR OUT_DIR [MODEL BATCH]     # default: cnn 512
# Writes OUT_DIR/kernels_{nabla,torch}_MODEL_BATCH.csv (ncu --print-summary per-kernel) and
# OUT_DIR/kernels_MODEL_BATCH.md (the kernels by total time, both frameworks). STEPS (5) steady
# steps are profiled; NCU_CACHE=none keeps ncu from flushing the caches before each kernel (its
# default, "all", makes the sums exceed the wall-clock step).
set -u
if [ $# -lt 2 ]; then
  echo "usage: $0 BUILD_DIR OUT_DIR [MODEL BATCH]" >&2
  exit 2
fi
BUILD=$(cd "$1" && pwd) && mkdir -p "$2" && OUT=$(cd "$2" && pwd) || exit 2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MODEL=${3:-cnn} BATCH=${4:-512} STEPS=${STEPS:-5}
PYTHON=${PYTHON:-python3}
[ -d "$BUILD/../devlibs" ] && export LD_LIBRARY_PATH="$(cd "$BUILD/../devlibs" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
[ -n "$NCU" ] || { echo "kernel_times.sh: ncu not found" >&2; exit 1; }
# Only the timed steps are profiled (--profile 1 brackets them with profiler start/stop), so the
# warm-up, where every convolution geometry times its candidate algorithms, stays out.
PROF=("$NCU" --profile-from-start off --clock-control none --cache-control ${NCU_CACHE:-all} --metrics gpu__time_duration.sum --print-summary per-kernel --csv)
TAG=${MODEL}_${BATCH}
timeout 240 "${PROF[@]}" "$BUILD/bench/gpu/bench_gpu_step" --models "$MODEL" --batches "$BATCH" --steps "$STEPS" \
  --warmup 3 --overlap 0 --profile 1 ${NABLA_ARGS:-} >"$OUT/kernels_nabla_$TAG.csv" 2>"$OUT/kernels_nabla_$TAG.err"
timeout 240 "${PROF[@]}" "$PYTHON" "$ROOT/bench/gpu/torch_step.py" --models "$MODEL" --batches "$BATCH" --steps "$STEPS" \
  --warmup 3 --profile 1 ${TORCH_ARGS:-} >"$OUT/kernels_torch_$TAG.csv" 2>"$OUT/kernels_torch_$TAG.err"
"$PYTHON" - "$OUT/kernels_nabla_$TAG.csv" "$OUT/kernels_torch_$TAG.csv" "$STEPS" >"$OUT/kernels_$TAG.md" <<'PY'
import csv, io, sys
steps = int(sys.argv[3])
def load(path):
    text = open(path, errors="replace").read()
    start = min((i for i in (text.find('"ID"'), text.find('"Process ID"')) if i >= 0), default=-1)
    if start < 0:
        return []
    rows = []
    for r in csv.DictReader(io.StringIO(text[start:])):
        if r.get("Metric Name") != "gpu__time_duration.sum":
            continue
        try:
            inv = int(r["Invocations"].replace(",", "")); avg = float(r["Average"].replace(",", ""))
        except (KeyError, ValueError):
            continue
        unit = r.get("Metric Unit", "nsecond")
        scale = {"nsecond": 1e-6, "ns": 1e-6, "usecond": 1e-3, "us": 1e-3, "msecond": 1.0, "ms": 1.0}.get(unit, 1e-6)
        rows.append((inv * avg * scale / steps, inv / steps, avg * scale, r.get("Kernel Name", "?")[:110]))
    rows.sort(reverse=True)
    return rows
for name, path in (("nabla", sys.argv[1]), ("PyTorch", sys.argv[2])):
    rows = load(path)
    print(f"## {name}: GPU ms per step (ncu, {steps} steady steps), total {sum(r[0] for r in rows):.3f}\n")
    print("| ms/step | launches/step | ms each | kernel |\n|---:|---:|---:|---|")
    for r in rows[:25]:
        print(f"| {r[0]:.4f} | {r[1]:.1f} | {r[2]:.4f} | {r[3]} |")
    print()
PY
cat "$OUT/kernels_$TAG.md"
