#!/usr/bin/env bash
# Installs what is missing, builds (Release) and trains the default model on Fashion-MNIST,
# writing a run folder (checkpoint, metrics, report) under runs/.
# Usage: scripts/train.sh [options passed to the trainer]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target fashion_mlp
exec build/release/fashion_mlp "$@"
