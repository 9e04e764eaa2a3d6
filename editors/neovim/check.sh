#!/usr/bin/env bash
# Runs check.lua in headless neovim against an inoc binary:
#   editors/neovim/check.sh [path/to/inoc]   (default: target/release/inoc)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="$(realpath "${1:-target/release/inoc}")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
INOC_BIN="$bin" INOC_SPEC="$PWD/tests/fixtures/lsp/files/typo.inoc" INOC_STDLIB_DIR="$tmp" \
  timeout 120 nvim --headless --clean -u NONE -c "luafile editors/neovim/check.lua"
