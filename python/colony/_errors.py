"""The exceptions colony raises in Python.

Every one is a :class:`ColonyError` carrying the store's message and, where there is one,
the hint the ``colony`` command line prints after it (``str(e)`` shows both). Each also
derives from the built-in exception Python code already catches for that kind of failure:
a path that does not exist is a :class:`FileNotFoundError`, data that failed verification
an :class:`OSError` with ``errno.EIO`` (as the mount reports it), a bad path a
:class:`ValueError`.
"""

from __future__ import annotations

import errno
from typing import Optional


class ColonyError(Exception):
    """A failure reported by colony. ``message`` says what went wrong, ``hint`` (or None)
    what to do about it."""

    def __init__(self, message: str, hint: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


class _OSColonyError(ColonyError, OSError):
    """A ColonyError that is also an OSError with an errno (so ``e.errno`` works)."""

    errno_code = errno.EIO

    def __init__(self, message: str, hint: Optional[str] = None):
        # OSError(errno, strerror) fills e.errno and e.strerror; the message stays whole.
        OSError.__init__(self, self.errno_code, message)
        self.message = message
        self.hint = hint
        self.args = (message,)

    def __str__(self) -> str:
        return ColonyError.__str__(self)


class NotADataset(_OSColonyError, FileNotFoundError):
    """The folder (and every folder above it) holds no ``.colony``."""

    errno_code = errno.ENOENT


class RevisionNotFound(ColonyError, LookupError):
    """No branch, tag, pin, commit or snapshot root has this name."""


class PathNotFound(_OSColonyError, FileNotFoundError):
    """The path does not exist in the revision."""

    errno_code = errno.ENOENT


class IsAFolder(_OSColonyError, IsADirectoryError):
    """A file was asked for and the path is a folder."""

    errno_code = errno.EISDIR


class NotAFolder(_OSColonyError, NotADirectoryError):
    """A folder was asked for and the path is a file."""

    errno_code = errno.ENOTDIR


class InvalidPath(ColonyError, ValueError):
    """The path is not one colony accepts (``..``, absolute, control characters), or the
    revision holds one it refuses to serve."""


class CorruptData(_OSColonyError):
    """Stored bytes failed verification (a corrupt shard or chunk, or a file whose chunks
    do not hash to its recorded BLAKE3). No byte that failed was returned."""


class MissingData(_OSColonyError):
    """Bytes the revision needs are not in the store and no remote supplied them."""


class StoreBusy(_OSColonyError):
    """Another colony process held the store for writing for too long."""

    errno_code = errno.EBUSY


class ReadOnly(_OSColonyError, PermissionError):
    """Something tried to write: revisions are read-only from Python."""

    errno_code = errno.EROFS


_KINDS = {
    cls.__name__: cls
    for cls in (
        ColonyError,
        NotADataset,
        RevisionNotFound,
        PathNotFound,
        IsAFolder,
        NotAFolder,
        InvalidPath,
        CorruptData,
        MissingData,
        StoreBusy,
        ReadOnly,
    )
}

for _cls in _KINDS.values():
    _cls.__module__ = "colony"  # shown as colony.CorruptData in tracebacks


def make(kind: str, message: str, hint: Optional[str]) -> ColonyError:
    """The exception of class ``kind`` (called by the native module)."""
    return _KINDS.get(kind, ColonyError)(message, hint)
