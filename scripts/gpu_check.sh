#!/usr/bin/env bash
# The GPU check of issue 3, run on the GPU machine from the repo root:
#
#   bash scripts/gpu_check.sh [INOC_BINARY]        (default: .gpu/inoc)
#
# 1. nvidia-smi; LD_LIBRARY_PATH from python3's nvidia.* wheels (the CUDA 13
#    libraries PyTorch cu130 brings: cudart, cublas, curand, nvrtc);
# 2. correctness on the GPU: `inoc score` on the committed parity fixtures
#    (tests/fixtures/hf/*/expected.json, written by transformers) in f32 and
#    bf16, against the expected log-prob and the same binary on the CPU;
#    `inoc sample` greedy on GPU vs CPU; `inoc run specs/smoke.inoc` on the
#    GPU (pretraining + LoRA finetunes + sampling), checking the pretraining
#    loss falls;
# 3. `inoc bench runtime` on the GPU in f32 and bf16 with the PyTorch
#    reference in the same invocation.
# Everything is tee'd to $OUT/gpu.log ($OUT: the device tool's output folder;
# ./gpu-out when unset). Each part has its own time limit so the whole ends
# well inside 8 minutes. Test it on a CPU machine with GPU_CHECK_DEVICE=cpu
# (and BENCH_CONFIGS=tiny BENCH_ONLY=train to keep the bench short).
set -uo pipefail

BIN=${1:-.gpu/inoc}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
PY=${PYTHON:-python3}
TORCH_SCRIPT=${TORCH_SCRIPT:-benches/torch_reference.py}
BENCH_CONFIGS=${BENCH_CONFIGS:-tiny,small}
BENCH_ONLY=${BENCH_ONLY:-}
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
LOG="$OUT/gpu.log"
: >"$LOG"
exec > >(tee -a "$LOG") 2>&1
WORK=$(mktemp -d)
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
section() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }

section "machine"
nvidia-smi || echo "(no nvidia-smi)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>/dev/null || true
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 || true

LIBS=$("$PY" - <<'EOF' 2>/dev/null
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)
except Exception:
    roots = []
dirs = set()
for r in roots:
    for d in glob.glob(os.path.join(r, "**", "lib"), recursive=True):
        if glob.glob(os.path.join(d, "*.so*")):
            dirs.add(d)
print(":".join(sorted(dirs)))
EOF
)
if [ -n "$LIBS" ]; then
  export LD_LIBRARY_PATH="$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# The driver's libcuda.so.1: on the loader's path already, or in the usual
# driver folders.
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1'; then
  for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64; do
    if [ -e "$d/libcuda.so.1" ]; then
      export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"
      break
    fi
  done
fi
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
chmod +x "$BIN" 2>/dev/null || true
ldd "$BIN" | grep -E "not found|libcuda|cublas|curand|nvrtc|cudart|libstdc|libc\.so" || true
"$BIN" --version || { fail "the binary does not start"; exit 1; }

section "score: parity fixtures (expected = transformers, f32)"
for fx in qwen2 llama3 smol; do
  dir=tests/fixtures/hf/$fx
  [ -f "$dir/expected.json" ] || { echo "skip $fx (no fixture)"; continue; }
  prompt=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["scores"][0]["prompt"])' "$dir/expected.json")
  response=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["scores"][0]["response"])' "$dir/expected.json")
  for run in "cpu f32" "$DEVICE f32" "$DEVICE bf16"; do
    set -- $run
    t0=$(date +%s.%N)
    if timeout 45 "$BIN" score --device "$1" --dtype "$2" --model "$dir" --prompt "$prompt" \
      --response "$response" --format json >"$WORK/score-$fx-$1-$2.json" 2>"$WORK/err"; then
      t1=$(date +%s.%N)
      "$PY" - "$dir/expected.json" "$WORK/score-$fx-$1-$2.json" "$fx" "$1" "$2" "$t0" "$t1" <<'EOF' || FAILS=$((FAILS + 1))
import json, sys
exp = json.load(open(sys.argv[1]))["scores"][0]
got = json.load(open(sys.argv[2]))
fx, dev, dt, t0, t1 = sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6]), float(sys.argv[7])
want = sum(exp["token_logprobs"]) if "token_logprobs" in exp else exp["logprob"]
have = got["logprob"]
tok_want = exp.get("token_logprobs", [])
tok_have = [t["logprob"] for t in got["tokens"]]
tok_diff = max((abs(a - b) for a, b in zip(tok_want, tok_have)), default=float("nan"))
# f32: the same maths as transformers up to summation order. bf16: 8-bit
# mantissas through every layer of a random tiny model; 3% of the total.
tol = 2e-3 if dt == "f32" else 0.03 * abs(want) + 0.05
ok = abs(have - want) <= tol
print(f"{fx:<7} {dev:<5} {dt:<5} logprob {have:12.5f}  expected {want:12.5f}  |diff| {abs(have-want):.2e}"
      f"  max token |diff| {tok_diff:.2e}  tol {tol:.1e}  {'ok' if ok else 'FAIL'}  ({t1-t0:.1f}s incl. load)")
