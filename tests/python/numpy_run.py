"""The Recorder's core needs no framework: a least-squares fit in numpy, its state as
numpy arrays, recorded with colony.record.RunSession and verifiable by `colony run verify`.

    python3 numpy_run.py STEPS EVERY     # COLONY_DATASET and COLONY_COMMIT name the data
"""
import io
import json
import sys

import numpy as np

import colony
from colony.record import RunSession

steps, every = int(sys.argv[1]), int(sys.argv[2])
snap = colony.from_env()
blob = np.frombuffer(snap.read_bytes("blobs/blob.bin")[:4096 * 4], dtype=np.uint8).astype(np.float64)
x = blob.reshape(-1, 4) / 255.0
y = x @ np.array([0.5, -1.0, 2.0, 0.25]) + 0.1
w = np.zeros(4)
velocity = np.zeros(4)


def checkpoint(step):
    buf = io.BytesIO()
    np.savez(buf, w=w, velocity=velocity)
    return buf.getvalue()


def restore(data):
    ck = np.load(io.BytesIO(data))
    w[:], velocity[:] = ck["w"], ck["velocity"]


session = RunSession(
    snap,
    state=lambda step: [w, velocity, np.array([step], dtype="<u8")],
    weights=lambda: [w],
    checkpoint=checkpoint,
    restore=restore,
    every=every,
    seed=0,
    info={"torch_version": f"numpy {np.__version__}", "threads": 1, "deterministic": True, "device": "cpu",
          "data_order": {"rows": "in order, 16 a step"}},
    trainer={"name": "numpy-lsq", "version": "1", "backend": f"numpy {np.__version__}"},
    state_format="numpy-lsq v1: w, velocity, u64le(step)",
)
for step in session.steps(steps):
    i = (step * 16) % len(x)
    xb, yb = x[i:i + 16], y[i:i + 16]
    grad = 2 * xb.T @ (xb @ w - yb) / len(xb)
    velocity[:] = 0.9 * velocity + grad
    w -= 0.1 * velocity
    session.step(float(np.mean((xb @ w - yb) ** 2)))
out = session.finish()
if out is not None:
    print(json.dumps(out))
