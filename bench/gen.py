#!/usr/bin/env python3
"""Deterministic data generator for colony's benchmarks.

Datasets (sizes at --scale 1; every count is multiplied by --scale):

  files/   (a) 2,000 files of 1 MiB = 2 GiB, in folders of 100. Even-numbered files are
               random bytes (incompressible, like already-compressed media); odd-numbered
               ones are CSV-like text (~2.5x with zstd on 64 KiB chunks).
  table/   (b) a ~1 GiB Parquet table of 10,000,000 rows, v1.parquet, and v2.parquet:
               v1 with 1% of its rows edited in ONE contiguous block (starting at 40% of
               the table) and 0.5% of rows appended. Columns: id int64, ts timestamp[ms],
               category string (dictionary of 64), value float64, text string.
               Both files are written with the same pyarrow writer settings (see
               WRITER_OPTS) and a fixed row-group size of 131,072 rows (~13 MiB; at smaller
               scales it shrinks in proportion, never below 1,024), so unchanged row groups
               are byte-identical between v1 and v2: an ideal store writes ~3-4% anew.
  small/   (c) 100,000 files of ~4 KiB (3-5 KiB, text) in nested folders
               small/dNN/dNN/fNNNNNN.txt (100 files per leaf folder).

Same --seed and --scale give byte-identical output. A finished dataset leaves a
`.gen.json` stamp; running again with the same parameters does nothing.

The table generator is importable for other benchmarks:

    from gen import write_table_versions
    write_table_versions("out/", rows=10_000_000, seed=1)   # -> out/v1.parquet, out/v2.parquet

or from the shell: `python bench/gen.py table --rows 10000000 --out DIR`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

MiB = 1 << 20

# ---- full-scale sizes -------------------------------------------------------------------
FILES_COUNT = 2000
FILES_SIZE = 1 * MiB
TABLE_ROWS = 10_000_000
TABLE_ROW_GROUP_ROWS = 131_072
TABLE_EDIT_FRACTION = 0.01
TABLE_EDIT_START_FRACTION = 0.40
TABLE_APPEND_FRACTION = 0.005
SMALL_COUNT = 100_000
SMALL_SIZE = 4096

# One set of writer settings for v1 and v2. Snappy is pyarrow's (and Spark's) default.
WRITER_OPTS = dict(
    compression="snappy",
    use_dictionary=["category"],
    write_statistics=True,
    data_page_size=1 * MiB,
    version="2.6",
)

WORDS = (
    "the of and to in is was for on that with as by at from his it an were are which this "
    "be or has had not but also its first new one their after two they been who more have "
    "data model river valley north south station market value series table record sample "
    "train test batch shard chunk commit merge branch peer node hash block stream cache "
    "alpha beta gamma delta sigma omega red green blue amber violet cobalt silver copper "
    "winter spring summer autumn morning evening city harbor bridge tower garden forest"
).split()


def rng_for(seed: int, *stream: int) -> np.random.Generator:
    """An independent, reproducible random stream per (seed, stream...)."""
    return np.random.default_rng([seed, *stream])


def _stamp_ok(d: Path, params: dict) -> bool:
    try:
        return json.loads((d / ".gen.json").read_text())["params"] == params
    except (OSError, ValueError, KeyError):
        return False


def _stamp(d: Path, params: dict, **info) -> None:
    (d / ".gen.json").write_text(json.dumps({"params": params, **info}, indent=1) + "\n")


def _fresh(d: Path) -> None:
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)


# ---- text helpers -----------------------------------------------------------------------

def _csv_pool(rng: np.random.Generator, n: int) -> list[bytes]:
    """n distinct CSV-ish lines: date, category, numbers, a few words."""
    words = np.array(WORDS)
    out = []
    days = rng.integers(0, 3650, n)
    cats = rng.integers(0, 64, n)
    vals = rng.normal(100.0, 25.0, n)
    qty = rng.integers(1, 10_000, n)
    nw = rng.integers(2, 9, n)
    widx = rng.integers(0, len(words), (n, 8))
    base = np.datetime64("2018-01-01")
    for i in range(n):
        day = base + np.timedelta64(int(days[i]), "D")
        text = " ".join(words[widx[i, : nw[i]]])
        out.append(f"{day},cat_{cats[i]:02d},{vals[i]:.4f},{qty[i]},\"{text}\"\n".encode())
    return out


def _csv_bytes(rng: np.random.Generator, pool: list[bytes], size: int, first_id: int) -> bytes:
    """~size bytes of CSV: header + rows '<id>,<pool line>' picked at random, cut to size."""
    parts = [b"id,date,category,value,qty,note\n"]
    have = len(parts[0])
    idx = rng.integers(0, len(pool), size // 40 + 16)
    k = 0
    rid = first_id
    while have < size:
        if k == len(idx):
            idx = rng.integers(0, len(pool), 1024)
            k = 0
        line = b"%d," % rid + pool[idx[k]]
        parts.append(line)
        have += len(line)
        rid += 1
        k += 1
    return b"".join(parts)[:size]


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


# ---- (a) 2,000 x 1 MiB ------------------------------------------------------------------

def gen_files(out: Path, scale: float, seed: int) -> Path:
    d = out / "files"
    count = max(2, round(FILES_COUNT * scale))
    params = dict(kind="files", count=count, size=FILES_SIZE, seed=seed)
    if _stamp_ok(d, params):
        print(f"[gen] {d}: up to date", file=sys.stderr)
        return d
    _fresh(d)
    t = time.time()
    pool = _csv_pool(rng_for(seed, 1, 0), 65_536)
    for i in range(count):
        sub = d / f"part{i // 100:03d}"
        if i % 100 == 0:
            sub.mkdir(exist_ok=True)
        rng = rng_for(seed, 1, 1, i)
        if i % 2 == 0:
            _write(sub / f"blob-{i:05d}.bin", rng.bytes(FILES_SIZE))
        else:
            _write(sub / f"rows-{i:05d}.csv", _csv_bytes(rng, pool, FILES_SIZE, i * 100_000))
    _stamp(d, params, files=count, bytes=count * FILES_SIZE)
    print(f"[gen] {d}: {count} files, {count * FILES_SIZE / MiB:.0f} MiB in {time.time() - t:.1f}s",
          file=sys.stderr)
    return d


# ---- (b) Parquet table v1 / v2 ---------------------------------------------------------

def _schema():
    import pyarrow as pa

    return pa.schema([
        ("id", pa.int64()),
        ("ts", pa.timestamp("ms")),
        ("category", pa.string()),
        ("value", pa.float64()),
        ("text", pa.string()),
    ])


class _TextPools:
    """Row text = fragment A, '#' + 16 hex chars, fragment B, 16 hex chars, fragment C, built vectorised."""

    def __init__(self, seed: int):
        import pyarrow as pa

        rng = rng_for(seed, 2, 0)
        words = np.array(WORDS)

        def frags(n, lo, hi):
            nw = rng.integers(lo, hi, n)
            idx = rng.integers(0, len(words), (n, hi))
            return pa.array([" ".join(words[idx[i, : nw[i]]]) for i in range(n)], pa.string())

        self.a = frags(16384, 4, 11)
        self.b = frags(16384, 4, 11)
        self.c = frags(16384, 4, 11)
        self.cats = pa.array([f"category_{i:02d}" for i in range(64)], pa.string())

    def text(self, rng: np.random.Generator, n: int):
        import pyarrow as pa
        import pyarrow.compute as pc

        fa = self.a.take(pa.array(rng.integers(0, len(self.a), n)))
        fb = self.b.take(pa.array(rng.integers(0, len(self.b), n)))
        fc = self.c.take(pa.array(rng.integers(0, len(self.c), n)))
        tok = rng.integers(0, 1 << 63, (n, 2), dtype=np.uint64)
        hexs = pa.array(np.char.mod("#%016x", tok[:, 0]).astype(object), pa.string())
        hex2 = pa.array(np.char.mod("%016x", tok[:, 1]).astype(object), pa.string())
        return pc.binary_join_element_wise(fa, hexs, fb, hex2, fc, " ")


def _rows(pools: _TextPools, rng: np.random.Generator, start: int, n: int):
    """n rows with ids start..start+n, drawn from rng."""
    import pyarrow as pa

    ids = np.arange(start, start + n, dtype=np.int64)
    t0 = np.int64(1_704_067_200_000)  # 2024-01-01T00:00:00Z in ms
    ts = t0 + ids * 1000 + rng.integers(0, 1000, n)
    cat = pools.cats.take(pa.array(rng.integers(0, len(pools.cats), n)))
    val = rng.normal(100.0, 25.0, n)
    return pa.table(
        [pa.array(ids), pa.array(ts.astype("datetime64[ms]")), cat, pa.array(val), pools.text(rng, n)],
        schema=_schema(),
    )


def _edit(pools: _TextPools, tbl, lo: int, hi: int, seed: int, block: int):
    """Rows lo..hi (indices within tbl) edited: new value and text, category kept."""
    import pyarrow as pa

    if lo >= hi:
        return tbl
    rng = rng_for(seed, 2, 3, block)
    n = hi - lo
    val = tbl.column("value").to_numpy().copy()
    val[lo:hi] = val[lo:hi] * 1.1 + rng.normal(0.0, 1.0, n)
    text = pa.concat_arrays([
        tbl.column("text").slice(0, lo).combine_chunks(),
        pools.text(rng, n),
        tbl.column("text").slice(hi).combine_chunks(),
    ])
    tbl = tbl.set_column(3, "value", pa.array(val))
    return tbl.set_column(4, "text", text)


def table_plan(rows: int, row_group_rows: int | None = None) -> dict:
    rg = row_group_rows or TABLE_ROW_GROUP_ROWS
    edit_n = max(1, round(rows * TABLE_EDIT_FRACTION))
    edit_lo = round(rows * TABLE_EDIT_START_FRACTION)
    append_n = max(1, round(rows * TABLE_APPEND_FRACTION))
    return dict(rows=rows, row_group_rows=rg, edit_lo=edit_lo, edit_hi=edit_lo + edit_n,
                append_rows=append_n, v2_rows=rows + append_n)


def write_table_versions(out, rows: int = TABLE_ROWS, seed: int = 1,
                         row_group_rows: int | None = None) -> dict:
    """Write out/v1.parquet and out/v2.parquet; return the plan (rows, edit block, sizes).

    Rows are generated one row group at a time (bounded memory), each group from its own
    random stream, so any row group can be recomputed alone. v2 = v1 with rows
    [edit_lo, edit_hi) given new `value` and `text`, plus append_rows new rows; written as
    if the whole v2 table went through the same writer with the same row-group size.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan = table_plan(rows, row_group_rows)
    rg = plan["row_group_rows"]
    pools = _TextPools(seed)
    w1 = pq.ParquetWriter(out / "v1.parquet.tmp", _schema(), **WRITER_OPTS)
    w2 = pq.ParquetWriter(out / "v2.parquet.tmp", _schema(), **WRITER_OPTS)
    tail = None
    for g, start in enumerate(range(0, rows, rg)):
        n = min(rg, rows - start)
        t = _rows(pools, rng_for(seed, 2, 1, g), start, n)
        w1.write_table(t, row_group_size=rg)
        lo = max(plan["edit_lo"], start) - start
        hi = min(plan["edit_hi"], start + n) - start
        t2 = _edit(pools, t, lo, hi, seed, g) if lo < hi else t
        if n == rg:
            w2.write_table(t2, row_group_size=rg)
        else:
            tail = t2
    app = _rows(pools, rng_for(seed, 2, 2), rows, plan["append_rows"])
    rest = pa.concat_tables([tail, app]) if tail is not None else app
    w2.write_table(rest, row_group_size=rg)
    w1.close()
    w2.close()
    os.replace(out / "v1.parquet.tmp", out / "v1.parquet")
    os.replace(out / "v2.parquet.tmp", out / "v2.parquet")
    plan["v1_bytes"] = (out / "v1.parquet").stat().st_size
    plan["v2_bytes"] = (out / "v2.parquet").stat().st_size
    plan["seed"] = seed
    plan["writer"] = {k: v for k, v in WRITER_OPTS.items()}
    plan["pyarrow"] = pa.__version__
    return plan


