#!/usr/bin/env bash
# Installs what is missing, builds (Release) and trains the default model (the `cnn` preset)
# on Fashion-MNIST, writing a run folder (config.json, metrics.csv, best/last.safetensors,
# report.html) under runs/. Extra arguments go to `nabla train` (see `nabla train --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target nabla_cli
exec build/release/nabla train "$@"
