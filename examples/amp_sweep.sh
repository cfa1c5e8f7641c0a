#!/usr/bin/env bash
# What does mixed precision cost and buy? One model trained three times with the same seed and
# data: f32 (--amp off), bf16 autocast (--amp bf16) and f16 autocast with loss scaling
# (--amp f16), printing the test accuracy of the final weights, the median seconds per epoch,
# the ratio to f32's median measured in the same run, and the peak memory the training steps held
# (the allocator's high-water mark, data set included). One thread per run, runs one after the other.
# On a CPU, bf16 pays off only where the GEMMs and convolutions have 16-bit hardware paths
# (AVX512_BF16 / AMX through oneDNN); elsewhere the conversions cost more than they save.
# Usage: [MODEL=cnn] [EPOCHS=3] [LIMIT=20000] [DEVICE=cpu] examples/amp_sweep.sh [build/release/nabla] [out-dir]
set -euo pipefail
NABLA=${1:-build/release/nabla}
OUT=${2:-runs/amp}
MODEL=${MODEL:-cnn}
EPOCHS=${EPOCHS:-3}
LIMIT=${LIMIT:-20000}
DEVICE=${DEVICE:-cpu}
mkdir -p "$OUT"
column() {  # metrics.csv's column named $2, one value per epoch (found by its header, not its position)
  awk -F, -v name="$2" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == name) c = i; if (!c) exit 1; next} {print $c}' \
    "$1/metrics.csv"
}
median_seconds() {  # the median epoch time
  column "$1" seconds | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'
}
peak_mb() {  # the largest epoch's peak memory
  column "$1" peak_memory_mb | awk 'BEGIN {m = 0} $1 > m {m = $1} END {printf "%.1f", m}'
}
printf "%-6s %-14s %-16s %-8s %s\n" "amp" "test accuracy" "s/epoch (median)" "vs f32" "peak MiB (training)"
base=""
for amp in off bf16 f16; do
  "$NABLA" train --model "$MODEL" --epochs "$EPOCHS" --train-limit "$LIMIT" --threads 1 --no-progress --seed 0 \
    --device "$DEVICE" --amp "$amp" --out "$OUT/$amp" > "$OUT/$amp.json" 2> "$OUT/$amp.log"
  a=$(tail -n 1 "$OUT/$amp.json" | sed -E 's/.*"test_accuracy":([0-9.]+).*/\1/')
  s=$(median_seconds "$OUT/$amp")
  [ -z "$base" ] && base=$s
  printf "%-6s %-14s %-16s %-8s %s\n" "$amp" "$a" "$s" "$(awk -v s="$s" -v b="$base" 'BEGIN { printf "%.2fx", s / b }')" \
    "$(peak_mb "$OUT/$amp")"
done
