"""PyTorch datasets over a revision, read in place through colony's verified reader.

    import colony, colony.torch
    snap = colony.open("/data/images").snapshot("v3")

    # map-style: one item per file under a folder (or per row of a table)
    ds = colony.torch.SnapshotDataset(snap, prefix="train/", transform=decode)
    rows = colony.torch.SnapshotDataset(snap, table="tables/labels.parquet")

    # iterable: the same items in an order that is a pure function of (seed, epoch),
    # split across DataLoader workers and distributed ranks, every item once per epoch
    stream = colony.torch.StreamingSnapshot(snap, prefix="train/", seed=7)
    for epoch in range(3):
        stream.set_epoch(epoch)
        for batch in torch.utils.data.DataLoader(stream, batch_size=32, num_workers=4): ...

Nothing is copied out of the store: each worker process opens the same commit itself
(see :class:`colony.Snapshot`) and reads only the bytes it needs, every chunk verified.

The order and the split are plain functions (:func:`epoch_order`, :func:`shard_of`) that
need no torch, so a run record can name them and anyone can recompute which item each
worker saw.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import torch
import torch.utils.data as tud

import colony

__all__ = ["SnapshotDataset", "StreamingSnapshot", "epoch_order", "shard_of"]


def epoch_order(n: int, seed: int, epoch: int) -> List[int]:
    """The order of items ``0..n`` in ``epoch``: a permutation that depends on ``seed``
    and ``epoch`` only (Python's Mersenne Twister, seeded with ``seed * 1_000_003 +
    epoch``; the same on every machine and Python version that keeps ``random.shuffle``)."""
    order = list(range(n))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order


def shard_of(order: Sequence[int], part: int, parts: int) -> List[int]:
    """The items of ``order`` that part ``part`` of ``parts`` reads: every ``parts``-th,
    from position ``part``. The parts are disjoint and together hold every item once."""
    if not 0 <= part < parts:
        raise ValueError(f"part {part} is not in 0..{parts}")
    return list(order[part::parts])


class _Items:
    """The items of a revision: files under a prefix, or rows of one table."""

    def __init__(self, snapshot: "colony.Snapshot", prefix: str, files: Optional[Sequence[str]],
                 table: Optional[str]):
        self.snapshot = snapshot
        self.table = table
        if table is not None:
            if files is not None:
                raise ValueError("give files or table, not both")
            self._rows = _TableRows(snapshot, table)
            self.files: List[str] = []
        else:
            if files is None:
                files = [e["path"] for e in snapshot.ls(prefix.strip("/"), recursive=True) if e["kind"] == "file"]
            self.files = sorted(files)
            self._rows = None

    def __len__(self) -> int:
        return len(self._rows) if self._rows is not None else len(self.files)

    def get(self, i: int) -> Any:
        if self._rows is not None:
            return self._rows.row(i)
        path = self.files[i]
        return path, self.snapshot.read_bytes(path)


class _TableRows:
    """Rows of a Parquet or CSV table of a revision. A Parquet table is read a row group
    at a time, on demand (the last one kept); a CSV table is read once."""

    def __init__(self, snapshot: "colony.Snapshot", path: str):
        self.snapshot = snapshot
        self.path = path
        self._group: Optional[int] = None
        self._rows: List[Dict[str, Any]] = []
        self._file = None
        if path.endswith(".parquet"):
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(snapshot.open(path)).metadata
            self._starts = [0]
            for g in range(meta.num_row_groups):
                self._starts.append(self._starts[-1] + meta.row_group(g).num_rows)
            self._csv = None
        elif path.endswith(".csv"):
            import pyarrow.csv as pacsv

            self._csv = pacsv.read_csv(snapshot.open(path)).to_pylist()
            self._starts = [0, len(self._csv)]
        else:
            raise ValueError(f"`{path}`: tables are .parquet or .csv files")

    def __len__(self) -> int:
        return self._starts[-1]

    def row(self, i: int) -> Dict[str, Any]:
        if not 0 <= i < len(self):
            raise IndexError(f"row {i} of {len(self)}")
        if self._csv is not None:
            return self._csv[i]
        import bisect

        import pyarrow.parquet as pq

        g = bisect.bisect_right(self._starts, i) - 1
        if g != self._group:
            if self._file is None or self._file[0] != id(self.snapshot._native):
                self._file = (id(self.snapshot._native), pq.ParquetFile(self.snapshot.open(self.path)))
            self._rows = self._file[1].read_row_group(g).to_pylist()
            self._group = g
        return self._rows[i - self._starts[g]]

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_file"] = None
        return state


class SnapshotDataset(tud.Dataset):
    """Map-style dataset over a revision. Items are ``(path, bytes)`` for each file under
    ``prefix`` (or the listed ``files``), in path order; with ``table``, the rows of that
    Parquet or CSV table as dicts. ``transform`` is applied to each item."""

    def __init__(self, snapshot: "colony.Snapshot", prefix: str = "", files: Optional[Sequence[str]] = None,
                 table: Optional[str] = None, transform: Optional[Callable[[Any], Any]] = None):
        self.items = _Items(snapshot, prefix, files, table)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Any:
        if i < 0:
            i += len(self)
        item = self.items.get(i)
        return self.transform(item) if self.transform else item


class StreamingSnapshot(tud.IterableDataset):
    """Iterable dataset over a revision: the items of :class:`SnapshotDataset`, each epoch
    in the order :func:`epoch_order` gives for ``seed``, split with :func:`shard_of`
    across ``world_size`` ranks (default: ``torch.distributed``'s, when initialised) and
    each rank's DataLoader workers. Every item is seen exactly once per epoch."""

    def __init__(self, snapshot: "colony.Snapshot", prefix: str = "", files: Optional[Sequence[str]] = None,
                 table: Optional[str] = None, transform: Optional[Callable[[Any], Any]] = None, seed: int = 0,
                 rank: Optional[int] = None, world_size: Optional[int] = None):
        self.items = _Items(snapshot, prefix, files, table)
        self.transform = transform
        self.seed = seed
        self.epoch = 0
        if (rank is None) != (world_size is None):
            raise ValueError("give both rank and world_size, or neither")
        self.rank = rank
        self.world_size = world_size

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next iteration reads (its order differs per epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def _part(self) -> tuple:
        rank, world = self.rank, self.world_size
        if rank is None:
            dist = torch.distributed
            if dist.is_available() and dist.is_initialized():
                rank, world = dist.get_rank(), dist.get_world_size()
            else:
                rank, world = 0, 1
        info = tud.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return rank * workers + worker, world * workers

    def order(self) -> List[int]:
        """The items this process (rank and worker) reads this epoch, in order."""
        part, parts = self._part()
        return shard_of(epoch_order(len(self.items), self.seed, self.epoch), part, parts)

    def __iter__(self) -> Iterator[Any]:
        for i in self.order():
            item = self.items.get(i)
            yield self.transform(item) if self.transform else item
