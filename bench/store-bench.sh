#!/usr/bin/env bash
# Store benchmark: colony vs b3sum, DVC, git-lfs, Oxen and git status, side by side.
#
#   bench/store-bench.sh                      # full size (2 GiB + 2x1 GiB + 100k files), 3 runs
#   bench/store-bench.sh --scale 0.02 --repeat 1        # smoke test, about a minute
#   options: --tools colony,b3sum,dvc,git-lfs,oxen,git  --datasets files,table,small
#            --timeout SEC (per command)  --nice N  --keep  --seed N
#
# colony: $COLONY_BIN if set; else `cargo build --release -p colony-cli` and
# target/release/colony. COLONY_NO_BUILD=1 skips the build (then colony runs only if the
# binary is already there). If colony cannot be built or lacks init/add/commit/status,
# it is skipped with a note in the report and the peers still run.
# Results: Markdown on stdout, bench/work/store-bench-*.{md,json} (+ -latest copies).
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
VENV="$BENCH/.venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import pyarrow, numpy" 2>/dev/null; then
  echo "[bench] peer tools not installed: run bench/setup.sh first" >&2
  exit 1
fi
export PATH="$BENCH/.tools/bin:$VENV/bin:$PATH"

want_colony=1
prev=""
for a in "$@"; do
  if [ "$prev" = "--tools" ] && [[ ",$a," != *",colony,"* ]]; then want_colony=0; fi
  case "$a" in --tools=*) [[ ",${a#--tools=}," == *",colony,"* ]] || want_colony=0 ;; esac
  prev="$a"
done

unset COLONY_SKIP_NOTE
if [ "$want_colony" = 1 ] && [ -z "${COLONY_BIN:-}" ]; then
  COLONY_BIN="$ROOT/target/release/colony"
  if [ "${COLONY_NO_BUILD:-0}" != 1 ]; then
    echo "[bench] cargo build --release -p colony-cli" >&2
    if ! (cd "$ROOT" && cargo build --release -p colony-cli >&2); then
      export COLONY_SKIP_NOTE="cargo build --release -p colony-cli failed"
    fi
  fi
  if [ -z "${COLONY_SKIP_NOTE:-}" ] && [ ! -x "$COLONY_BIN" ]; then
    export COLONY_SKIP_NOTE="no colony binary at $COLONY_BIN (yet)"
  fi
  export COLONY_BIN
fi
exec "$VENV/bin/python" "$BENCH/store_bench.py" "$@"
