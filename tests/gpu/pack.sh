#!/usr/bin/env bash
# Packs what tests/gpu/run.sh needs on a GPU machine into one compressed file, so it fits the
# device tool's carry limit (64 MiB): the three GPU executables (stripped), the shared
# libraries they need that a CUDA image lacks (OpenBLAS and its Fortran runtime, oneDNN when
# linked; never CUDA, cuDNN or glibc), and the Fashion-MNIST files for the training run.
#
#   tests/gpu/pack.sh BUILD_DIR DEST_DIR      # here, after building test_gpu bench_gpu_step nabla_cli bench_loader
#   # on the GPU machine, from the repository root (DEST_DIR carried):
#   mkdir -p /tmp/g && tar -xJf DEST_DIR/gpu_bundle.tar.xz -C /tmp/g && tests/gpu/run.sh /tmp/g/build "$OUT"
#
# The bundle holds build/{tests/gpu,bench/gpu}/... (and build/nabla when built), devlibs/ and
# data/fashion-mnist/: the layout run.sh looks for (BUILD_DIR/../devlibs, ../data/fashion-mnist).
# NO_DATA=1 leaves the data out. NABLA_DATA names another Fashion-MNIST folder.
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR DEST_DIR" >&2
  exit 2
fi
BUILD=$(cd "$1" && pwd)
mkdir -p "$2"
DEST=$(cd "$2" && pwd)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

BINS=(tests/gpu/test_gpu bench/gpu/bench_gpu_step nabla bench/bench_loader)
[ -x "$BUILD/lecture_08_gpu_params" ] && BINS+=(lecture_08_gpu_params)  # docs/lecture.md, experiment 8
# The `nabla` command too, when built: run.sh smoke-tests `nabla train --device cuda` with it.
[ -x "$BUILD/nabla" ] && BINS+=(nabla)
for b in "${BINS[@]}"; do
  [ -x "$BUILD/$b" ] || { echo "pack.sh: $BUILD/$b is missing; build it first" >&2; exit 1; }
  mkdir -p "$STAGE/build/$(dirname "$b")"
  strip -o "$STAGE/build/$b" "$BUILD/$b"
done

# Libraries outside the CUDA toolkit and the C/C++ runtime, as the binaries resolve them here.
mkdir -p "$STAGE/devlibs"
for b in "${BINS[@]}"; do ldd "$BUILD/$b"; done | awk '$3 ~ /^\// {print $1, $3}' | sort -u |
  while read -r name path; do
    case "$name" in
      libc.so* | libm.so* | libdl.so* | librt.so* | libpthread.so* | ld-linux* | libstdc++.so* | libgcc_s.so*) ;;
      libcu* | libnv* | libcudnn*) ;;  # the GPU machine's CUDA / cuDNN (or PyTorch's copies)
      *) cp -L "$path" "$STAGE/devlibs/$name" ;;
    esac
  done

if [ "${NO_DATA:-0}" != 1 ]; then
  DATA=${NABLA_DATA:-/usr/share/datasets/fashion-mnist}
  mkdir -p "$STAGE/data/fashion-mnist"
  cp "$DATA"/*-ubyte* "$STAGE/data/fashion-mnist/"
fi

tar -C "$STAGE" -cJf "$DEST/gpu_bundle.tar.xz" build devlibs $([ -d "$STAGE/data" ] && echo data)
echo "wrote $DEST/gpu_bundle.tar.xz ($(du -h "$DEST/gpu_bundle.tar.xz" | cut -f1)): $(cd "$STAGE" && find . -type f | sort | tr '\n' ' ')"
