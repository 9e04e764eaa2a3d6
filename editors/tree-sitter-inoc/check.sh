#!/usr/bin/env bash
# Generates the tree-sitter parser from grammar.js and parses every spec,
# stdlib module and LSP fixture spec with it: any ERROR or MISSING node
# fails. Then runs the highlight query over every file (a query that names
# a node or field the grammar lacks fails). Needs the tree-sitter CLI
# (`cargo install tree-sitter-cli --locked`; .ci/run installs it when
# missing) and a C compiler.
#   editors/tree-sitter-inoc/check.sh [path/to/tree-sitter]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
ts="${1:-tree-sitter}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Generate into a scratch copy: nothing generated lands in the repository.
cp -r "$here/grammar.js" "$here/tree-sitter.json" "$here/queries" "$work/"
cd "$work"
"$ts" generate
mapfile -t files < <(cd "$repo" && { ls specs/*.inoc stdlib/*.inoc 2>/dev/null; find tests/fixtures/lsp/files -name "*.inoc"; } | sort)
[ "${#files[@]}" -gt 0 ] || { echo "no .inoc files found" >&2; exit 1; }
paths=("${files[@]/#/$repo/}")
# --quiet prints one line per file with an ERROR or MISSING node and exits 1.
if ! "$ts" parse -p . --quiet "${paths[@]}" 2>/dev/null > parse.out; then
  cat parse.out
  echo "tree-sitter: $(grep -c . parse.out) of ${#files[@]} files have parse errors" >&2
  exit 1
fi
# The highlight query must compile against the grammar and run on every file.
"$ts" query -p . --quiet queries/highlights.scm "${paths[@]}" > /dev/null
echo "tree-sitter: ${#files[@]} files parsed without an error node; highlight query ran on each"
