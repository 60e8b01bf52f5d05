#!/usr/bin/env bash
# Sets everything up and runs colony's main job on generated data: init, add, commit,
# edit, commit, diff, checkout, verify, fsck. Safe to run again; works in a temp folder.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/colony/target}"
# The dev profile (dependencies optimised, our code lightly): it shares the build cache
# with scripts/test.sh, and the demo data is small. Benchmarks use --release.
cargo build --locked -p colony-cli
colony="$CARGO_TARGET_DIR/debug/colony"
# The Python package (`import colony`, `colony://` for pandas/pyarrow/polars/datasets),
# built from python/ by maturin in the same profile and cache, installed into python3.
MATURIN_PEP517_ARGS="--profile dev" python3 -m pip install --quiet --disable-pip-version-check ./python
work="$(mktemp -d "${TMPDIR:-/tmp}/colony-demo.XXXXXX")"
echo "demo dataset: $work"
cd "$work"
step() { printf '\n\033[1m$ colony %s\033[0m\n' "$*"; "$colony" "$@"; }

# Generated data: a CSV table, binary shards of a fake image set, nested text files.
mkdir -p images labels/train labels/test
{ echo "id,label,score"; for i in $(seq 1 20000); do echo "$i,class$((i % 7)),$((i * 37 % 1000))"; done; } > labels/table.csv
for i in $(seq 1 8); do head -c $((3 * 1024 * 1024)) /dev/urandom > "images/batch-$i.bin"; done
for i in $(seq 1 50); do echo "sample $i" > "labels/train/$i.txt"; done
echo "*.tmp" > .colonyignore
echo scratch > notes.tmp

step init
step add .
step commit -m "v1: generated dataset"
# Edit: change rows of the table, one byte in an image batch, add and remove files.
sed -i 's/^100,class2,/100,class9,/' labels/table.csv
printf 'X' | dd of=images/batch-3.bin bs=1 seek=1048576 conv=notrunc status=none
rm labels/train/7.txt
echo "held out" > labels/test/1.txt
step status
step commit -a -m "v2: relabel row 100, patch batch 3"
step diff HEAD~1 HEAD
step log --oneline
step checkout HEAD~1
grep -q '^100,class2,' labels/table.csv && echo "v1 restored byte-exact"
step switch main
step verify
step fsck
printf '\n\033[1m$ python3: pandas reads v1 in place through colony://\033[0m\n'
python3 -c '
import pandas as pd
old = pd.read_csv("colony://main~1/labels/table.csv", storage_options={"dataset": "."})
now = pd.read_csv("colony://main/labels/table.csv", storage_options={"dataset": "."})
print("row 100 at v1:", old.loc[old.id == 100, "label"].item(), "| now:", now.loc[now.id == 100, "label"].item())
'
echo
echo "history is plain git: git --git-dir $work/.colony/history log --stat"
git --git-dir "$work/.colony/history" log --oneline
