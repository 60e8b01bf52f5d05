#!/usr/bin/env bash
# Runs the whole test suite: unit tests beside the code, end-to-end tests in tests/ that
# drive the built binary against real git, and the component tests (anvil, pyarrow).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# A build cache outside the clone, reused between runs (CI passes its own).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/colony/target}"
cargo test --workspace --locked "$@"
