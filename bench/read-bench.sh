#!/usr/bin/env bash
# Read-in-place benchmark (issue 13): `colony serve --http` (curl, boto3, polars) and
# `colony cat` against cat/pread of the checked-out files; peak RSS of the gateway.
#
#   bench/read-bench.sh                               # full size (2 GiB files + ~1 GiB table), 3 runs
#   bench/read-bench.sh --scale 0.05 --repeat 1       # smoke test
#   options: --scale F  --repeat N  --seed N  --random-reads N  --colony BIN
#
# colony: $COLONY_BIN if set, else target/release/colony (COLONY_NO_BUILD=1 skips
# `cargo build --release --workspace`). Python: bench/.venv if bench/setup.sh made it,
# else python3; it needs numpy and pyarrow (generator), and boto3 and polars for the S3
# rows (scripts/requirements-test.txt has them). Needs curl.
# Results: Markdown on stdout, bench/work/read-bench-*.{md,json} (+ -latest copies).
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
PY=python3
if [ -x "$BENCH/.venv/bin/python" ] && "$BENCH/.venv/bin/python" -c "import numpy, pyarrow, boto3, polars" 2>/dev/null; then
  PY="$BENCH/.venv/bin/python"
fi
"$PY" -c "import numpy, pyarrow" || { echo "[bench] needs numpy and pyarrow: pip install -r scripts/requirements-test.txt" >&2; exit 1; }
command -v curl >/dev/null || { echo "[bench] needs curl" >&2; exit 1; }
if [ -z "${COLONY_BIN:-}" ]; then
  COLONY_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/colony"
  if [ "${COLONY_NO_BUILD:-0}" != 1 ]; then
    echo "[bench] cargo build --release --workspace" >&2
    (cd "$ROOT" && cargo build --release --workspace >&2)
  fi
fi
[ -x "$COLONY_BIN" ] || { echo "[bench] no colony binary at $COLONY_BIN" >&2; exit 1; }
exec "$PY" "$BENCH/read_bench.py" --colony "$COLONY_BIN" "$@"
