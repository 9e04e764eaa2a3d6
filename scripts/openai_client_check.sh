#!/usr/bin/env bash
# The official `openai` Python client against `inoc serve` on 127.0.0.1.
#
#   scripts/openai_client_check.sh [INOC_BINARY]
#
# Makes a venv OUTSIDE the repository ($INOC_OPENAI_VENV, default
# ~/.cache/inoc/openai-client-venv), pip-installs the `openai` package into
# it, starts `inoc serve` on the tiny Qwen2 fixture (tests/fixtures/hf/qwen2)
# on a free port, runs scripts/openai_client_check.py against it (models,
# n, seed, stop, logprobs, streaming, typed errors), and stops the server.
# .ci/run runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
INOC="${1:-target/release/inoc}"
VENV="${INOC_OPENAI_VENV:-$HOME/.cache/inoc/openai-client-venv}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "openai==3.57.0"
[ -x "$INOC" ] || cargo build --release --quiet
out="$(mktemp)"
"$INOC" serve tests/fixtures/hf/qwen2 --port 0 --device cpu --name tiny >"$out" 2>/dev/null &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 600); do
    [ -s "$out" ] && break
    kill -0 "$server" 2>/dev/null || { echo "inoc serve exited before listening" >&2; exit 1; }
    sleep 0.1
done
url="$(head -n 1 "$out")"
[ -n "$url" ] || { echo "inoc serve printed no URL" >&2; exit 1; }
"$VENV/bin/python" scripts/openai_client_check.py "$url" tiny
