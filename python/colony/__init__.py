"""colony in Python: read any revision of a dataset where it lies.

    import colony
    ds = colony.open("/data/penguins")          # the folder holding .colony, or one inside it
    ds.log()                                     # [{"commit", "message", "root", ...}, ...]
    snap = ds.snapshot("v1")                     # branch, tag, pin, commit id or snapshot root
    snap.ls("tables")                            # [{"path", "kind", "size", "hash", ...}, ...]
    with snap.open("tables/penguins.parquet") as f:
        f.seek(-8, 2); f.read(8)                 # random access; nothing is copied out
    snap.read_bytes("README.md")

Every byte comes through colony's verified reader: each chunk under a read is checked
against its BLAKE3 before a byte of it is returned, and each file's chunk list is proven
once against the file hash the snapshot root commits to. A failure raises
:class:`CorruptData` naming the shard and the file; no wrong byte is ever returned.

``colony://REV/PATH`` URLs work in pandas, pyarrow, polars and Hugging Face ``datasets``
through fsspec (see :mod:`colony.fsspec`). Revisions are read-only.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any, Dict, List, Optional, Union

from ._errors import (
    ColonyError,
    CorruptData,
    InvalidPath,
    IsAFolder,
    MissingData,
    NotADataset,
    NotAFolder,
    PathNotFound,
    ReadOnly,
    RevisionNotFound,
    StoreBusy,
)
from . import _native

__version__ = _native.__version__

__all__ = [
    "open",
    "from_env",
    "Dataset",
    "Snapshot",
    "SnapshotFile",
    "ColonyError",
    "CorruptData",
    "InvalidPath",
    "IsAFolder",
    "MissingData",
    "NotADataset",
    "NotAFolder",
    "PathNotFound",
    "ReadOnly",
    "RevisionNotFound",
    "StoreBusy",
]

PathLike = Union[str, "os.PathLike[str]"]

#: Bytes the buffered file objects of :meth:`Snapshot.open` read at a time.
DEFAULT_BUFFER = 1 << 20


def open(path: PathLike = ".") -> "Dataset":  # noqa: A001 - the package's front door
    """The dataset at ``path``, or at the nearest folder above it that holds ``.colony``.

    Raises :class:`NotADataset` when there is none.
    """
    return Dataset(path)


def from_env() -> "Snapshot":
    """The snapshot a ``colony train REV --exec`` run was given.

    Reads ``COLONY_DATASET`` (the dataset's folder) and ``COLONY_COMMIT`` (the pinned
    commit), which ``colony train --exec`` sets for the command it runs. Outside such a
    run, set them yourself (``COLONY_COMMIT`` may be any revision name).
    """
    dataset = os.environ.get("COLONY_DATASET")
    rev = os.environ.get("COLONY_COMMIT")
    if not dataset or not rev:
        raise ColonyError(
            "COLONY_DATASET and COLONY_COMMIT are not set: this process was not started by `colony train --exec`",
            "run it as `colony train REV --exec \"python3 SCRIPT\"`, or set both variables",
        )
    return open(dataset).snapshot(rev)


class Dataset:
    """A colony dataset: its history, its names, and its revisions opened in place."""

    def __init__(self, path: PathLike = "."):
        self._native = _native.Dataset(os.fspath(path))

    @property
    def root(self) -> str:
        """The dataset's folder (the one holding ``.colony``)."""
        return os.fspath(self._native.root)

    def log(self, rev: Optional[str] = None, max_count: Optional[int] = None) -> List[Dict[str, Any]]:
        """Commits reachable from ``rev`` (default HEAD), newest first: ``commit``,
        ``parents``, ``author``, ``email``, ``time``, ``message``, ``root`` (the snapshot
        root the commit records), as ``colony log --json`` prints them."""
        return json.loads(self._native.log_json(rev, max_count))

    def branches(self) -> List[Dict[str, Any]]:
        """Branches: ``name``, ``commit``, ``current`` (whether HEAD is on it)."""
        return json.loads(self._native.refs_json("branch"))

    def tags(self) -> List[Dict[str, Any]]:
        """Tags: ``name``, ``commit``."""
        return json.loads(self._native.refs_json("tag"))

    def pins(self) -> List[Dict[str, Any]]:
        """Pins (revisions kept from ``gc``): ``name``, ``commit``."""
        return json.loads(self._native.refs_json("pin"))

    def snapshot(self, rev: str = "HEAD", *, cache_bytes: Optional[int] = None, offline: bool = False) -> "Snapshot":
        """Revision ``rev`` opened for reading in place: a branch, tag, pin, commit id or
        snapshot root. While it is open, ``gc`` keeps its data. ``cache_bytes`` bounds
        the verified chunks kept in memory (default 64 MiB); ``offline`` refuses to read
        through to remotes in a sparse clone."""
        return Snapshot(self._native.snapshot(rev, cache_bytes, offline), self.root, cache_bytes, offline)

    def __repr__(self) -> str:
        return f"colony.Dataset({self.root!r})"


