#!/usr/bin/env bash
# Replication benchmark (issue 4): clone of the `files` dataset over loopback,
# colony (iroh, own bao protocol) vs sendme (iroh-blobs' reference client) vs raw TCP,
# with peak RSS of both ends and a kill -9 + resume check.
#
#   bench/p2p-bench.sh                 # full size: files/ at --scale 1 (2 GiB of files)
#   bench/p2p-bench.sh --scale 0.25    # smaller
#
# colony: $COLONY_BIN (default target/release/colony; build it first, or point it at a
# dev-profile binary: dependencies are built with opt-level 3 there too; add
# --config 'profile.dev.package.colony-store.opt-level=3' for colony's own code).
# sendme: installed once with `cargo install sendme --root ~/.cache/colony/sendme`.
# Results: Markdown on stdout and bench/work/p2p-bench-latest.md.
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
SENDME_ROOT="${SENDME_ROOT:-$HOME/.cache/colony/sendme}"
if [ ! -x "$SENDME_ROOT/bin/sendme" ]; then
  echo "[bench] cargo install sendme --root $SENDME_ROOT" >&2
  cargo install sendme --root "$SENDME_ROOT" -j "${JOBS:-2}" >&2 || echo "[bench] sendme install failed; skipping it" >&2
fi
export SENDME_BIN="$SENDME_ROOT/bin/sendme"
export COLONY_BIN="${COLONY_BIN:-$ROOT/target/release/colony}"
exec python3 "$BENCH/p2p_bench.py" "$@"
