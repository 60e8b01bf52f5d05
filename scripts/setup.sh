#!/usr/bin/env bash
# Installs what colony's builds, tests and demos need on a fresh machine, idempotently:
# Python packages the table, S3 (moto, a local S3 server), TLS, Python-package (pandas, fsspec,
# Hugging Face datasets) and benchmark tests use, and the
# Node packages that give the DAO tests a real Ethereum node (anvil) and the Solidity
# compiler.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "error: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }
command -v git >/dev/null || { echo "error: git not found; install git" >&2; exit 1; }

if [ -f scripts/requirements-test.txt ] && command -v python3 >/dev/null; then
  if ! python3 -c 'import pyarrow, palmerpenguins, moto.server, cryptography, mcp, polars, boto3, pandas, fsspec, datasets' 2>/dev/null; then
    echo "setup: installing Python test packages (scripts/requirements-test.txt)"
    python3 -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
  fi
fi

# PyTorch for the Python package's torch tests. Its default Linux wheel brings ~3 GB of
# CUDA libraries, so it goes once into a cached environment outside the clone (like the
# build cache) that also sees the packages above; tests find it at $COLONY_TORCH_VENV.
if command -v python3 >/dev/null; then
  torch_venv="${COLONY_TORCH_VENV:-$HOME/.cache/colony/torch-venv}"
  if ! "$torch_venv/bin/python" -c 'import torch' 2>/dev/null; then
    echo "setup: installing PyTorch into $torch_venv (once; about 5 GB)"
    python3 -m venv --system-site-packages "$torch_venv"
    "$torch_venv/bin/python" -m pip install --quiet --disable-pip-version-check torch
  fi
fi

if [ -f dao-bridge/package.json ]; then
  if ! command -v npm >/dev/null; then
    echo "error: npm not found; the DAO bridge tests need Node.js (apt-get install nodejs npm)" >&2
    exit 1
  fi
  if [ ! -x dao-bridge/node_modules/.bin/anvil ]; then
    echo "setup: installing Node packages for the DAO bridge (anvil, solc, OpenZeppelin)"
    if [ -f dao-bridge/package-lock.json ]; then
      npm ci --prefix dao-bridge --no-audit --no-fund --loglevel=error
    else
      npm install --prefix dao-bridge --no-audit --no-fund --loglevel=error
    fi
  fi
fi
echo "setup: done"