class Snapshot:
    """One revision, read in place. Safe to share between threads; reads release the GIL.

    Safe to hand to other processes too: pickled (``spawn``) or inherited (``fork``, as
    DataLoader workers are), it reopens the same commit in the new process on first use,
    with its own cache and lease.
    """

    def __init__(self, native: "_native.Snapshot", dataset_root: str, cache_bytes: Optional[int] = None,
                 offline: bool = False):
        self._opened = native
        self._pid = os.getpid()
        self._dataset_root = dataset_root
        self._revision = native.revision
        self._commit = native.commit
        self._options = (cache_bytes, offline)

    @property
    def _native(self) -> "_native.Snapshot":
        # A reader's background threads do not survive fork: a child opens its own.
        if self._opened is None or self._pid != os.getpid():
            self._opened = _native.Dataset(self._dataset_root).snapshot(self._commit, *self._options)
            self._pid = os.getpid()
        return self._opened

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_opened"] = None
        return state

    @property
    def dataset_root(self) -> str:
        """The folder of the dataset this revision belongs to."""
        return self._dataset_root

    @property
    def revision(self) -> str:
        """The revision as it was named when opened."""
        return self._revision

    @property
    def commit(self) -> str:
        """The commit id."""
        return self._commit

    @property
    def root(self) -> str:
        """The snapshot root: one BLAKE3 over the whole tree, recomputed from the files
        (the value a DAO anchors and a trainer pins)."""
        return self._native.root

    def ls(self, prefix: str = "", recursive: bool = False) -> List[Dict[str, Any]]:
        """The folder ``prefix`` (``""``: the top): its children, or with ``recursive``
        every file beneath it. Each entry: ``path``, ``kind`` (file, dir, symlink),
        ``size``, ``hash`` (BLAKE3), ``mode``, ``target``."""
        return json.loads(self._native.list_json(prefix, recursive))

    def stat(self, path: str) -> Dict[str, Any]:
        """What ``path`` is: ``path``, ``kind``, ``size``, ``hash``, ``mode``, ``target``."""
        return json.loads(self._native.stat_json(path))

    def exists(self, path: str) -> bool:
        """Whether ``path`` is a file, folder or symlink of this revision."""
        try:
            self._native.stat_json(path)
            return True
        except (PathNotFound, NotAFolder):
            return False

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes of ``path`` from ``offset`` (fewer only at the end of the
        file), verified."""
        if offset < 0 or length < 0:
            raise ValueError("offset and length must not be negative")
        return self._native.read(path, offset, length)

    def read_bytes(self, path: str) -> bytes:
        """The whole file, verified chunk by chunk (its chunk list proven once against the
        file's BLAKE3, as for every read)."""
        return self._native.read_all(path)

    def open(self, path: str, mode: str = "rb", buffering: int = -1) -> Union["SnapshotFile", io.BufferedReader]:
        """A read-only, seekable binary file object over ``path`` (``read``, ``readinto``,
        ``seek``, ``tell``). ``buffering=0`` gives the unbuffered :class:`SnapshotFile`;
        the default wraps it in an :class:`io.BufferedReader` of :data:`DEFAULT_BUFFER`
        bytes. Any mode that writes raises :class:`ReadOnly`."""
        if mode not in ("rb", "r"):
            if any(c in mode for c in "wax+"):
                raise ReadOnly(
                    f"cannot open `{path}` with mode {mode!r}: revision {self.revision} is read-only",
                    "commit changes with the colony command line (`colony add`, `colony commit`)",
                )
            raise ValueError(f"unsupported mode {mode!r}: open in 'rb'")
        raw = SnapshotFile(self, path)
        if buffering == 0:
            return raw
        return io.BufferedReader(raw, buffer_size=DEFAULT_BUFFER if buffering < 0 else max(buffering, 1))

    def cache_stats(self) -> Dict[str, int]:
        """The reader's chunk cache: ``capacity``, ``bytes``, ``hits``, ``misses``, ..."""
        return json.loads(self._native.cache_stats_json())

    def __repr__(self) -> str:
        return f"colony.Snapshot(revision={self.revision!r}, commit={self.commit!r})"


class SnapshotFile(io.RawIOBase):
    """An unbuffered, read-only, seekable view of one file of a :class:`Snapshot`.

    Every ``read`` goes through the verified reader; ``seek`` is free. ``name`` is the
    path in the revision, ``size`` its length in bytes, ``hash`` its BLAKE3.
    """

    def __init__(self, snapshot: Snapshot, path: str):
        super().__init__()
        info = snapshot.stat(path)
        if info["kind"] == "dir":
            raise IsAFolder(f"`{info['path']}` is a folder in {snapshot.revision}, not a file")
        self._snap = snapshot
        self.name = info["path"]
        self.size = int(info["size"])
        self.hash = info["hash"]
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence!r}")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def read(self, size: int = -1) -> bytes:
        self._check_open()
        if size is None or size < 0:
            size = max(self.size - self._pos, 0)
        if size == 0 or self._pos >= self.size:
            return b""
        data = self._snap._native.read(self.name, self._pos, size, self.size)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def write(self, *_args, **_kwargs):  # type: ignore[override]
        raise ReadOnly(f"`{self.name}` is read-only", None)

    def truncate(self, *_args, **_kwargs):  # type: ignore[override]
        raise ReadOnly(f"`{self.name}` is read-only", None)

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def __repr__(self) -> str:
        return f"<colony.SnapshotFile {self.name!r} size={self.size}>"
