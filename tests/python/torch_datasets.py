"""PyTorch over a revision: a DataLoader with 2 worker processes over StreamingSnapshot
sees every item exactly once per epoch, in the same order for the same seed, a different
one for another epoch; SnapshotDataset gives files and table rows as a checkout does.

    python3 torch_datasets.py DATASET EXPECTED_DIR REV
"""
import os
import pickle
import sys

import pandas as pd
import torch
from torch.utils.data import DataLoader

import colony
import colony.torch as ct

ds_path, expected, rev = sys.argv[1:4]
snap = colony.open(ds_path).snapshot(rev)
files = sorted(
    os.path.relpath(os.path.join(d, f), expected).replace(os.sep, "/")
    for d, _, fs in os.walk(expected) for f in fs if f.startswith("item")
)
assert len(files) == 40, files


def ident(item):
    path, data = item
    want = open(os.path.join(expected, path), "rb").read()
    assert data == want, path  # verified bytes, equal to the checkout
    return path


def epoch(seed, n, workers=2):
    stream = ct.StreamingSnapshot(snap, prefix="items", seed=seed, transform=ident)
    stream.set_epoch(n)
    loader = DataLoader(stream, batch_size=None, num_workers=workers, multiprocessing_context="fork")
    return list(loader)



def main():
    a = epoch(7, 0)
    assert sorted(a) == files, "every item exactly once"
    assert len(set(a)) == len(a)
    assert epoch(7, 0) == a, "the same order for the same seed and epoch"
    b = epoch(7, 1)
    assert sorted(b) == files and b != a, "another epoch, another order"
    assert epoch(8, 0) != a
    # The order is the documented function of seed and epoch: workers take turns over it.
    order = [files[i] for i in ct.epoch_order(len(files), 7, 0)]
    w0, w1 = ct.shard_of(order, 0, 2), ct.shard_of(order, 1, 2)
    assert sorted(a) == sorted(w0 + w1) and set(w0).isdisjoint(w1)
    assert a[0::2] == w0 and a[1::2] == w1, "the DataLoader interleaves its two workers"
    # Spawned workers get the snapshot by pickling and reopen the same commit.
    stream = ct.StreamingSnapshot(snap, prefix="items", seed=7, transform=ident)
    got = list(DataLoader(stream, batch_size=None, num_workers=2, multiprocessing_context="spawn"))
    assert got == a, "spawned workers read the same items in the same order"
    assert pickle.loads(pickle.dumps(snap)).read_bytes(files[0]) == open(os.path.join(expected, files[0]), "rb").read()
    # Ranks split the items too: rank r of 2, each with 2 workers.
    ranks = []
    for r in range(2):
        s = ct.StreamingSnapshot(snap, prefix="items", seed=7, transform=ident, rank=r, world_size=2)
        ranks.append(list(DataLoader(s, batch_size=None, num_workers=2, multiprocessing_context="fork")))
    assert sorted(ranks[0] + ranks[1]) == files and set(ranks[0]).isdisjoint(ranks[1])

    # Map-style: files, and rows of a Parquet table read a row group at a time.
    m = ct.SnapshotDataset(snap, prefix="items")
    assert len(m) == 40 and m[3][0] == files[3]
    rows = ct.SnapshotDataset(snap, table="tables/points.parquet")
    want = pd.read_parquet(os.path.join(expected, "tables/points.parquet"))
    assert len(rows) == len(want)
    for i in (0, 6999, 7000, 29999, 12345, -1):
        assert rows[i] == want.iloc[i].to_dict(), i
    batches = list(DataLoader(rows, batch_size=1000, num_workers=2, multiprocessing_context="fork"))
    assert torch.equal(torch.cat([b["id"] for b in batches]), torch.tensor(want["id"].values))
    print("torch ok", len(a), len(rows))


if __name__ == "__main__":  # spawned workers import this file
    main()
