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

import io
import os
import random
import struct
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import torch
import torch.utils.data as tud

import colony

__all__ = ["SnapshotDataset", "StreamingSnapshot", "Recorder", "seed", "epoch_order", "shard_of"]


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

    def describe(self) -> Dict[str, Any]:
        """What the items are: the commit and the table, or the files (count and a
        BLAKE3 over their paths and hashes)."""
        out: Dict[str, Any] = {"commit": self.snapshot.commit, "items": len(self)}
        if self.table is not None:
            out["table"] = self.table
        else:
            from colony.record import state_hash

            out["files"] = state_hash(
                f"{p}\0{self.snapshot.stat(p)['hash']}\n".encode() for p in self.files)
        return out

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

    def describe(self) -> Dict[str, Any]:
        """What the items are, for a run record (the order is the sampler's)."""
        return self.items.describe()

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

    def describe(self) -> Dict[str, Any]:
        """How this stream orders its items, for a run record."""
        return dict(self.items.describe(), order="colony.torch.epoch_order v1", seed=self.seed,
                    split="colony.torch.shard_of")

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


# -- recording PyTorch runs ------------------------------------------------------------


def seed(value: Optional[int] = None) -> int:
    """Seeds PyTorch's and Python's generators with ``value`` (default ``$COLONY_SEED``,
    else 0) and returns it. Call it before building the model: the initial weights are
    part of the recorded state."""
    if value is None:
        value = int(os.environ.get("COLONY_SEED", "0"))
    torch.manual_seed(value)
    random.seed(value)
    return value


#: dtypes numpy holds as they are (bytes, row-major, straight from ``.numpy()``).
_NUMPY_DTYPES = {torch.float32, torch.float64, torch.float16, torch.int64, torch.int32, torch.int16,
                 torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128}


def _tensor_bytes(t: "torch.Tensor") -> bytes:
    """The raw little-endian bytes of ``t``'s values in its dtype, row-major."""
    t = t.detach()
    if t.device.type == "cpu" and t.dtype in _NUMPY_DTYPES:
        return t.numpy().tobytes()  # one copy, in C order whatever t's strides
    t = t.to("cpu").contiguous()
    return t.reshape(-1).view(torch.uint8).numpy().tobytes()


def _state_pieces(model: "torch.nn.Module", optimizer: "torch.optim.Optimizer", step: int):
    """The state bytes of ``colony-torch-state v1``, in order: every tensor of
    ``model.state_dict()`` (parameters and buffers, in its order; raw little-endian bytes
    of its dtype, row-major), then the optimizer's per-parameter state by parameter index
    and by name (tensors as their bytes, numbers as float64), then u64le(step)."""
    for t in model.state_dict().values():
        yield _tensor_bytes(t)
    # optimizer.state_dict() numbers parameters in param_groups order; walking the groups
    # gives the same order without building that dict after every step.
    for group in optimizer.param_groups:
        for p in group["params"]:
            st = optimizer.state.get(p)
            if not st:
                continue
            for name in sorted(st):
                v = st[name]
                yield _tensor_bytes(v) if isinstance(v, torch.Tensor) else struct.pack("<d", float(v))
    yield struct.pack("<Q", step)


class Recorder:
    """Records a PyTorch run like the built-in trainer records its runs.

        colony.torch.seed()                                  # before building the model
        model, opt = build(), torch.optim.AdamW(...)
        rec = colony.torch.Recorder(model, opt, every=50, data=stream)
        for step in rec.steps(1000):                         # the batch must follow from step
            loss = train_step(model, opt, batch_for(step))
            rec.step(loss.item())                            # after optimizer.step()
        rec.finish()                                         # the run record on refs/runs/

    After each step it adds a link to the hash chain over the state (parameters and
    buffers, optimizer state, step count: ``colony-torch-state v1``), every ``every`` steps
    stores a checkpoint (``torch.save`` of model, optimizer and RNG state: each tensor's
    bytes are chunked by content, so unchanged tensors are stored once), and at the end
    writes the record bound to the snapshot (``snapshot``, default :func:`colony.from_env`),
    the script's BLAKE3, the seed and ``data``'s order. Under ``colony run verify`` it
    restores the checkpoint before the first step asked for, re-executes and compares each
    link, and stops at the first that differs.
    """

    def __init__(self, model: "torch.nn.Module", optimizer: "torch.optim.Optimizer", every: int = 100,
                 seed: Optional[int] = None, snapshot: Optional["colony.Snapshot"] = None,
                 data: Any = None, command: Optional[List[str]] = None):
        from colony.record import RunSession

        self.model, self.optimizer = model, optimizer
        if seed is None:
            seed = int(os.environ.get("COLONY_SEED", "0"))
        if snapshot is None:
            snapshot = colony.from_env()
        device = next((p.device.type for p in model.parameters()), "cpu")
        describe = getattr(data, "describe", None)
        info = {
            "torch_version": torch.__version__,
            "threads": torch.get_num_threads(),
            "deterministic": torch.are_deterministic_algorithms_enabled(),
            "device": device,
            "data_order": describe() if callable(describe) else {"described": False},
        }
        self.session = RunSession(
            snapshot,
            state=lambda step: _state_pieces(model, optimizer, step),
            weights=lambda: (_tensor_bytes(p) for p in model.parameters()),
            checkpoint=self._checkpoint,
            restore=self._restore,
            every=every, seed=seed, info=info, command=command,
            trainer={"name": "colony.torch", "version": colony.__version__, "backend": f"pytorch {torch.__version__}"},
        )

    @property
    def verifying(self) -> bool:
        """Whether this process re-executes a recorded run (``colony run verify``)."""
        return self.session.verify is not None

    def steps(self, total: int) -> Iterator[int]:
        """The step numbers to run (see :meth:`colony.record.RunSession.steps`)."""
        return self.session.steps(total)

    def step(self, loss: float) -> None:
        """Records the state after ``optimizer.step()``, with the step's loss."""
        self.session.step(loss)

    def finish(self) -> Optional[Dict[str, str]]:
        """Writes the run record; returns ``{"id", "commit", "record_hash"}`` (None when
        verifying)."""
        return self.session.finish()

    def _checkpoint(self, step: int) -> bytes:
        buf = io.BytesIO()
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "step": step, "torch_rng": torch.get_rng_state()}, buf)
        return buf.getvalue()

    def _restore(self, data: bytes) -> None:
        # weights_only: a checkpoint comes from a store; it must not be able to run code.
        ck = torch.load(io.BytesIO(data), weights_only=True)
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["torch_rng"])
