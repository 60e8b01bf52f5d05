#!/usr/bin/env bash
# Training benchmark: steps/s of each built-in model on CPU with and without recording
# (hash chain + checkpoints + record), and the hand-off cost: time from `colony train` to
# the end of the first step on a bigger generated dataset (bench/gen.py `files`, whose
# pin verifies every byte). Median of RUNS runs each.
#
#   bench/train-bench.sh                      # SCALE=0.1 (200 MiB), RUNS=3
#   SCALE=1 bench/train-bench.sh              # the full 2 GiB dataset
#   STEPS=300 RUNS=5 bench/train-bench.sh
#   COLONY_BIN=target/debug/colony bench/train-bench.sh   # use a colony already built
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
STEPS=${STEPS:-200}
SCALE=${SCALE:-0.1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=${WORK:-$CARGO_TARGET_DIR/bench-train}
# Dev profile: every dependency (candle, gemm) at opt-level 3, colony's crates at 1.
# COLONY_BIN=<a built colony> skips the build.
if [ -n "${COLONY_BIN:-}" ]; then
  BIN=$COLONY_BIN
else
  cargo build -q -p colony-cli --bin colony -j "${JOBS:-1}"
  BIN=$CARGO_TARGET_DIR/debug/colony
fi
export COLONY_AUTHOR_NAME=bench COLONY_AUTHOR_EMAIL=bench@example.invalid

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }

# Small training data: a 5,000-row table of 8 numeric features and a class, 1 MiB of text.
SMALL=$WORK/small
if [ ! -d "$SMALL/.colony" ]; then
  rm -rf "$SMALL"; mkdir -p "$SMALL/data"
  python3 - "$SMALL/data" <<'PY'
import random, sys
r = random.Random(1)
with open(sys.argv[1] + "/train.csv", "w") as f:
    f.write(",".join(f"f{i}" for i in range(8)) + ",label\n")
    for _ in range(5000):
        x = [r.gauss(0, 1) for _ in range(8)]
        label = "abc"[(x[0] + x[1] > 0) + (x[2] > 1)]
        f.write(",".join(f"{v:.5f}" for v in x) + f",{label}\n")
words = "data colony train model record step hash chain verify seed loss weight".split()
with open(sys.argv[1] + "/corpus.txt", "w") as f:
    while f.tell() < 1 << 20:
        f.write(" ".join(r.choice(words) for _ in range(12)) + ".\n")
PY
  (cd "$SMALL" && "$BIN" -q init && "$BIN" -q add . && "$BIN" -q commit -m data)
fi

echo "runs=$RUNS steps=$STEPS cores=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%FT%TZ)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for model in mlp charlm; do
  case $model in mlp) extra=(--label label) ;; charlm) extra=() ;; esac
  for mode in record no-record; do
    flag=(); [ $mode = no-record ] && flag=(--no-record)
    sps=(); ovh=()
    for _ in $(seq "$RUNS"); do
      out=$(cd "$SMALL" && "$BIN" train main --model $model --steps "$STEPS" --batch 32 \
            --checkpoint-every 50 "${extra[@]}" "${flag[@]}" --json)
      sps+=("$(echo "$out" | field steps_per_s)"); ovh+=("$(echo "$out" | field record_overhead)")
    done
    printf '%-7s %-10s steps/s median %8.1f  (runs: %s)  hashing+checkpoint share %.2f%%\n' \
      $model $mode "$(printf '%s\n' "${sps[@]}" | median)" "$(printf '%.1f ' "${sps[@]}")" \
      "$(printf '%s\n' "${ovh[@]}" | median | awk '{print $1*100}')"
  done
done

# Hand-off: the gen.py `files` dataset at SCALE, committed; time to the end of step 1 of
# the char model reading one of its CSV files (the pin verifies the whole snapshot).
BIG=$WORK/files-$SCALE
if [ ! -d "$BIG/.colony" ]; then
  rm -rf "$BIG"; mkdir -p "$BIG"
  python3 "$ROOT/bench/gen.py" --out "$BIG" --scale "$SCALE" --only files >/dev/null
  (cd "$BIG" && "$BIN" -q init && "$BIN" -q add . && "$BIN" -q commit -m files)
fi
size=$(du -sh --exclude=.colony "$BIG" | cut -f1)
ts=()
for _ in $(seq "$RUNS"); do
  out=$(cd "$BIG" && "$BIN" train main --model charlm --steps 1 --path '*/rows-00001.csv' --json)
  ts+=("$(echo "$out" | field first_step_s)")
done
printf 'hand-off (%s, %s): colony train -> end of first step median %.2fs (runs: %s)\n' \
  "files dataset scale $SCALE" "$size" "$(printf '%s\n' "${ts[@]}" | median)" "$(printf '%.2f ' "${ts[@]}")"
