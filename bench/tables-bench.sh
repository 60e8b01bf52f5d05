#!/usr/bin/env bash
# Row diff and three-way merge of two 10M-row Parquet versions, against the time polars
# takes just to read both versions. Peak RSS of each step from /usr/bin/time -v.
# The versions share row groups (written by colony, fixed-size row groups), so diff and
# merge go a row group at a time; the *-general steps turn that off
# (COLONY_TABLES_ROW_GROUPS=off) to time the path versions sharing no row group take.
# Oxen's tabular diff (PyPI `oxenai`) is timed on the same files when it imports.
#
#   bench/tables-bench.sh            # 10M rows, 3 runs per step, best time reported
#   ROWS=1000000 RUNS=1 bench/tables-bench.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROWS=${ROWS:-10000000}
RUNS=${RUNS:-3}
# The build cache the tests use: the example is already built there by scripts/test.sh.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/colony/target}
DIR=${DIR:-$CARGO_TARGET_DIR/bench-tables-$ROWS}
# The dev profile builds every dependency (all of polars) at opt-level 3; only this
# crate's thin glue is at opt-level 1. PROFILE=release for a full release build.
PROFILE=${PROFILE:-dev}
# --workspace: built alone, colony-tables would select other polars features than the
# workspace does, and cargo would rebuild all of polars for this one example.
cargo build -q --workspace --example tables_bench --profile "$PROFILE"
case "$PROFILE" in dev) BIN=$CARGO_TARGET_DIR/debug/examples/tables_bench ;; *) BIN=$CARGO_TARGET_DIR/$PROFILE/examples/tables_bench ;; esac

[ -f "$DIR/v3.parquet" ] || "$BIN" gen "$DIR" "$ROWS"
ls -l "$DIR"/v1.parquet "$DIR"/v2.parquet "$DIR"/v3.parquet

# run NAME CMD... : best wall time over RUNS and the peak RSS of that run.
run() {
  local name=$1; shift
  local best="" rss=""
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -v "$@" >"$DIR/$name.out" 2>"$DIR/$name.time"
    local wall kb
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$DIR/$name.time")
    kb=$(awk -F': ' '/Maximum resident/ {print $2}' "$DIR/$name.time")
    if [ -z "$best" ] || awk "BEGIN{exit !($wall < $best)}"; then best=$wall; rss=$kb; fi
  done
  printf '%-14s wall=%7.2fs  peak_rss=%6d MiB  | %s\n' "$name" "$best" $((rss / 1024)) "$(tail -1 "$DIR/$name.out")"
  eval "T_${name//-/_}=$best"
}

echo "rows=$ROWS runs=$RUNS profile=$PROFILE cores=$(nproc) $(date -u +%FT%TZ)"
run read "$BIN" read "$DIR"
run diff "$BIN" diff "$DIR"
ASSUME_UNIQUE=1 run diff-nocheck "$BIN" diff "$DIR"
run merge "$BIN" merge "$DIR"
ASSUME_UNIQUE=1 run merge-nocheck "$BIN" merge "$DIR"
# The general path (whole tables decoded), as versions that share no row group take it.
COLONY_TABLES_ROW_GROUPS=off run diff-general "$BIN" diff "$DIR"
COLONY_TABLES_ROW_GROUPS=off run merge-general "$BIN" merge "$DIR"
awk -v r="$T_read" -v d="$T_diff" -v m="$T_merge" -v dn="$T_diff_nocheck" -v mn="$T_merge_nocheck" \
    -v dg="$T_diff_general" -v mg="$T_merge_general" 'BEGIN {
  printf "ratios: diff/read=%.2f (target <= 2)  merge/read=%.2f (target <= 3)\n", d/r, m/r
  printf "        without key-uniqueness checks: diff/read=%.2f  merge/read=%.2f\n", dn/r, mn/r
  printf "        general path (no shared row groups): diff/read=%.2f  merge/read=%.2f\n", dg/r, mg/r }'

if python3 -c "import oxen" 2>/dev/null; then
  OXEN_PY='import sys, oxen; d = oxen.diff(sys.argv[1], sys.argv[2], keys=["id"], compares=["value", "category", "ts"]); print("oxen diff done", type(d).__name__)'
  run oxen-diff python3 -c "$OXEN_PY" "$DIR/v1.parquet" "$DIR/v2.parquet" || echo "oxen diff failed: $(tail -3 "$DIR/oxen-diff.time")"
  [ -n "${T_oxen_diff:-}" ] && awk -v o="$T_oxen_diff" -v d="$T_diff" 'BEGIN { printf "oxen diff / colony diff = %.2f\n", o/d }'
else
  echo "oxen: python module oxen (pip install oxenai) not importable; skipped"
fi
