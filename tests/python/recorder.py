"""A tiny PyTorch model trained on a table of a revision, recorded step by step with
colony.torch.Recorder. `colony run verify` re-runs this same file with COLONY_VERIFY set.

    python3 recorder.py STEPS EVERY        # COLONY_DATASET and COLONY_COMMIT name the data
"""
import json
import sys

import torch

import colony
import colony.torch as ct

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)
steps, every = int(sys.argv[1]), int(sys.argv[2])
seed = ct.seed(5)

snap = colony.from_env()
rows = ct.SnapshotDataset(snap, table="tables/points.parquet")
n = len(rows)
x = torch.tensor([[r["x"], r["x"] ** 2, (r["id"] % 10) / 10.0, 1.0] for r in (rows[i] for i in range(0, n, 97))])
y = torch.tensor([{"up": 0, "down": 1, "flat": 2}[r["kind"]] for r in (rows[i] for i in range(0, n, 97))])
order = ct.epoch_order(len(x), seed, 0)

model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Dropout(0.1), torch.nn.Linear(16, 3))
opt = torch.optim.AdamW(model.parameters(), lr=0.01)
rec = ct.Recorder(model, opt, every=every, seed=seed, data=rows)


def batch_for(step):
    idx = [order[(step * 16 + j) % len(order)] for j in range(16)]
    return x[idx], y[idx]


for step in rec.steps(steps):
    xb, yb = batch_for(step)
    loss = torch.nn.functional.cross_entropy(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    rec.step(loss.item())
out = rec.finish()
if out is not None:
    print(json.dumps(out))
