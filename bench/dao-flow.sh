#!/usr/bin/env bash
# Full DAO governance flow on a fresh local anvil: wall time and gas of each call.
# Needs anvil from `npm ci --prefix dao-bridge` (or anvil on PATH / $COLONY_ANVIL).
# Usage: bench/dao-flow.sh            (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d dao-bridge/node_modules/@foundry-rs ] && ! command -v anvil >/dev/null && [ -z "${COLONY_ANVIL:-}" ]; then
  echo "anvil is missing: run \`npm ci --prefix dao-bridge\` first" >&2
  exit 1
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
# The dev profile already optimises dependencies (opt-level 3); the flow is RPC-bound and gas
# does not depend on the build, so a release build would only cost compile time.
cargo build -q -p colony-dao-bridge --example dao_flow -j "${JOBS:-1}"
"$CARGO_TARGET_DIR/debug/examples/dao_flow"
