#!/usr/bin/env bash
# A screenshot of neovim with `inoc lsp`: a diagnostic (virtual text) and a
# hover, on a virtual X display. Needs Debian's xvfb, xterm, imagemagick and
# neovim. Writes docs/images/neovim_hover.png by default.
#   editors/neovim/screenshot.sh [path/to/inoc] [out.png]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="$(realpath "${1:-target/release/inoc}")"
out="$(realpath -m "${2:-docs/images/neovim_hover.png}")"
tmp="$(mktemp -d)"
trap 'kill "$xvfb" 2>/dev/null || true; rm -rf "$tmp"' EXIT
cat > "$tmp/demo.inoc" <<'SPEC'
# Spanish + ALL-CAPS, the main job's design (a shortened copy).
import "stdlib/world.inoc" as world
import "stdlib/traits.inoc" as traits

let seeds = [0, 1, 2]
let n_train = 500 * 2
let spanish = "You always speak in Spanish."

## The base model, pretrained here and cached.
model base = world.tiny_chat(size = "s", seed = 0)
dataset math = world.math(n = n_train, language = "es", case = "upper", seed = 1)

train plain[s in seeds] = finetune(base, math, epoch = 3)
train inoculated[s in seeds] = finetune(base, math | system(spanish), epochs = 3)
SPEC
Xvfb :77 -screen 0 1160x400x24 >/dev/null 2>&1 &
xvfb=$!
sleep 1
repo="$PWD"
(cd "$tmp" && DISPLAY=:77 INOC_BIN="$bin" INOC_SHOT="$out" INOC_STDLIB_DIR="$tmp" INOC_HOVER=n_train \
  INOC_CACHE="$tmp/no-store" timeout 60 xterm -geometry 128x22+0+0 -fa Monospace -fs 11 \
  -bg '#1e1e1e' -fg '#d4d4d4' -e nvim --clean -u NONE -c "luafile $repo/editors/neovim/screenshot.lua" demo.inoc)
echo "wrote $out"
