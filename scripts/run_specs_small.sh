#!/usr/bin/env bash
# Runs every spec in specs/ small, as its `# ci: ARGS` line says (see
# .ci/run), on a fresh cache and runs folder; prints each spec's time.
# Usage: scripts/run_specs_small.sh [SPEC...]   (default: specs/*.inoc)
# INOC_BIN=PATH uses that binary instead of building target/release/inoc.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${INOC_BIN:-}" ]; then
    cargo build --release --quiet
fi
bin=${INOC_BIN:-target/release/inoc}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export INOC_CACHE="$scratch/cache"
specs=("$@")
[ ${#specs[@]} -gt 0 ] || specs=(specs/*.inoc)
failed=0
start_all=$SECONDS
for spec in "${specs[@]}"; do
    line=$(grep -m1 '^# ci:' "$spec" || true)
    if [ -z "$line" ]; then
        echo "FAIL $spec: no \`# ci: ARGS\` (or \`# ci: skip REASON\`) line" >&2
        failed=1
        continue
    fi
    args=${line#"# ci:"}
    if [[ "$args" =~ ^[[:space:]]*skip ]]; then
        echo "skip $spec:${args#*skip}"
        continue
    fi
    # The line is the spec's own text, quoted as on a command line.
    eval "set -- $args"
    t0=$SECONDS
    if "$bin" run --no-progress --runs-dir "$scratch/runs" "$@" "$spec" >"$scratch/out" 2>"$scratch/err"; then
        echo "ok   $spec in $((SECONDS - t0)) s: $(tail -1 "$scratch/err")"
    else
        echo "FAIL $spec (after $((SECONDS - t0)) s):" >&2
        tail -40 "$scratch/err" >&2
        failed=1
    fi
done
echo "every spec small: $((SECONDS - start_all)) s"
exit $failed
