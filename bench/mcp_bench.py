#!/usr/bin/env python3
"""Latency of `colony mcp` against the same work through the CLI.

Builds (once) a dataset holding a 64 KiB random file and the benchmark table
(bench/gen.py: ~1 GiB Parquet at --rows 10000000; scale it down with --rows), then times,
ROUNDS times each, the median and best of:

  read 64 KiB   MCP `read` (one open session, stdio)   vs  `colony cat HEAD:PATH`
  query agg     MCP `query` (one open session, stdio)  vs  `colony query HEAD SQL --json`

The CLI figures include process start and opening the store, which is what an agent
calling the CLI per question pays; the MCP figures are per call in a running server.

    python3 bench/mcp_bench.py --colony target/release/colony --rows 10000000
    python3 bench/mcp_bench.py --colony $CARGO_TARGET_DIR/debug/colony --rows 200000 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen import write_table_versions  # noqa: E402

SQL = 'SELECT category, count(*) AS n, avg(value) AS mean FROM "table.parquet" GROUP BY category ORDER BY category'


def sh(colony: str, ds: Path, *args: str) -> bytes:
    return subprocess.run([colony, "-C", str(ds), *args], check=True, capture_output=True).stdout


def build(colony: str, ds: Path, rows: int) -> None:
    stamp = ds / ".bench-done"
    if stamp.exists() and stamp.read_text() == str(rows):
        return
    if ds.exists():
        subprocess.run(["rm", "-rf", str(ds)], check=True)
    ds.mkdir(parents=True)
    sh(colony, ds, "init")
    (ds / "blob.bin").write_bytes(os.urandom(64 << 10))
    tmp = ds.parent / f"table-{rows}"
    if not (tmp / "v1.parquet").exists():
        write_table_versions(str(tmp), rows=rows, seed=1)
    os.link(tmp / "v1.parquet", ds / "table.parquet")
    sh(colony, ds, "add", ".")
    sh(colony, ds, "commit", "-m", "bench")
    stamp.write_text(str(rows))


def timed(fn, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


async def mcp_times(colony: str, ds: Path, rounds: int) -> dict[str, list[float]]:
    params = StdioServerParameters(command=colony, args=["mcp", "-C", str(ds)])
    res: dict[str, list[float]] = {"read": [], "query": []}
    async with stdio_client(params) as (r, w):
        async with ClientSession(r, w) as s:
            await s.initialize()
            for name, args in (
                ("read", {"path": "blob.bin", "length": 64 << 10}),
                ("query", {"sql": SQL}),
            ):
                first = await s.call_tool(name, args)  # warm: the first call opens files
                assert not first.is_error, first
                for _ in range(rounds):
                    t = time.perf_counter()
                    out = await s.call_tool(name, args)
                    res[name].append(time.perf_counter() - t)
                    assert not out.is_error, out
    return res


def fmt(ts: list[float]) -> str:
    return f"median {statistics.median(ts) * 1000:8.1f} ms   best {min(ts) * 1000:8.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--colony", required=True, help="the colony binary")
    ap.add_argument("--rows", type=int, default=10_000_000, help="table rows (10M = ~1 GiB)")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--dir", default=None, help="where the dataset lives (default: bench-mcp-ROWS beside the binary)")
    a = ap.parse_args()
    colony = str(Path(a.colony).resolve())
    ds = Path(a.dir) if a.dir else Path(colony).parent / f"bench-mcp-{a.rows}" / "ds"
    build(colony, ds, a.rows)
    size = (ds / "table.parquet").stat().st_size
    print(f"dataset {ds}: table.parquet {a.rows} rows, {size / 2**20:.1f} MiB; {a.rounds} rounds")
    m = anyio.run(mcp_times, colony, ds, a.rounds)
    cat = timed(lambda: sh(colony, ds, "cat", "HEAD:blob.bin"), a.rounds)
    q = timed(lambda: sh(colony, ds, "--json", "query", "HEAD", SQL), a.rounds)
    print(f"read 64 KiB  MCP read   {fmt(m['read'])}")
    print(f"read 64 KiB  colony cat {fmt(cat)}")
    print(f"query agg    MCP query  {fmt(m['query'])}")
    print(f"query agg    colony query {fmt(q)}")


if __name__ == "__main__":
    main()