def gen_table(out: Path, scale: float, seed: int) -> Path:
    d = out / "table"
    rows = max(2000, round(TABLE_ROWS * scale))
    rg = max(1024, round(TABLE_ROW_GROUP_ROWS * scale / 1024) * 1024)
    params = dict(kind="table", rows=rows, row_group_rows=rg, seed=seed)
    if _stamp_ok(d, params):
        print(f"[gen] {d}: up to date", file=sys.stderr)
        return d
    _fresh(d)
    t = time.time()
    plan = write_table_versions(d, rows=rows, seed=seed, row_group_rows=rg)
    _stamp(d, params, **plan)
    print(f"[gen] {d}: v1 {rows} rows {plan['v1_bytes'] / MiB:.1f} MiB, "
          f"v2 {plan['v2_rows']} rows {plan['v2_bytes'] / MiB:.1f} MiB, "
          f"row groups of {rg} rows, in {time.time() - t:.1f}s", file=sys.stderr)
    return d


# ---- (c) 100,000 x ~4 KiB ---------------------------------------------------------------

def gen_small(out: Path, scale: float, seed: int) -> Path:
    d = out / "small"
    count = max(10, round(SMALL_COUNT * scale))
    params = dict(kind="small", count=count, size=SMALL_SIZE, seed=seed)
    if _stamp_ok(d, params):
        print(f"[gen] {d}: up to date", file=sys.stderr)
        return d
    _fresh(d)
    t = time.time()
    rng = rng_for(seed, 3, 0)
    # a 4 MiB text corpus; each file is a header line + a random 3-5 KiB window of it
    corpus = _csv_bytes(rng, _csv_pool(rng, 8192), 4 * MiB, 0)
    sizes = rng.integers(SMALL_SIZE - 1024, SMALL_SIZE + 1024, count)
    offs = rng.integers(0, len(corpus) - SMALL_SIZE - 1024, count)
    total = 0
    for i in range(count):
        leaf = d / f"d{i // 10_000:02d}" / f"d{(i // 100) % 100:02d}"
        if i % 100 == 0:
            leaf.mkdir(parents=True, exist_ok=True)
        head = b"# record %d seed %d\n" % (i, seed)
        body = corpus[offs[i]: offs[i] + sizes[i] - len(head)]
        _write(leaf / f"f{i:06d}.txt", head + body)
        total += len(head) + len(body)
    _stamp(d, params, files=count, bytes=total)
    print(f"[gen] {d}: {count} files, {total / MiB:.1f} MiB in {time.time() - t:.1f}s", file=sys.stderr)
    return d


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "work" / "data"),
                   help="output folder (default bench/work/data); datasets go to OUT/sS")
    p.add_argument("--scale", type=float, default=1.0, help="size factor (default 1 = full size)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--only", default="files,table,small", help="comma list of files,table,small")
    t = sub.add_parser("table", help="write just v1.parquet and v2.parquet into --out")
    t.add_argument("--rows", type=int, default=TABLE_ROWS)
    t.add_argument("--row-group-rows", type=int, default=TABLE_ROW_GROUP_ROWS)
    t.add_argument("--out", required=True)
    t.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    if a.cmd == "table":
        plan = write_table_versions(a.out, rows=a.rows, seed=a.seed, row_group_rows=a.row_group_rows)
        print(json.dumps(plan, indent=1))
        return 0
    out = Path(a.out) / f"s{a.scale:g}"
    out.mkdir(parents=True, exist_ok=True)
    gens = dict(files=gen_files, table=gen_table, small=gen_small)
    for name in a.only.split(","):
        gens[name.strip()](out, a.scale, a.seed)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