sys.exit(0 if ok else 1)
EOF
    else
      fail "score $fx on $1 $2: $(tail -3 "$WORK/err")"
    fi
  done
done

section "sample: greedy, GPU vs CPU (same binary)"
for run in "cpu f32" "$DEVICE f32" "$DEVICE bf16"; do
  set -- $run
  if timeout 60 "$BIN" sample --device "$1" --dtype "$2" --model tests/fixtures/hf/llama3 --prompt "Hello!" \
    -n 2 --temperature 0 --max-tokens 24 --format json >"$WORK/sample-$1-$2.json" 2>"$WORK/err"; then
    echo "$1 $2: $(cat "$WORK/sample-$1-$2.json")"
  else
    fail "sample on $1 $2: $(tail -3 "$WORK/err")"
  fi
done
if cmp -s "$WORK/sample-cpu-f32.json" "$WORK/sample-$DEVICE-f32.json"; then
  echo "greedy f32 samples: identical on cpu and $DEVICE"
else
  echo "greedy f32 samples differ between cpu and $DEVICE (near-ties of a random model can flip)"
fi
if timeout 60 "$BIN" sample --device "$DEVICE" --model tests/fixtures/hf/qwen2 --prompt "Hi" -n 4 \
  --temperature 1.0 --max-tokens 16 --seed 3 --format json >"$WORK/sample-t1.json" 2>"$WORK/err"; then
  echo "$DEVICE default dtype, T=1, n=4: $(cat "$WORK/sample-t1.json")"
else
  fail "sample T=1 on $DEVICE: $(tail -3 "$WORK/err")"
fi

section "inoc run specs/smoke.inoc on $DEVICE (pretrain, 4 LoRA finetunes, sampling)"
export INOC_CACHE="$WORK/cache"
t0=$(date +%s)
if timeout "${SMOKE_TIMEOUT:-100}" "$BIN" run specs/smoke.inoc --device "$DEVICE" --no-progress \
  --runs-dir "$WORK/runs" >"$WORK/run.out" 2>"$WORK/run.err"; then
  echo "smoke run: $(( $(date +%s) - t0 )) s; $(tail -1 "$WORK/run.err")"
  folder=$(tail -1 "$WORK/run.out")
  find "$folder" -name '*.md' -exec cat {} \; 2>/dev/null | head -30
  "$PY" - "$INOC_CACHE" <<'EOF' || FAILS=$((FAILS + 1))
import glob, json, os, sys
ok = True
for f in sorted(glob.glob(os.path.join(sys.argv[1], "**", "train.json"), recursive=True)):
    l = json.load(open(f))["losses"]
    k = max(1, len(l) // 4)
    first, last = sum(l[:k]) / k, sum(l[-k:]) / k
    kind = "pretrain" if len(l) >= 20 else "finetune"
    falls = last < first
    print(f"{kind:<8} {len(l):3d} steps: loss {l[0]:.4f} -> {l[-1]:.4f} (mean of first {k} {first:.4f}, last {k} {last:.4f}) {'falls' if falls else 'DOES NOT FALL'}")
    if kind == "pretrain" and not falls:
        ok = False
sys.exit(0 if ok else 1)
EOF
else
  fail "smoke run on $DEVICE: $(tail -5 "$WORK/run.err")"
fi

for dt in f32 bf16; do
  section "inoc bench runtime --device $DEVICE --dtype $dt (PyTorch reference in the same run)"
  only=()
  [ -n "$BENCH_ONLY" ] && only=(--only "$BENCH_ONLY")
  timeout "${BENCH_TIMEOUT:-120}" "$BIN" bench runtime --device "$DEVICE" --dtype "$dt" --threads 4 \
    --configs "$BENCH_CONFIGS" "${only[@]}" --torch-python "$PY" --torch-script "$TORCH_SCRIPT" \
    || fail "bench $dt (exit $?)"
done

section "done: $FAILS failure(s)"
rm -rf "$WORK"
exit $((FAILS > 0))
