#!/usr/bin/env bash
# Gas of every TrainingMarket call (issue 6) on a fresh local anvil, as a Markdown table.
# Needs anvil from `npm ci --prefix dao-bridge` (or anvil on PATH / $COLONY_ANVIL).
# Usage: bench/market-gas.sh            (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d dao-bridge/node_modules/@foundry-rs ] && ! command -v anvil >/dev/null && [ -z "${COLONY_ANVIL:-}" ]; then
  echo "anvil is missing: run \`npm ci --prefix dao-bridge\` first" >&2
  exit 1
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
# Gas does not depend on the build; the dev profile is enough.
cargo build -q -p colony-dao-bridge --example market_gas -j "${JOBS:-1}"
"$CARGO_TARGET_DIR/debug/examples/market_gas"
