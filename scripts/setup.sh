#!/usr/bin/env bash
# Installs what the build needs from Debian, only what is missing (idempotent).
# Usage: scripts/setup.sh [--bench]   (--bench also installs LibTorch for comparisons)
set -euo pipefail

# libdnnl-dev: oneDNN, the f32 convolutions (NABLA_CONV_ONEDNN, on by default; bench/README.md).
packages=(cmake ninja-build g++ libopenblas-openmp-dev libdnnl-dev libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev
          libstb-dev dataset-fashion-mnist)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(libtorch-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi
