"""Recording a training run step by step, framework-neutral.

A run's steps are bound together by the hash chain the built-in trainer uses::

    state hash  = BLAKE3(state bytes)            (what the bytes are: the framework adapter's)
    chain       : h_0 = BLAKE3([0; 32] || state hash after initialisation)
                  h_i = BLAKE3(h_{i-1} || state hash after step i)

:class:`RunSession` keeps the chain, stores a checkpoint every ``every`` steps (and of the
initial state) and at the end writes a run record on ``refs/runs/`` bound to the snapshot
trained on, the script (its BLAKE3), the seed and the data order. ``colony run list/show``
show it, push and fetch carry it, and ``colony run verify RUN --steps A..B`` re-runs the
script with ``COLONY_VERIFY`` set: the session then restores the checkpoint before ``A``,
re-executes up to ``B`` and reports the first step whose link differs.

The adapter (``colony.torch.Recorder`` for PyTorch) supplies four functions: the state as
byte pieces, the parameters alone as byte pieces, a checkpoint as bytes, and restoring one.
Anything that can give bytes (numpy arrays, say) can be recorded the same way.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional

import colony
from colony import _native
from colony._errors import ColonyError

__all__ = ["RunSession", "state_hash", "chain_link", "STATE_FORMAT", "VerifyFailed"]

#: The state-bytes definition PyTorch runs are recorded under (see colony.torch).
STATE_FORMAT = "colony-torch-state v1"
FORMAT = "colony-run v1"


def _as_bytes(piece: Any) -> bytes:
    if isinstance(piece, bytes):
        return piece
    return memoryview(piece).cast("B").tobytes()


def state_hash(pieces: Iterable[Any]) -> str:
    """BLAKE3 (hex) of the concatenated byte pieces (bytes or any contiguous buffer)."""
    return _native.state_hash([_as_bytes(p) for p in pieces])


def chain_link(prev: Optional[str], state: str) -> str:
    """The next link: BLAKE3(prev || state); ``prev=None`` for the first (32 zero bytes)."""
    return _native.chain_link(prev, state)


class VerifyFailed(SystemExit):
    """Raised in verify mode at the first step that differs, after the report is written:
    the script stops there (exit status 0; the verdict is in the report)."""


class RunSession:
    """The chain, checkpoints and record of one run (or its verification).

    ``state(step)`` and ``weights()`` return the byte pieces of the training state after
    ``step`` and of the parameters; ``checkpoint(step)`` encodes the state as bytes; ``restore`` loads such bytes
    back. ``state_format`` names what the state bytes are (PyTorch's adapter:
    :data:`STATE_FORMAT`). ``info`` fills the record's ``torch`` section; ``command`` and
    ``seed`` its ``exec`` section. In verify mode (``COLONY_VERIFY`` set, by ``colony run verify``)
    nothing is written to the store.
    """

    def __init__(self, snapshot: "colony.Snapshot", *, state: Callable[[int], Iterable[Any]],
                 weights: Callable[[], Iterable[Any]], checkpoint: Callable[[int], bytes],
                 restore: Callable[[bytes], None], every: int, seed: int, info: Dict[str, Any],
                 trainer: Dict[str, str], command: Optional[List[str]] = None,
                 state_format: str = STATE_FORMAT):
        if every < 1:
            raise ValueError("every must be at least 1")
        self.snapshot = snapshot
        self._state, self._weights = state, weights
        self._checkpoint, self._restore = checkpoint, restore
        self.every, self.seed, self.info, self.trainer = every, seed, info, trainer
        self.state_format = state_format
        self.command = list(command) if command is not None else [sys.executable, *sys.argv]
        self.step_no = 0
        self.losses: List[float] = []
        self.chain: List[str] = []
        self.checkpoints: List[Dict[str, Any]] = []
        self._files: List[tuple] = []
        self.verify = _load_verify()
        self._reexecuted = 0
        self.run: Optional[Dict[str, str]] = None
        if self.verify is None:
            self._begin_record()
        else:
            self._begin_verify()

    # -- recording ---------------------------------------------------------------------

    def _begin_record(self) -> None:
        self._take(0)

    def _take(self, step: int) -> str:
        s = state_hash(self._state(step))
        link = chain_link(self.chain[-1] if self.chain else None, s)
        self.chain.append(link)
        if step % self.every == 0:
            path = f"checkpoints/step-{step}.ckpt"
            self._files.append((path, self._checkpoint(step)))
            self.checkpoints.append({"step": step, "path": path, "state": s})
        return link

    def steps(self, total: int) -> Iterator[int]:
        """The steps the loop should run, numbered from 1: ``1..total`` when recording;
        when verifying, from the step after the restored checkpoint to the last one
        asked for. Call :meth:`step` once after each."""
        if self.verify is None:
            start, end = 1, total
        else:
            start, end = self._from + 1, min(self._to, total)
        for n in range(start, end + 1):
            yield n

    def step(self, loss: float) -> None:
        """Records (or checks) the state after the step just taken, with its loss."""
        self.step_no += 1
        if self.verify is not None:
            self._check(self.step_no, float(loss))
            return
        self.losses.append(float(loss))
        self._take(self.step_no)

    def finish(self) -> Optional[Dict[str, str]]:
        """Writes the run record (recording; returns ``{"id", "commit", "record_hash"}``),
        or the verification report (verifying; returns None)."""
        if self.verify is not None:
            self._report(None)
            return None
        if self.step_no % self.every != 0:
            # The last state is always kept: a verifier can start from any recorded end.
            path = f"checkpoints/step-{self.step_no}.ckpt"
            self._files.append((path, self._checkpoint(self.step_no)))
            self.checkpoints.append({"step": self.step_no, "path": path,
                                     "state": state_hash(self._state(self.step_no))})
        scripts = []
        for arg in self.command[1:]:
            if os.path.isfile(arg):
                with open(arg, "rb") as f:
                    scripts.append({"path": arg, "hash": state_hash([f.read()])})
        record = {
            "format": FORMAT,
            "kind": "torch",
            "snapshot": {"commit": self.snapshot.commit, "root": self.snapshot.root},
            "trainer": self.trainer,
            "isa": _native.cpu_class(),
            "losses": self.losses,
            "chain": self.chain,
            "checkpoints": self.checkpoints,
            "final_weights": state_hash(self._weights()),
            "exec": {"command": self.command, "scripts": scripts, "seed": self.seed, "exit_code": 0,
                     "artifacts": []},
            "torch": dict(self.info, state=self.state_format, every=self.every),
        }
        canonical = _native.canonical_record(json.dumps(record).encode())
        run_id, commit, record_hash = _native.write_run(self.snapshot.dataset_root, canonical, self._files)
        self.run = {"id": run_id, "commit": commit, "record_hash": record_hash}
        return self.run

    # -- verifying ---------------------------------------------------------------------

    def _begin_verify(self) -> None:
        spec = self.verify
        run = colony.open(self.snapshot.dataset_root).snapshot(spec["run_commit"])
        self._run_tree = run
        self._record = json.loads(run.read_bytes("record.json"))
        self._from = spec["from"] if spec["from"] is not None else 0
        self._to = int(spec["to"])
        chain = self._record["chain"]
        if spec["from"] is None:
            # Re-run the initialisation itself: the script built the model from the seed.
            s = state_hash(self._state(0))
            self._prev = chain_link(None, s)
            if self._prev != chain[0]:
                self._report({"step": 0, "what": "hash", "recorded": chain[0], "recomputed": self._prev})
        else:
            ck = next(c for c in self._record["checkpoints"] if c["step"] == self._from)
            self._restore(run.read_bytes(ck["path"]))
            s = state_hash(self._state(self._from))
            if s != ck["state"]:
                self._report({"step": self._from, "what": "checkpoint", "recorded": ck["state"], "recomputed": s})
            prev = chain[self._from - 1] if self._from > 0 else None
            link = chain_link(prev, s)
            if link != chain[self._from]:
                self._report({"step": self._from, "what": "hash", "recorded": chain[self._from], "recomputed": link})
            self._prev = link
        self.step_no = self._from

    def _check(self, step: int, loss: float) -> None:
        self._reexecuted += 1
        link = chain_link(self._prev, state_hash(self._state(step)))
        recorded = self._record["chain"][step] if step < len(self._record["chain"]) else None
        if link != recorded:
            self._report({"step": step, "what": "hash", "recorded": recorded or "(none)", "recomputed": link})
        want = self._record["losses"][step - 1]
        if _f32(loss) != _f32(want):
            self._report({"step": step, "what": "loss", "recorded": repr(want), "recomputed": repr(loss)})
        self._prev = link

    def _report(self, first_bad: Optional[Dict[str, Any]]) -> None:
        with open(self.verify["report"], "w") as f:
            json.dump({"reexecuted": self._reexecuted, "first_bad": first_bad}, f)
        if first_bad is not None:
            print(f"colony: step {first_bad['step']} differs ({first_bad['what']})", file=sys.stderr)
            raise VerifyFailed(0)


def _f32(x: float) -> float:
    import struct

    return struct.unpack("<f", struct.pack("<f", x))[0]


def _load_verify() -> Optional[Dict[str, Any]]:
    path = os.environ.get("COLONY_VERIFY")
    if not path:
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ColonyError(f"COLONY_VERIFY names {path!r}, which is not a verification request: {e}",
                          "unset COLONY_VERIFY to record a run; `colony run verify` sets it") from e
