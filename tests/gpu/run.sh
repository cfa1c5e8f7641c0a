#!/usr/bin/env bash
# Runs every GPU test and benchmark of issue 9 on a machine with a CUDA GPU, from an existing
# build (it builds nothing), and prints a compact summary.
#
#   tests/gpu/run.sh BUILD_DIR OUT_DIR
#
# Parts, in order (PARTS="tests train lecture bench torch algo layers compare" by default; pass a subset to split a
# run across calls, e.g. PARTS="bench torch compare"):
#   tests    test_gpu (gtest; JSON report OUT_DIR/test_gpu.json): every op-table row on CUDA vs
#            CPU, every row again in f16 and bf16 vs f32 from the same rounded inputs (CudaHalfRows)
#            and the 16-bit GEMM, convolution, batch norm and random checks (CudaHalf), f64
#            gradcheck on the GPU, Philox parity, allocator stats, device errors
#   train    `nabla train --device cuda` with the cnn preset (CPU reference: 92.05% test accuracy
#            after 12 epochs) and cnn-bn-aug (target >= 93.5%); TRAIN_MODELS picks others
#   bench    bench_gpu_step: nabla step times (MLP, CNN, ResNet-18 at batch 64/128/512), peak
#            memory, transfer/compute overlap; nabla's defaults (cuDNN algorithms timed on first
#            use, deterministic ones only)
#   torch    bench/gpu/torch_step.py: the same in PyTorch eager (skips without torch), with its
#            defaults (bench_torch.jsonl) and with cudnn.benchmark on (bench_torch_b1.jsonl)
#   algo     bench_gpu_step for CNN and ResNet-18 with cuDNN's heuristic pick instead of timing
#            (set_cudnn_benchmark(false), PyTorch's default), compared with bench_torch.jsonl
#            into compare_algo.md
#   layers   ResNet-18's distinct layers alone, forward and backward, nabla (bench_gpu_step
#            --layers 1) and PyTorch (torch_step.py --layers 1) at batch 64 and 512, joined into
#            compare_layers.md: which layer kinds make up the step-time gap
#   compare  bench/gpu/compare.py: the side-by-side table with ratios and targets
# Top-level output: summary.txt, test_gpu.json, train_cnn.log, bench_nabla.jsonl,
# bench_torch.jsonl, compare.md and logs.tar.gz (every other log; see COMPACT below).
# A failing or timed-out part is reported and the next one still runs. Exit status: 0 when every
# part that ran passed, 1 otherwise, 2 on usage errors.
#
# Environment (with these defaults the whole run took 136 s on an H100 on 2026-11-27):
#   TEST_TIMEOUT=240   TRAIN_MODELS="cnn cnn-bn-aug"  TRAIN_WORKERS=6  TRAIN_TIMEOUT=240  BENCH_STEPS=50  BENCH_WARMUP=10  BENCH_TIMEOUT=240
#   TORCH_TIMEOUT=240  NABLA_DATA (Fashion-MNIST folder; else searched near BUILD_DIR and in
#   /usr/share/datasets/fashion-mnist)  GTEST_FILTER (for test_gpu; default *Cuda*, the GPU suites)  PYTHON=python3
# Libraries: BUILD_DIR/../devlibs is put first on LD_LIBRARY_PATH; cuDNN/cuBLAS missing from the
# system are taken from PyTorch's wheels. tests/gpu/pack.sh makes a bundle with that layout.
set -u

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR OUT_DIR" >&2
  exit 2
fi
BUILD=$(cd "$1" 2>/dev/null && pwd) || { echo "run.sh: no build directory $1" >&2; exit 2; }
mkdir -p "$2" && OUT=$(cd "$2" && pwd) || { echo "run.sh: cannot create $2" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PARTS=${PARTS:-"tests train lecture bench torch algo layers compare"}
PYTHON=${PYTHON:-python3}
TEST_TIMEOUT=${TEST_TIMEOUT:-240}
TRAIN_TIMEOUT=${TRAIN_TIMEOUT:-240}
BENCH_STEPS=${BENCH_STEPS:-50}
BENCH_WARMUP=${BENCH_WARMUP:-10}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-240}
TORCH_TIMEOUT=${TORCH_TIMEOUT:-240}

