#!/usr/bin/env python3
"""What recording costs a small PyTorch model (issue 16; target ≤ 5 % of step time).

Trains the same MLP (--size: see SIZES; AdamW, one CPU thread, deterministic algorithms) for --steps steps twice per round:
bare, and with colony.torch.Recorder (a chain link after every step, a checkpoint every
--every steps, the record written at the end, all into a throwaway dataset). Reports the
median over --rounds of the per-step time of each and the overhead.

    ~/.cache/colony/torch-venv/bin/python bench/recorder_bench.py --colony target/release/colony
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

import colony
import colony.torch as ct


#: (inputs, hidden, layers, classes, batch): `tiny` is the built-in trainer's benchmark
#: MLP (8→32→3, batch 32, 4.6 KiB of state); `small` 64→256→256→10 (84 K parameters,
#: ~1 MiB of state with AdamW's moments) at batch 64 and at batch 1024.
SIZES = {"tiny": (8, 32, 1, 3, 32), "small": (64, 256, 2, 10, 64), "small-b1024": (64, 256, 2, 10, 1024)}
SIZE = SIZES["small"]


def build():
    ct.seed(1)
    inputs, hidden, layers, classes, _ = SIZE
    mods, width = [], inputs
    for _ in range(layers):
        mods += [torch.nn.Linear(width, hidden), torch.nn.ReLU()]
        width = hidden
    model = torch.nn.Sequential(*mods, torch.nn.Linear(width, classes))
    return model, torch.optim.AdamW(model.parameters(), lr=1e-3)


def train(steps, rec=None):
    model, opt = build()
    inputs, _, _, classes, batch = SIZE
    g = torch.Generator().manual_seed(2)
    xs, ys = torch.randn(4096, inputs, generator=g), torch.randint(0, classes, (4096,), generator=g)
    r = rec(model, opt) if rec else None
    t = time.perf_counter()
    for step in (r.steps(steps) if r else range(1, steps + 1)):
        i = (step * batch) % (4096 - batch + 1)
        loss = torch.nn.functional.cross_entropy(model(xs[i:i + batch]), ys[i:i + batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if r:
            r.step(loss.item())
    if r:
        r.finish()
    return (time.perf_counter() - t) / steps


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--colony", default=os.environ.get("COLONY_BIN", "colony"))
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--every", type=int, default=100)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    a = p.parse_args()
    global SIZE
    SIZE = SIZES[a.size]
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, COLONY_AUTHOR_NAME="bench", COLONY_AUTHOR_EMAIL="bench@example.invalid")
        subprocess.run([a.colony, "init", "--quiet"], cwd=d, check=True, env=env)
        with open(os.path.join(d, "note.txt"), "w") as f:
            f.write("recorder bench\n")
        subprocess.run([a.colony, "add", ".", "--quiet"], cwd=d, check=True, env=env)
        subprocess.run([a.colony, "commit", "-m", "bench", "--quiet"], cwd=d, check=True, env=env)
        snap = colony.open(d).snapshot("HEAD")
        bare, recorded = [], []
        train(50)  # warm-up
        for _ in range(a.rounds):
            bare.append(train(a.steps))
            recorded.append(train(a.steps, lambda m, o: ct.Recorder(m, o, every=a.every, seed=1, snapshot=snap,
                                                                   command=["bench"])))
    b, r = statistics.median(bare), statistics.median(recorded)
    print(f"# Recorder overhead, model {a.size} {SIZE} ({a.steps} steps, checkpoint every {a.every}, median of {a.rounds}, "
          f"torch {torch.__version__}, colony package {colony.__file__})\n")
    print("| | ms/step | overhead |\n|---|---|---|")
    print(f"| bare | {b * 1e3:.3f} | |")
    print(f"| with Recorder | {r * 1e3:.3f} | {100 * (r - b) / b:+.1f} % |")


if __name__ == "__main__":
    sys.exit(main())
