#!/usr/bin/env python3
"""A minimal `oxen` command line over PyPI `oxenai`'s Rust core, for the benchmark.

PyPI `oxenai` (0.65.x) ships no `oxen` CLI: it ships liboxen, Oxen's Rust core, compiled
into the extension module `oxen/oxen_py.abi3.so`, with a Python API around it. The real
CLI is the crates.io crate `oxen-cli` (a long build: polars, duckdb, rocksdb); setup.sh
installs it only with BENCH_OXEN_CLI=1. Until then this shim makes the same liboxen calls
the CLI makes (init, add, commit, status).

The extension is loaded directly, without `import oxen` (whose __init__ pulls in pandas
and polars and costs ~1 s per call), so the per-command overhead is one Python start
(~30 ms) plus loading the .so.

Usage: oxen_shim.py init | add PATH... | commit -m MSG | status | --version
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import sysconfig
from pathlib import Path


def load_core():
    for base in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *sys.path}:
        if not base:
            continue
        for so in sorted(Path(base, "oxen").glob("oxen_py*.so")):
            loader = importlib.machinery.ExtensionFileLoader("oxen_py", str(so))
            spec = importlib.util.spec_from_file_location("oxen_py", so, loader=loader)
            mod = importlib.util.module_from_spec(spec)
            loader.exec_module(mod)
            return mod
    sys.exit("oxen_shim: PyPI oxenai is not installed (no oxen/oxen_py*.so)")


def version() -> str:
    try:
        from importlib.metadata import version as v

        return f"liboxen {v('oxenai')} (PyPI oxenai, via bench/oxen_shim.py)"
    except Exception:  # noqa: BLE001
        return "liboxen (PyPI oxenai, via bench/oxen_shim.py)"


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if argv[0] in ("-V", "--version"):
        load_core()  # proves the Rust core loads
        print(version())
        return 0
    core = load_core()
    cmd, rest = argv[0], argv[1:]
    cfg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "oxen" / "user_config.toml"
    if not cfg.exists():
        cfg.parent.mkdir(parents=True, exist_ok=True)
        core.user.config_user("bench", "bench@example.invalid", str(cfg))
    repo = core.PyRepo(os.getcwd())
    if cmd == "init":
        repo.init()
    elif cmd == "add":
        for p in rest or ["."]:
            repo.add(os.path.abspath(p))
    elif cmd == "commit":
        if len(rest) != 2 or rest[0] != "-m":
            sys.exit("usage: oxen_shim.py commit -m MSG")
        print(repo.commit(rest[1]))
    elif cmd == "status":
        print(repo.status())
    else:
        sys.exit(f"oxen_shim: unknown command {cmd!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