# Shared libraries copied next to the build (the GPU machine has no -dev packages).
if [ -d "$BUILD/../devlibs" ]; then
  export LD_LIBRARY_PATH="$(cd "$BUILD/../devlibs" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# cuDNN / cuBLAS: the system's when the loader finds them, else the copies PyTorch's wheels
# ship (site-packages/nvidia/*/lib), appended so the system's stay first.
PROBE=""
for b in tests/gpu/test_gpu bench/gpu/bench_gpu_step nabla; do
  [ -x "$BUILD/$b" ] && PROBE="$BUILD/$b" && break
done
# cuBLAS is opened at run time (src/backend/cuda/cublas_api.cpp), so ldd does not list it: ask
# test_gpu's loader test, which opens it as the library does (same RUNPATH; no GPU needed).
cublas_missing() {
  [ -x "$BUILD/tests/gpu/test_gpu" ] || return 1
  ! "$BUILD/tests/gpu/test_gpu" --gtest_filter='CudaCublasLoader.Opens*' >/dev/null 2>&1
}
if [ -n "$PROBE" ] && { ldd "$PROBE" 2>/dev/null | grep -E "libcudnn" | grep -q "not found" || cublas_missing; }; then
  NVLIBS=$("$PYTHON" -c "
import os, nvidia
for p in nvidia.__path__:
    for d in sorted(os.listdir(p)):
        if os.path.isdir(os.path.join(p, d, 'lib')): print(os.path.join(p, d, 'lib'))" 2>/dev/null | tr '\n' ':')
  [ -n "$NVLIBS" ] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}${NVLIBS%:}"
fi

SUMMARY=()
FAILED=0
note() { SUMMARY+=("$1"); }
fail() { SUMMARY+=("$1"); FAILED=1; }
wants() { case " $PARTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
# run_timed SECONDS LOG CMD...: runs with a timeout, output to LOG; sets RC and SECS.
run_timed() {
  local limit=$1 log=$2
  shift 2
  local t0=$SECONDS
  timeout -k 10 "$limit" "$@" >"$log" 2>&1
  RC=$?
  SECS=$((SECONDS - t0))
}
rc_word() { case $1 in 0) echo ok ;; 124 | 137) echo "TIMEOUT" ;; *) echo "exit $1" ;; esac; }
have_bin() {
  if [ ! -x "$1" ]; then
    fail "$2: MISSING $1 (not built; build with -DNABLA_CUDA=ON)"
    return 1
  fi
  if ldd "$1" 2>/dev/null | grep -q "not found"; then
    ldd "$1" | grep "not found" >"$OUT/$2.missing-libs.txt"
    fail "$2: shared libraries not found: $(awk '{print $1}' "$OUT/$2.missing-libs.txt" | tr '\n' ' ')(copy them to BUILD_DIR/../devlibs)"
    return 1
  fi
  return 0
}

{
  date -u
  echo "build: $BUILD"
  git -C "$ROOT" rev-parse HEAD 2>/dev/null
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || echo "nvidia-smi: not available"
  echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
} >"$OUT/environment.txt"
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
note "GPU: ${GPU_NAME:-none visible (nvidia-smi)}; output in $OUT"

# ---- tests --------------------------------------------------------------------------------
if wants tests && have_bin "$BUILD/tests/gpu/test_gpu" test_gpu; then
  rm -f "$OUT/test_gpu.json"
  run_timed "$TEST_TIMEOUT" "$OUT/test_gpu.log" "$BUILD/tests/gpu/test_gpu" \
    --gtest_output="json:$OUT/test_gpu.json" --gtest_filter="${GTEST_FILTER:-*Cuda*}"
  if [ -s "$OUT/test_gpu.json" ]; then
    LINE=$("$PYTHON" - "$OUT/test_gpu.json" "$OUT/test_gpu.failures.txt" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
n = fail = skip = 0
fails = []
for s in r.get("testsuites", []):
    for t in s.get("testsuite", []):
        n += 1
        if t.get("result") == "SKIPPED":
            skip += 1
        if t.get("failures"):
            fail += 1
            msg = t["failures"][0].get("failure", "").strip().splitlines()
            fails.append(f"{s['name']}.{t['name']}: " + " | ".join(msg[:4])[:300])
with open(sys.argv[2], "w") as f:
    f.write("\n".join(fails) + "\n")
print(f"{n} tests, {n - fail - skip} passed, {fail} failed, {skip} skipped")
for x in fails[:12]:
    print("    FAIL " + x[:200])
if len(fails) > 12:
    print(f"    ... {len(fails) - 12} more in test_gpu.failures.txt")
EOF
)
    COUNTS=$(head -1 <<<"$LINE")
    DETAILS=$(tail -n +2 <<<"$LINE")
    REASON=$(grep -m1 -o "no usable CUDA device.*" "$OUT/test_gpu.log" | cut -c1-200)
    if [ -n "$REASON" ]; then fail "tests: SKIPPED, no usable GPU ($COUNTS, ${SECS}s): $REASON"
    elif [ "$RC" -eq 0 ]; then note "tests: PASS ($COUNTS, ${SECS}s)"
    else fail "tests: FAIL [$(rc_word $RC)] ($COUNTS, ${SECS}s); every failure: test_gpu.failures.txt in logs.tar.gz"; fi
    [ -n "$DETAILS" ] && note "$DETAILS"
  else
    fail "tests: FAIL [$(rc_word $RC)] no JSON report (crash?); last lines: $(tail -3 "$OUT/test_gpu.log" | tr '\n' ' ' | cut -c1-300)"
  fi
