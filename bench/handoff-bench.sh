#!/usr/bin/env bash
# `colony train --exec` hand-off time (issue 13): from the start of the command to the
# first line of the external trainer, with the snapshot copied (`--materialize`, the old
# behaviour) and mounted read-only (the default where FUSE works), each with
# `--verify lazy` (default) and `--verify full`.
#
#   bench/handoff-bench.sh                 # 2 GiB of random files (16 × 128 MiB)
#   SIZE_MIB=512 bench/handoff-bench.sh    # smaller
#
# colony: $COLONY_BIN (default target/release/colony; a dev-profile binary works too, its
# dependencies are built with opt-level 3). Needs FUSE (/dev/fuse, root or fuse3).
# Prints a Markdown table; the dataset lives in $WORK (default bench/work/handoff).
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
COLONY="${COLONY_BIN:-$ROOT/target/release/colony}"
SIZE_MIB="${SIZE_MIB:-2048}"
REPEAT="${REPEAT:-3}"
WORK="${WORK:-$BENCH/work/handoff}"
FILES=16
export COLONY_AUTHOR_NAME=bench COLONY_AUTHOR_EMAIL=bench@example.invalid

if [ ! -f "$WORK/data/.done-$SIZE_MIB" ]; then
  rm -rf "$WORK/data"
  mkdir -p "$WORK/data/parts"
  echo "[bench] generating $SIZE_MIB MiB in $FILES files" >&2
  for i in $(seq 1 $FILES); do
    head -c $((SIZE_MIB * 1024 * 1024 / FILES)) /dev/urandom > "$WORK/data/parts/part$i.bin"
  done
  (cd "$WORK/data" && "$COLONY" -q init && "$COLONY" -q add . && "$COLONY" -q commit -m data)
  touch "$WORK/data/.done-$SIZE_MIB"
fi

# The trainer's first line records the time; colony's report gives its own hand-off.
cat > "$WORK/first-line.sh" <<'SH'
#!/bin/sh
date +%s.%N > "$HANDOFF_T"
SH

echo "| snapshot | verify | hand-off s (median of $REPEAT) | colony's handoff_s |"
echo "|---|---|---|---|"
for mode in materialize mount; do
  for verify in lazy full; do
    flags=(--verify "$verify")
    [ "$mode" = materialize ] && flags+=(--materialize)
    times=()
    own=()
    for _ in $(seq 1 "$REPEAT"); do
      sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
      t0=$(date +%s.%N)
      out=$(cd "$WORK/data" && HANDOFF_T="$WORK/t" "$COLONY" --json train main "${flags[@]}" --exec "sh $WORK/first-line.sh")
      own+=("$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["handoff_s"])')")
      t1=$(cat "$WORK/t")
      times+=("$(python3 -c "print($t1 - $t0)")")
    done
    med=$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$(( (REPEAT + 1) / 2 ))p")
    medown=$(printf '%s\n' "${own[@]}" | sort -g | sed -n "$(( (REPEAT + 1) / 2 ))p")
    printf '| %s | %s | %.3f | %.3f |\n' "$mode" "$verify" "$med" "$medown"
  done
done
