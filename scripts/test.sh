#!/usr/bin/env bash
# Installs what is missing, builds (Release) and runs every test; prints ctest's summary.
# Usage: scripts/test.sh [ctest args...]      e.g. scripts/test.sh -L ops
#        PRESET=debug-asan scripts/test.sh    (sanitizer build)
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${PRESET:-release}"
scripts/setup.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
ctest --preset "$preset" -j"$(nproc)" "$@"