fi

# ---- training --------------------------------------------------------------------------------
find_data() {
  for d in "${NABLA_DATA:-}" "$ROOT/data/fashion-mnist" "$BUILD/../data/fashion-mnist" "$BUILD/../fashion-mnist" \
    "$BUILD/data/fashion-mnist" /usr/share/datasets/fashion-mnist; do
    if [ -n "$d" ] && { [ -f "$d/train-images-idx3-ubyte.gz" ] || [ -f "$d/train-images-idx3-ubyte" ]; }; then
      echo "$d"
      return 0
    fi
  done
  return 1
}
if wants train && have_bin "$BUILD/nabla" train; then
  if DATA=$(find_data); then
    # The product path: `nabla train --device cuda`, the default cnn preset (the CPU default run
    # reached 92.05% in 12 epochs) and the strongest preset, cnn-bn-aug (target >= 93.5%).
    for MODEL in ${TRAIN_MODELS:-cnn cnn-bn-aug}; do
      run_timed "$TRAIN_TIMEOUT" "$OUT/train_$MODEL.log" "$BUILD/nabla" train --device cuda --model "$MODEL" \
        --data "$DATA" --workers "${TRAIN_WORKERS:-6}" --no-progress --out "$OUT/run_$MODEL"
      LINE=$(grep '^{' "$OUT/train_$MODEL.log" | tail -1 | "$PYTHON" -c "
import json, sys
try:
    r = json.loads(sys.stdin.read())
    print(f\"test accuracy {100 * r['test_accuracy']:.2f}% after {r['epochs']} epochs, {r['seconds']:.0f} s \"
          f\"({r['seconds_per_epoch']:.1f} s/epoch, data wait {r['data_wait_seconds']:.1f} s, \"
          f\"peak {r.get('peak_memory_mb', 0):.0f} MiB allocated)\")
except Exception as e:
    print('no summary line')" 2>&1)
      if [ "$RC" -eq 0 ]; then note "train $MODEL (GPU): $LINE [${SECS}s]"
      else fail "train $MODEL (GPU): FAIL [$(rc_word $RC)] $LINE; $(tail -2 "$OUT/train_$MODEL.log" | tr '\n' ' ' | cut -c1-250)"; fi
    done
  else
    fail "train: SKIPPED no Fashion-MNIST data (set NABLA_DATA, or copy it to BUILD_DIR/../data/fashion-mnist)"
  fi
fi

# ---- lecture experiment 8 (parameters resident vs copied, uploads overlapped vs not) -------------
if wants lecture && have_bin "$BUILD/lecture_08_gpu_params" lecture; then
  run_timed 120 "$OUT/lecture_08.log" "$BUILD/lecture_08_gpu_params" --out "$OUT/lecture_08"
  if [ "$RC" -eq 0 ]; then note "lecture 08: ok ($(tr '\n' ';' <"$OUT/lecture_08.log" | cut -c1-400))"
  else fail "lecture 08: FAIL [$(rc_word $RC)] $(tail -2 "$OUT/lecture_08.log" | tr '\n' ' ' | cut -c1-250)"; fi
fi

# ---- benchmarks --------------------------------------------------------------------------------
if wants bench && have_bin "$BUILD/bench/gpu/bench_gpu_step" bench; then
  rm -f "$OUT/bench_nabla.jsonl"
  run_timed "$BENCH_TIMEOUT" "$OUT/bench_nabla.log" "$BUILD/bench/gpu/bench_gpu_step" --steps "$BENCH_STEPS" \
    --warmup "$BENCH_WARMUP" --out "$OUT/bench_nabla.jsonl"
  NLINES=$(grep -c '"kind": "step"' "$OUT/bench_nabla.jsonl" 2>/dev/null)
  NERR=$(grep -c '"kind": "error"' "$OUT/bench_nabla.jsonl" 2>/dev/null)
  if grep -q '"kind": "skipped"' "$OUT/bench_nabla.jsonl" 2>/dev/null; then
    fail "bench nabla: SKIPPED $(grep -o '"reason": "[^"]*"' "$OUT/bench_nabla.jsonl" | head -1)"
  elif [ "$RC" -eq 0 ]; then note "bench nabla: ok (${NLINES:-0} configurations, ${SECS}s)"
  else fail "bench nabla: FAIL [$(rc_word $RC)] (${NLINES:-0} configurations, ${NERR:-0} errors, ${SECS}s); see bench_nabla.log"; fi
fi
if wants torch; then
  # PyTorch's defaults (cudnn.benchmark off), then with cudnn.benchmark on, as nabla's default.
  for B1 in "" _b1; do
    rm -f "$OUT/bench_torch$B1.jsonl"
    run_timed "$TORCH_TIMEOUT" "$OUT/bench_torch$B1.log" "$PYTHON" "$ROOT/bench/gpu/torch_step.py" --steps "$BENCH_STEPS" \
      --warmup "$BENCH_WARMUP" --cudnn-benchmark "$([ -n "$B1" ] && echo 1 || echo 0)" --out "$OUT/bench_torch$B1.jsonl"
    if grep -q '"kind": "skipped"' "$OUT/bench_torch$B1.jsonl" 2>/dev/null; then
      fail "bench torch$B1: SKIPPED $(grep -o '"reason": "[^"]*"' "$OUT/bench_torch$B1.jsonl" | head -1)"
    elif [ "$RC" -eq 0 ]; then note "bench torch$B1: ok ($(grep -c '"kind": "step"' "$OUT/bench_torch$B1.jsonl") configurations, ${SECS}s)"
    else fail "bench torch$B1: FAIL [$(rc_word $RC)] ${SECS}s; see bench_torch$B1.log"; fi
  done
fi
COMPARE_ALGO=""
if wants algo && have_bin "$BUILD/bench/gpu/bench_gpu_step" algo; then
  rm -f "$OUT/bench_nabla_algo.jsonl"
  run_timed "$BENCH_TIMEOUT" "$OUT/bench_nabla_algo.log" "$BUILD/bench/gpu/bench_gpu_step" --steps "$BENCH_STEPS" \
    --warmup "$BENCH_WARMUP" --models cnn,resnet18 --batches 64,512 --overlap 0 --cudnn-benchmark 0 \
    --out "$OUT/bench_nabla_algo.jsonl"
  if [ "$RC" -eq 0 ]; then note "bench nabla (cuDNN heuristic pick, nothing timed): ok (${SECS}s)"
  else fail "bench nabla algo: FAIL [$(rc_word $RC)] ${SECS}s; see bench_nabla_algo.log"; fi
  if [ -s "$OUT/bench_nabla_algo.jsonl" ] && [ -s "$OUT/bench_torch.jsonl" ] &&
    "$PYTHON" "$ROOT/bench/gpu/compare.py" "$OUT/bench_nabla_algo.jsonl" "$OUT/bench_torch.jsonl" \
      --md "$OUT/compare_algo.md" >"$OUT/compare_algo.log" 2>&1; then
    COMPARE_ALGO=$(cat "$OUT/compare_algo.md")
  fi
fi
COMPARE_LAYERS=""
if wants layers && have_bin "$BUILD/bench/gpu/bench_gpu_step" layers; then
  rm -f "$OUT/layers_nabla.jsonl" "$OUT/layers_torch.jsonl"
  run_timed "$BENCH_TIMEOUT" "$OUT/layers_nabla.log" "$BUILD/bench/gpu/bench_gpu_step" --layers 1 --batches 64,512 \
    --steps "$BENCH_STEPS" --warmup "$BENCH_WARMUP" --out "$OUT/layers_nabla.jsonl"
  if [ "$RC" -eq 0 ]; then note "layers nabla: ok (${SECS}s)"
  else fail "layers nabla: FAIL [$(rc_word $RC)] ${SECS}s; see layers_nabla.log"; fi
  run_timed "$TORCH_TIMEOUT" "$OUT/layers_torch.log" "$PYTHON" "$ROOT/bench/gpu/torch_step.py" --layers 1 \
    --batches 64,512 --steps "$BENCH_STEPS" --warmup "$BENCH_WARMUP" --out "$OUT/layers_torch.jsonl"
  if [ "$RC" -eq 0 ]; then note "layers torch: ok (${SECS}s)"
  else fail "layers torch: FAIL [$(rc_word $RC)] ${SECS}s; see layers_torch.log"; fi
  if [ -s "$OUT/layers_nabla.jsonl" ] &&
    "$PYTHON" "$ROOT/bench/gpu/compare.py" "$OUT/layers_nabla.jsonl" "$OUT/layers_torch.jsonl" \
      --md "$OUT/compare_layers.md" >"$OUT/compare_layers.log" 2>&1; then
    COMPARE_LAYERS=$(awk '/^Per layer/{f=1} /^Transfer/{f=0} f' "$OUT/compare_layers.md")
  fi
fi
COMPARE=""
COMPARE_B1=""
if wants compare; then
  if [ -s "$OUT/bench_nabla.jsonl" ] && [ -s "$OUT/bench_torch_b1.jsonl" ] &&
    "$PYTHON" "$ROOT/bench/gpu/compare.py" "$OUT/bench_nabla.jsonl" "$OUT/bench_torch_b1.jsonl" \
      --md "$OUT/compare_b1.md" >"$OUT/compare_b1.log" 2>&1; then
    COMPARE_B1=$(awk '/^\| model/{f=1} f && !/^\|/{exit} f' "$OUT/compare_b1.md")
  fi
  if [ -s "$OUT/bench_nabla.jsonl" ] || [ -s "$OUT/bench_torch.jsonl" ]; then
    "$PYTHON" "$ROOT/bench/gpu/compare.py" "$OUT/bench_nabla.jsonl" "$OUT/bench_torch.jsonl" \
      --md "$OUT/compare.md" --json "$OUT/compare.json" >"$OUT/compare.log" 2>&1
    if [ $? -eq 0 ]; then COMPARE=$(cat "$OUT/compare.md"); else fail "compare: FAIL; see compare.log"; fi
  else
    fail "compare: SKIPPED no benchmark output"
  fi
fi

# ---- summary -----------------------------------------------------------------------------------
{
  echo "==== nabla GPU run: $(date -u +%FT%TZ) ===="
  printf '%s\n' "${SUMMARY[@]}"
  if [ -n "$COMPARE" ]; then
    echo
    echo "$COMPARE"
  fi
  if [ -n "$COMPARE_B1" ]; then
    echo
    echo "The same nabla run against PyTorch with torch.backends.cudnn.benchmark = True:"
    echo "$COMPARE_B1"
  fi
  if [ -n "$COMPARE_LAYERS" ]; then
    echo
    echo "$COMPARE_LAYERS"
  fi
  if [ -n "$COMPARE_ALGO" ]; then
    echo
    echo "nabla with set_cudnn_benchmark(false) (cuDNN's heuristic pick), against PyTorch's defaults:"
    echo "$COMPARE_ALGO"
  fi
  echo "==== $([ $FAILED -eq 0 ] && echo 'ALL PARTS PASSED' || echo 'SOME PARTS FAILED') (details in $OUT) ===="
} | tee "$OUT/summary.txt"

# The device tool returns at most 8 files from its output folder: keep the key ones at the top
# and pack every other log (and the CLI run folder) into logs.tar.gz. COMPACT=0 keeps all.
if [ "${COMPACT:-1}" = 1 ]; then
  (
    cd "$OUT" || exit
    mapfile -t rest < <(ls -A | grep -vxF -e summary.txt -e compare.md -e bench_nabla.jsonl -e bench_torch.jsonl \
      -e train_cnn.log -e test_gpu.json -e logs.tar.gz)
    if [ ${#rest[@]} -gt 0 ] && tar -czf logs.tar.gz "${rest[@]}"; then rm -rf "${rest[@]}"; fi
  )
fi
exit $FAILED
