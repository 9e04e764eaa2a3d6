#!/usr/bin/env bash
# Builds `inoc` with `--features cuda` on a machine WITHOUT a GPU or a system
# CUDA toolkit, for a Hopper card (H100/H200, compute capability 9.0) whose
# driver speaks CUDA 13.0 (driver 580). Everything comes from PyPI wheels:
#
#   1. a venv OUTSIDE the repo ($CUDA_VENV, default /work/cuda13) with the CUDA
#      13.0 toolkit pieces candle needs: nvcc + cicc (nvvm) + crt headers,
#      cudart, cccl (cub/thrust, used by candle-kernels), cublas, curand, nvrtc.
#      13.0 exactly: a PTX or cubin built by a newer nvcc is refused by a 13.0
#      driver ("unsupported toolchain").
#   2. the wheel tree is made to look like a CUDA install: `lib64 -> lib`,
#      unversioned `libX.so` links for the linker, and a stub `libcuda.so`
#      (soname libcuda.so.1) in lib/stubs, because no wheel ships the driver
#      library. The stub defines every `cu*` entry point cudarc declares, as
#      empty functions; it only satisfies the linker. At run time the real
#      driver's libcuda.so.1 is loaded instead (the stub is never shipped).
#   3. cargo build --release --features cuda with CUDA_ROOT/CUDA_PATH/CUDA_HOME
#      (cudarc's link search), nvcc on PATH (cudaforge finds the toolkit from
#      it) and CUDA_COMPUTE_CAP=90 (no GPU here to ask), into its own target
#      dir ($CARGO_TARGET_DIR, default /work/cuda-target) so the normal CPU
#      target stays warm.
#   4. the binary is stripped and copied to $1 (default ./inoc-cuda).
#
# At run time the binary needs libcudart.so.13, libcublas(Lt).so.13,
# libcurand.so.10 and libnvrtc.so.13: on a machine with PyTorch cu130 they are
# in the python nvidia wheels; scripts/gpu_check.sh sets LD_LIBRARY_PATH from
# them. The kernel compile (candle-kernels: PTX for every op plus the static
# MoE/GGUF kernels) takes a long time on 2 cores: about an hour here.
set -euo pipefail

OUT_BIN=${1:-$PWD/inoc-cuda}
VENV=${CUDA_VENV:-/work/cuda13}
PY=${PYTHON:-python3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/cuda-target}

if [ ! -x "$VENV/bin/pip" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q \
  "cuda-toolkit[nvcc,cudart,cccl,crt,cublas,curand,nvrtc,nvvm]==13.0.2"

SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
C="$SITE/nvidia/cu13"
[ -x "$C/bin/nvcc" ] || { echo "no nvcc in $C/bin" >&2; exit 1; }

# 2. Make the wheel tree look like a toolkit install.
ln -sfn lib "$C/lib64"
for so in "$C"/lib/lib*.so.*; do
  base=$(basename "$so")
  case "$base" in *.alt.*|libnvrtc-builtins*) continue ;; esac
  ln -sf "$base" "$C/lib/${base%%.so.*}.so"
done
mkdir -p "$C/lib/stubs"
if [ ! -f "$C/lib/stubs/libcuda.so" ]; then
  CUDARC=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.* | sort -V | tail -1)
  grep -ohE '^pub unsafe fn cu[A-Za-z0-9_]+' "$CUDARC/src/driver/sys/mod.rs" \
    | sed 's/^pub unsafe fn //' | sort -u \
    | sed 's/.*/int &(void) { return 999; }/' >"$C/lib/stubs/libcuda_stub.c"
  cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$C/lib/stubs/libcuda.so" \
    "$C/lib/stubs/libcuda_stub.c"
fi

# 3. Build.
export CUDA_ROOT="$C" CUDA_PATH="$C" CUDA_HOME="$C"
export PATH="$C/bin:$PATH"
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export CUDAFORGE_THREADS=${CUDAFORGE_THREADS:-2}
export LIBRARY_PATH="$C/lib:$C/lib/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}"
nvcc --version | tail -2
cargo build --release --features cuda --bin inoc

# 4. Strip and copy.
cp "$CARGO_TARGET_DIR/release/inoc" "$OUT_BIN"
strip "$OUT_BIN"
ls -l "$OUT_BIN"
echo "needs at run time:"
readelf -d "$OUT_BIN" | grep NEEDED
