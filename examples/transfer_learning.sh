#!/usr/bin/env bash
# Transfer learning on Fashion-MNIST (the lecture's claim, measured):
#   1. pretrain the cnn preset on classes 0-4 (all their training images),
#   2. fine-tune on classes 5-9 with only 100 labelled images per class, with and without
#      freezing the backbone,
#   3. train the same model from scratch on the same 500 images,
# and print the test accuracy (on the 5,000 test images of classes 5-9) of each.
# Usage: examples/transfer_learning.sh [build/release/nabla] [out-dir]
set -euo pipefail
NABLA=${1:-build/release/nabla}
OUT=${2:-runs/transfer}
mkdir -p "$OUT"
COMMON=(--threads 2 --no-progress --seed 0)
acc() { tail -n 1 "$1" | sed -E 's/.*"test_accuracy":([0-9.]+).*/\1/'; }

"$NABLA" train --model cnn --classes 0,1,2,3,4 --epochs 4 --out "$OUT/pretrain-0-4" "${COMMON[@]}" > "$OUT.pretrain.json"
for mode in finetune finetune-frozen scratch; do
  args=(--classes 5,6,7,8,9 --per-class 100 --epochs 30 --schedule cosine --out "$OUT/$mode" "${COMMON[@]}")
  case $mode in
    finetune) "$NABLA" finetune --checkpoint "$OUT/pretrain-0-4/best.safetensors" --lr 0.01 "${args[@]}" > "$OUT.$mode.json" ;;
    finetune-frozen) "$NABLA" finetune --checkpoint "$OUT/pretrain-0-4/best.safetensors" --freeze-backbone "${args[@]}" > "$OUT.$mode.json" ;;
    scratch) "$NABLA" train --model cnn "${args[@]}" > "$OUT.$mode.json" ;;
  esac
done
echo "pretrain (classes 0-4, full data)  test accuracy $(acc "$OUT.pretrain.json")"
echo "fine-tuned, all layers (500 imgs)  test accuracy $(acc "$OUT.finetune.json")"
echo "fine-tuned, frozen backbone        test accuracy $(acc "$OUT.finetune-frozen.json")"
echo "from scratch (same 500 imgs)       test accuracy $(acc "$OUT.scratch.json")"
