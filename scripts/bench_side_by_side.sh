#!/usr/bin/env bash
# Training and sampling throughput of inoc against PyTorch, side by side:
# ROUNDS runs of `inoc bench runtime` (PyTorch measured in the same
# invocation, config by config, right before candle), then per row the median
# and the spread (min-max) over the rounds of candle tok/s, PyTorch tok/s and
# their ratio. Single runs on shared VMs swing by 2x on a row: quote medians
# with their spread, and the load (`uptime`, printed before and after).
#
# Usage: scripts/bench_side_by_side.sh [ROUNDS] [extra `inoc bench runtime` args]
#   INOC_TORCH_PYTHON=/path/to/python-with-torch-and-transformers (required)
#   INOC_BIN=target/release/inoc (default)
#   BUDGET_S=450: no round starts that would, at the last round's pace, end
#   after this many seconds from the start (so the whole script stays under
#   8 minutes); at least one round always runs.
# e.g. INOC_TORCH_PYTHON=/work/pyenv/bin/python scripts/bench_side_by_side.sh 3
#      ... scripts/bench_side_by_side.sh 5 --only train
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
shift || true
budget="${BUDGET_S:-450}"
bin="${INOC_BIN:-target/release/inoc}"
py="${INOC_TORCH_PYTHON:?set INOC_TORCH_PYTHON to a Python with torch and transformers}"
[ -x "$bin" ] || { echo "no $bin: cargo build --release first" >&2; exit 2; }
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
echo "# $(date -u '+%F %T') UTC, $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $rounds rounds of: $bin bench runtime --threads 2 $*"
echo "# load before: $(uptime)"
start=$(date +%s)
for r in $(seq 1 "$rounds"); do
  t0=$(date +%s)
  echo "## round $r ($(uptime | sed 's/.*load/load/'))"
  INOC_TORCH_PYTHON="$py" "$bin" bench runtime --threads 2 "$@" | tee -a "$log"
  now=$(date +%s)
  if [ "$r" -lt "$rounds" ] && [ $(( now - start + now - t0 )) -gt "$budget" ]; then
    echo "# stopping after $r rounds: another would end past ${budget} s"
    break
  fi
done
echo "# load after: $(uptime); $(( $(date +%s) - start )) s"
"$py" - "$log" <<'EOF'
import re, statistics, sys
rows = {}
pat = re.compile(r"^(train|sample)\s+(\S+)\s+(.+?)\s+candle\s+([\d.]+) tok/s(?:\s+torch\s+([\d.]+) tok/s\s+ratio\s+([\d.]+))?")
for line in open(sys.argv[1]):
    m = pat.match(line.strip())
    if not m:
        continue
    key = (m.group(1), m.group(2), m.group(3).strip())
    r = rows.setdefault(key, {"candle": [], "torch": [], "ratio": []})
    r["candle"].append(float(m.group(4)))
    if m.group(5):
        r["torch"].append(float(m.group(5)))
        r["ratio"].append(float(m.group(6)))

def cell(v, fmt):
    if not v:
        return "-"
    return f"{fmt.format(statistics.median(v))} ({fmt.format(min(v))}-{fmt.format(max(v))})"

print()
print("| row | inoc tok/s, median (min-max) | PyTorch tok/s | ratio | rounds |")
print("|---|---:|---:|---:|---:|")
for (bench, config, mode), r in rows.items():
    print(f"| {bench} {config}, {mode} | {cell(r['candle'], '{:.0f}')} | {cell(r['torch'], '{:.0f}')} "
          f"| **{cell(r['ratio'], '{:.2f}')}** | {len(r['candle'])} |")
EOF
