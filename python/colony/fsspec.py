"""``colony://`` for fsspec: pandas, pyarrow, polars and Hugging Face ``datasets`` read any
revision of a dataset in place.

The URL form is the one colony's HTTP gateway and S3 API use, a revision and a path::

    colony://REV/PATH

``REV`` is a branch, tag, pin, commit id or snapshot root (a name holding ``/``, such as
the branch ``team/cleanup``, is written with ``%2F``: ``colony://team%2Fcleanup/x.csv``).
The dataset is, first found: the ``dataset`` storage option, the ``COLONY_DATASET``
environment variable, or the dataset around the current folder::

    pd.read_parquet("colony://v1/tables/penguins.parquet", storage_options={"dataset": "/data/penguins"})
    pl.read_csv(fsspec.open("colony://main/labels.csv", dataset="/data/penguins").open())
    datasets.load_dataset("parquet", data_files="colony://v1/tables/*.parquet",
                          storage_options={"dataset": "/data/penguins"})

``colony://`` alone lists the branches and tags as folders. Everything is read-only:
writing raises :class:`colony.ReadOnly`. Bytes are verified as they are read (see
:mod:`colony`); nothing is downloaded or copied to a temporary folder first.

fsspec finds this class through the ``fsspec.specs`` entry point the package installs.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import quote, unquote

from fsspec.spec import AbstractFileSystem

import colony
from colony._errors import NotAFolder, PathNotFound, ReadOnly

__all__ = ["ColonyFileSystem"]


class ColonyFileSystem(AbstractFileSystem):
    """Read-only fsspec filesystem over the revisions of one colony dataset."""

    protocol = "colony"
    root_marker = ""

    def __init__(self, dataset: Optional[str] = None, cache_bytes: Optional[int] = None, **kwargs: Any):
        super().__init__(**kwargs)
        where = dataset or os.environ.get("COLONY_DATASET") or "."
        self.dataset = colony.open(where)
        self._cache_bytes = cache_bytes
        self._snapshots: Dict[str, colony.Snapshot] = {}
        self._lock = threading.Lock()

    # -- naming ------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        if path.startswith("colony://"):
            path = path[len("colony://") :]
        return path.strip("/")

    @staticmethod
    def _get_kwargs_from_urls(path):
        return {}

    @staticmethod
    def split(path: str) -> Tuple[str, str]:
        """``(REV, PATH)`` of a stripped ``REV/PATH`` (``REV`` percent-decoded)."""
        rev, _, rest = path.partition("/")
        return unquote(rev), rest.strip("/")

    def _join(self, rev: str, path: str) -> str:
        r = quote(rev, safe="")
        return f"{r}/{path}" if path else r

    def snapshot(self, rev: str) -> colony.Snapshot:
        """Revision ``rev``, opened once per filesystem and shared by every file."""
        with self._lock:
            snap = self._snapshots.get(rev)
            if snap is None:
                snap = self.dataset.snapshot(rev, cache_bytes=self._cache_bytes)
                self._snapshots[rev] = snap
            return snap

    # -- reading -----------------------------------------------------------------------

    def _entry(self, rev: str, e: Dict[str, Any]) -> Dict[str, Any]:
        kind = e["kind"]
        return {
            "name": self._join(rev, e["path"]),
            "size": e["size"],
            "type": "directory" if kind == "dir" else "file",
            "blake3": e.get("hash"),
            "mode": e.get("mode"),
            "islink": kind == "symlink",
            "destination": e.get("target"),
        }

    def _revisions(self) -> List[Dict[str, Any]]:
        seen = set()
        out = []
        for r in self.dataset.branches() + self.dataset.tags():
            if r["name"] not in seen:
                seen.add(r["name"])
                out.append({"name": self._join(r["name"], ""), "size": 0, "type": "directory", "commit": r["commit"]})
        return out

    def ls(self, path, detail=True, **kwargs):
        path = self._strip_protocol(path)
        if not path:
            entries = self._revisions()
        else:
            rev, inner = self.split(path)
            snap = self.snapshot(rev)
            try:
                entries = [self._entry(rev, e) for e in snap.ls(inner)]
            except NotAFolder:
                entries = [self.info(path)]
        return entries if detail else [e["name"] for e in entries]

    def info(self, path, **kwargs):
        path = self._strip_protocol(path)
        if not path:
            return {"name": "", "size": 0, "type": "directory"}
        rev, inner = self.split(path)
        snap = self.snapshot(rev)
        return self._entry(rev, snap.stat(inner))

    def exists(self, path, **kwargs):
        try:
            self.info(path)
            return True
        except (FileNotFoundError, NotAFolder, LookupError):
            return False

    def find(self, path, maxdepth=None, withdirs=False, detail=False, **kwargs):
        path = self._strip_protocol(path)
        if maxdepth is not None or withdirs or not path:
            return super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail, **kwargs)
        rev, inner = self.split(path)
        snap = self.snapshot(rev)
        try:
            found = {self._join(rev, e["path"]): self._entry(rev, e) for e in snap.ls(inner, recursive=True)}
        except NotAFolder:
            found = {path: self.info(path)}
        except PathNotFound:
            found = {}
        return found if detail else sorted(found)

    def ukey(self, path):
        """The file's BLAKE3: the same bytes have the same key in every revision."""
        return self.info(path).get("blake3") or super().ukey(path)

    def checksum(self, path):
        return int(self.ukey(path)[:16], 16)

    def cat_file(self, path, start=None, end=None, **kwargs):
        path = self._strip_protocol(path)
        rev, inner = self.split(path)
        snap = self.snapshot(rev)
        if start is None and end is None:
            return snap.read_bytes(inner)
        size = snap.stat(inner)["size"]
        start = 0 if start is None else (start + size if start < 0 else start)
        end = size if end is None else (end + size if end < 0 else min(end, size))
        if start >= end:
            return b""
        return snap.read_range(inner, start, end - start)

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, **kwargs):
        path = self._strip_protocol(path)
        if "r" not in mode or any(c in mode for c in "wax+"):
            raise ReadOnly(
                f"cannot open colony://{path} with mode {mode!r}: revisions are read-only",
                "commit changes with the colony command line (`colony add`, `colony commit`)",
            )
        rev, inner = self.split(path)
        buffering = -1 if block_size is None else int(block_size)
        return self.snapshot(rev).open(inner, "rb", buffering=buffering)

    # -- writing: refused --------------------------------------------------------------

    def _refuse(self, path, *args, **kwargs):
        raise ReadOnly(
            f"cannot change colony://{self._strip_protocol(path)}: revisions are read-only",
            "commit changes with the colony command line (`colony add`, `colony commit`)",
        )

    mkdir = makedirs = rmdir = rm_file = _rm = rm = touch = _refuse
    pipe_file = put_file = mv = _refuse

    def cp_file(self, path1, path2, **kwargs):
        self._refuse(path2)
