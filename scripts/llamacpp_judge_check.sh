#!/usr/bin/env bash
# inoc's judge against a third-party OpenAI-compatible server on 127.0.0.1:
# llama.cpp's, through llama-cpp-python's server, serving the SmolLM2 GGUF,
# beside `inoc serve` of the same file and a `local = base` judge.
#
#   scripts/llamacpp_judge_check.sh [INOC_BINARY]
#
# Not run by CI: it compiles llama.cpp (PyPI has no llama-cpp-python wheel
# for this machine), minutes on two cores. It makes a venv OUTSIDE the
# repository ($INOC_LLAMA_VENV, default ~/.cache/inoc-llamacpp/venv) and
# builds llama-cpp-python $VERSION from its PyPI sdist there (CPU backend
# only, no multimodal part, tools or tests), fetches the model
# (scripts/fetch_smollm2.sh), starts both servers on free ports, runs
# scripts/llamacpp_judge.inoc with the two URLs, then
# scripts/llamacpp_judge_compare.py on its run folder, and stops the servers.
# Nothing of llama.cpp enters the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
INOC="${1:-target/release/inoc}"
VERSION=0.3.36
VENV="${INOC_LLAMA_VENV:-$HOME/.cache/inoc-llamacpp/venv}"
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
bash scripts/fetch_smollm2.sh
[ -x "$INOC" ] || cargo build --release --quiet
if ! "$VENV/bin/python" -c "import llama_cpp.server, llama_cpp; assert llama_cpp.__version__ == '$VERSION'" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check cmake ninja scikit-build-core
    # Build isolation would build cmake itself from source: use the venv's.
    PATH="$VENV/bin:$PATH" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
        CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=ON -DGGML_BLAS=OFF -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF" \
        nice "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-build-isolation --no-binary llama-cpp-python "llama-cpp-python[server]==$VERSION"
fi
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
tmp="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
"$INOC" serve "$MODEL" --port 0 --device cpu --name smollm2 >"$tmp/inoc.url" 2>"$tmp/inoc.log" &
pids+=($!)
lport="$(free_port)"
"$VENV/bin/python" -m llama_cpp.server --model "$MODEL" --model_alias smollm2 \
    --host 127.0.0.1 --port "$lport" --n_ctx 2048 >"$tmp/llama.log" 2>&1 &
pids+=($!)
llama_url="http://127.0.0.1:$lport/v1"
for _ in $(seq 1 1200); do
    if [ -s "$tmp/inoc.url" ] && curl -sf "$llama_url/models" >/dev/null; then
        break
    fi
    for p in "${pids[@]}"; do
        kill -0 "$p" 2>/dev/null || { cat "$tmp/inoc.log" "$tmp/llama.log" >&2; echo "a server exited before listening" >&2; exit 1; }
    done
    sleep 0.1
done
inoc_url="$(head -n 1 "$tmp/inoc.url")"
curl -sf "$llama_url/models" >/dev/null || { cat "$tmp/llama.log" >&2; echo "llama.cpp's server is not listening" >&2; exit 1; }
echo "inoc serve: $inoc_url; llama.cpp (llama-cpp-python $VERSION): $llama_url" >&2
run_out="$(env -u INOC_JUDGE_URL -u INOC_JUDGE_KEY -u OPENAI_API_KEY INOC_JUDGE_CONCURRENCY=1 \
    "$INOC" run --no-progress --device cpu scripts/llamacpp_judge.inoc \
    --set "inoc_url=\"$inoc_url\"" --set "llama_url=\"$llama_url\"")"
folder="$(printf '%s\n' "$run_out" | tail -n 1)"
echo "run folder: $folder" >&2
"$VENV/bin/python" scripts/llamacpp_judge_compare.py "$folder" "$inoc_url" "$llama_url"
