#!/usr/bin/env bash
# Do the modern augmentations help with little data? The cnn preset on 200 training images per
# class (2,000 in all: 1,800 to train, 200 to validate), 40 epochs (cosine; EPOCHS=N to change), under
#   none, standard (crop with 2-pixel padding + mirror), strong (standard + rotation + erasing),
#   trivial (standard + TrivialAugmentWide), randaugment (standard + RandAugment 2 ops at 9/31),
#   standard + MixUp (alpha 0.2), standard + CutMix (alpha 1.0),
# each with seeds 0 and 1, printing the test accuracy (10,000 test images) of the final weights
# and the mean over the seeds. One thread per run.
# Usage: [EPOCHS=40] [CONFIGS="none mixup ..."] examples/augmentation_sweep.sh [build/release/nabla] [out-dir] [seeds]
# Each run's progress goes to <out-dir>/<config>-seed<seed>.log, its result line to .json.
set -euo pipefail
NABLA=${1:-build/release/nabla}
OUT=${2:-runs/augmentation}
SEEDS=${3:-"0 1"}
EPOCHS=${EPOCHS:-40}
CONFIGS=${CONFIGS:-"none standard strong trivial randaugment mixup cutmix"}
mkdir -p "$OUT"
acc() { tail -n 1 "$1" | sed -E 's/.*"test_accuracy":([0-9.]+).*/\1/'; }

configs=("none|--augment none" "standard|--augment standard" "strong|--augment strong"
         "trivial|--augment trivial" "randaugment|--augment randaugment"
         "mixup|--augment standard --mixup 0.2" "cutmix|--augment standard --cutmix 1.0")
printf "%-12s %s\n" "config" "test accuracy per seed, mean"
for entry in "${configs[@]}"; do
  name=${entry%%|*}
  [[ " $CONFIGS " == *" $name "* ]] || continue
  read -r -a extra <<< "${entry#*|}"
  sum=0 n=0 line=""
  for seed in $SEEDS; do
    "$NABLA" train --model cnn --per-class 200 --val-fraction 0.1 --epochs "$EPOCHS" --threads 1 --no-progress \
      --seed "$seed" --out "$OUT/$name-seed$seed" "${extra[@]}" > "$OUT/$name-seed$seed.json" 2> "$OUT/$name-seed$seed.log"
    a=$(acc "$OUT/$name-seed$seed.json")
    line="$line $a"
    sum=$(awk -v s="$sum" -v a="$a" 'BEGIN { print s + a }')
    n=$((n + 1))
  done
  printf "%-12s%s  mean %.4f\n" "$name" "$line" "$(awk -v s="$sum" -v n="$n" 'BEGIN { print s / n }')"
done
