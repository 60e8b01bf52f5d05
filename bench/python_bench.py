#!/usr/bin/env python3
"""The Python package against reading the checked-out files (issue 16).

On the read benchmark's dataset (read_bench.py: the ~1 GiB Parquet table and the 2 GiB
files dataset, committed into one colony dataset; made if missing):

  table        the whole table read by pandas.read_parquet and pyarrow.parquet.read_table:
               from the checked-out file vs from `colony://COMMIT/table.parquet` (the
               revision by its commit id, as a run pins it)
  dataloader   one epoch of a torch DataLoader (2 workers, batch_size=None) yielding every
               file's bytes: StreamingSnapshot over the revision vs the same order over the
               plain folder of the checked-out files (needs torch)

Every figure is the best of --repeat runs, warm page cache. Run it with the Python whose
`colony` package is the one to measure (`pip install ./python` builds the release
profile):

    python3 bench/python_bench.py --colony target/release/colony
    ~/.cache/colony/torch-venv/bin/python bench/python_bench.py --colony ...  # with torch

Prints Markdown; writes bench/work/python-bench-latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import read_bench  # noqa: E402

import colony  # noqa: E402


best = read_bench.best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--colony", default=os.environ.get("COLONY_BIN", "colony"))
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args(argv)
    work = BENCH / "work"
    work.mkdir(exist_ok=True)
    ds, _ = read_bench.make_dataset(a.colony, work, a.scale, a.seed)
    snap = colony.open(ds).snapshot("main")
    commit = snap.commit
    table = ds / "table.parquet"
    url = f"colony://{commit}/table.parquet"
    opts = {"dataset": str(ds)}
    R = {"scale": a.scale, "repeat": a.repeat, "table_bytes": table.stat().st_size,
         "colony_package": colony.__file__, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    import pandas as pd
    import pyarrow.parquet as pq

    rows = {}
    rows["pandas.read_parquet"] = (best(a.repeat, lambda: pd.read_parquet(table)),
                                  best(a.repeat, lambda: pd.read_parquet(url, storage_options=opts)))
    rows["pyarrow read_table"] = (best(a.repeat, lambda: pq.read_table(table)),
                                 best(a.repeat, lambda: pq.read_table(snap.open("table.parquet"))))
    R["table_s"] = rows

    files = sorted(e["path"] for e in snap.ls("files", recursive=True) if e["kind"] == "file")
    R["files"] = len(files)
    try:
        import torch  # noqa: F401
        from torch.utils.data import DataLoader, IterableDataset, get_worker_info

        import colony.torch as ct
    except ImportError:
        R["dataloader"] = "torch not installed"
    else:
        class Folder(IterableDataset):
            """The same order and split as StreamingSnapshot, over the checked-out files."""

            def __iter__(self):
                info = get_worker_info()
                part, parts = (info.id, info.num_workers) if info else (0, 1)
                for i in ct.shard_of(ct.epoch_order(len(files), 0, 0), part, parts):
                    with open(ds / files[i], "rb") as f:
                        yield files[i], f.read()

        def epoch(dataset):
            n = 0
            for _path, data in DataLoader(dataset, batch_size=None, num_workers=2):
                n += len(data)
            return n

        stream = ct.StreamingSnapshot(snap, prefix="files", seed=0)
        R["dataloader_bytes"] = epoch(Folder())
        assert epoch(stream) == R["dataloader_bytes"]
        R["dataloader_s"] = (best(a.repeat, lambda: epoch(Folder())), best(a.repeat, lambda: epoch(stream)))

    out = [f"# Python package benchmark (scale {a.scale}, best of {a.repeat}, {R['time']})", "",
           f"colony package: `{R['colony_package']}`", "",
           f"## The {R['table_bytes'] / 2**20:.0f} MiB Parquet table, whole", "",
           "| reader | checked-out file s | colony:// s | × checkout |", "|---|---|---|---|"]
    for name, (local, ours) in rows.items():
        out.append(f"| {name} | {local:.3f} | {ours:.3f} | {local / ours:.2f} |")
    if "dataloader_s" in R:
        local, ours = R["dataloader_s"]
        mib = R["dataloader_bytes"] / 2**20
        out += ["", f"## DataLoader epoch: {len(files)} files, {mib:.0f} MiB, 2 workers", "",
                "| source | s | MiB/s | × folder |", "|---|---|---|---|",
                f"| plain folder (checkout) | {local:.3f} | {mib / local:.0f} | 1.00 |",
                f"| StreamingSnapshot | {ours:.3f} | {mib / ours:.0f} | {local / ours:.2f} |"]
    else:
        out += ["", f"DataLoader: {R['dataloader']}"]
    text = "\n".join(out) + "\n"
    print(text)
    (work / "python-bench-latest.json").write_text(json.dumps(R, indent=1))
    (work / "python-bench-latest.md").write_text(text)


if __name__ == "__main__":
    main()
