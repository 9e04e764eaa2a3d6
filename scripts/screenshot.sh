#!/usr/bin/env bash
# A screenshot of a run's experiment page (index.html) in headless Chromium.
#
#   scripts/screenshot.sh RUN_FOLDER [OUT.png] [HEIGHT]
#
# RUN_FOLDER is a run's results folder (e.g. `runs/spanish_caps/latest`);
# OUT defaults to docs/images/main_job_index.png, HEIGHT to 4000 pixels
# (the page is long; Chromium cuts it at the window's height). Needs Debian's
# chromium (`apt-get install chromium`; this script installs it when missing
# and it can). The page is opened from disk: it loads nothing from the network.
set -euo pipefail
run=${1:?usage: scripts/screenshot.sh RUN_FOLDER [OUT.png] [HEIGHT]}
out=${2:-docs/images/main_job_index.png}
height=${3:-4000}
page=$(cd "$run" && pwd -P)/index.html
[ -f "$page" ] || { echo "error: $page: no such file (run the spec first)" >&2; exit 1; }
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  else
    echo "error: chromium is not installed (apt-get install chromium)" >&2; exit 1
  fi
fi
mkdir -p "$(dirname "$out")"
case "$out" in /*) abs=$out ;; *) abs=$(pwd)/$out ;; esac
rm -f "$abs"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# The flags keep a headless Chromium off the network (machines with a closed
# network refuse its background connections) and work as root.
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size=1280,"$height" \
  --screenshot="$abs" "file://$page" 2>/dev/null
[ -s "$abs" ] || { echo "error: chromium wrote no screenshot to $abs" >&2; exit 1; }
echo "$out"
