#!/usr/bin/env python3
"""Side-by-side store benchmark: colony vs b3sum, DVC, git-lfs, Oxen (and git status).

Run through bench/store-bench.sh, which puts the peer tools on PATH and builds colony.
For each dataset made by gen.py and each tool, in a fresh copy of the data:

  init            untimed (dvc init --no-scm, git init + lfs track, oxen init, colony init)
  add+commit      timed: wall time (sum of the commands), peak RSS (largest process)
  status          timed, nothing changed
  table only:     v2.parquet replaces v1 (new inode), then add+commit again (timed) and
                  the growth of the tool's store is measured (colony: `new_bytes` of
                  `colony commit --json`, plus the growth of .colony as a cross-check)

Every timed command runs under GNU time (`/usr/bin/time -f '%e %M'`) for peak RSS; wall
time is taken around it with a monotonic clock. `sync` runs (untimed) before each timed
command so that one tool's dirty pages are not written back on the next one's clock.
Page cache is warm: the data was just copied, and caches cannot be dropped here.
Each (dataset, tool) sequence is repeated --repeat times on a fresh copy; the median of
each metric is reported. Results: Markdown on stdout and in bench/work/, JSON beside it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import gen  # noqa: E402

MiB = 1 << 20
NPROC = os.cpu_count() or 1
ALL_TOOLS = ["colony", "b3sum", "dvc", "git-lfs", "oxen", "git"]
ALL_DATASETS = ["files", "table", "small"]
# plain git is the reference for `status` on (c); on big binary data it is not a contender
GIT_DATASETS = {"small"}

TARGETS_TEXT = {
    "ingest_vs_b3sum": "colony ingest of (a) ≥ 0.7× b3sum throughput",
    "vs_oxen": "add+commit ≥ 5× faster than Oxen",
    "vs_dvc": "add+commit ≥ 10× faster than DVC",
    "vs_git-lfs": "add+commit ≥ 10× faster than git-lfs",
    "status_vs_git": "status on (c) ≤ 2× `git status`",
    "v2_new": "v2 of the table stores ≤ 10% of its size anew",
    "rss": "peak RSS ≤ 300 MiB",
}


class Skip(Exception):
    pass


# ---- running and measuring --------------------------------------------------------------

class Runner:
    def __init__(self, logdir: Path, env: dict, nice: int, timeout: float):
        self.logdir = logdir
        self.env = env
        self.nice = nice
        self.timeout = timeout
        self.n = 0

    def run(self, argv, cwd: Path, timed=True, shell=False, check=True):
        """Run one command. Returns dict(wall, rss_kib, rc, out)."""
        self.n += 1
        tag = f"{self.n:04d}"
        out_p = self.logdir / f"{tag}.out"
        err_p = self.logdir / f"{tag}.err"
        tim_p = self.logdir / f"{tag}.time"
        cmd = ["sh", "-c", argv] if shell else list(argv)
        if self.nice:
            cmd = ["nice", "-n", str(self.nice)] + cmd
        if timed:
            subprocess.run(["sync"], check=False)
            cmd = ["/usr/bin/time", "-f", "%e %M", "-o", str(tim_p)] + cmd
        (self.logdir / f"{tag}.cmd").write_text(f"cd {cwd}\n{argv if shell else ' '.join(map(str, argv))}\n")
        t0 = time.perf_counter()
        with open(out_p, "wb") as o, open(err_p, "wb") as e:
            try:
                p = subprocess.run(cmd, cwd=cwd, env=self.env, stdout=o, stderr=e,
                                   stdin=subprocess.DEVNULL, timeout=self.timeout)
                rc = p.returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
        wall = time.perf_counter() - t0
        with open(self.logdir / f"{tag}.cmd", "a") as f:
            f.write(f"# rc={rc} wall={wall:.3f}s timed={timed}\n")
        rss = None
        if timed and tim_p.exists():
            last = [ln for ln in tim_p.read_text().splitlines() if ln.strip()]
            try:
                rss = int(last[-1].split()[1])
            except (IndexError, ValueError):
                rss = None
        res = dict(wall=wall, rss_kib=rss, rc=rc, out=out_p.read_text(errors="replace"))
        if check and rc != 0:
            tail = err_p.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"`{argv}` in {cwd} failed (rc={rc}; log {err_p}):\n{tail}")
        return res


def du_bytes(*paths: Path) -> int:
    total = 0
    for p in paths:
        if p.exists():
            r = subprocess.run(["du", "-sb", str(p)], capture_output=True, text=True)
            total += int(r.stdout.split()[0])
    return total


def tree_bytes(d: Path) -> tuple[int, int]:
    n = b = 0
    for root, _dirs, files in os.walk(d):
        for f in files:
            if f == ".gen.json":
                continue
            n += 1
            b += os.lstat(os.path.join(root, f)).st_size
    return n, b


def version_of(argv, env) -> str:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        return (r.stdout or r.stderr).strip().splitlines()[0]
    except Exception as e:  # noqa: BLE001
        return f"unknown ({e.__class__.__name__})"


# ---- tools ------------------------------------------------------------------------------
# Each tool: init(ds) untimed; ingest(ds, msg) -> list of timed commands whose times add up;
# status(ds) -> one timed command; store(ds) -> dirs whose growth is "bytes stored".

class Tool:
    name = ""
    shell = False

    def __init__(self, r: Runner):
        self.r = r

    def available(self) -> str | None:
        return None

    def version(self) -> str:
        return ""

    def init(self, ds: Path):
        pass

    def ingest(self, ds: Path, msg: str):
        raise NotImplementedError

    def status(self, ds: Path):
        return None

    def store(self, ds: Path):
        return []

    def parse_commit(self, outs):
        return {}


class B3sum(Tool):
    name = "b3sum"

    def available(self):
        return None if shutil.which("b3sum", path=self.r.env["PATH"]) else "b3sum not on PATH (run bench/setup.sh)"

    def version(self):
        return version_of(["b3sum", "--version"], self.r.env)

    def ingest(self, ds, msg):
        # all files, spread over all cores; b3sum also hashes big files with several threads
        return [(f"find data -type f -print0 | xargs -0 -P {NPROC} -n 256 b3sum > /dev/null", True)]


class Dvc(Tool):
    name = "dvc"

    def available(self):
        return None if shutil.which("dvc", path=self.r.env["PATH"]) else "dvc not on PATH (run bench/setup.sh)"

    def version(self):
        return "dvc " + version_of(["dvc", "--version"], self.r.env)

    def init(self, ds):
        # DVC keeps a per-repo hash/state cache outside the repo (site cache dir), keyed by
        # path: clear it so that a repeat cannot reuse the previous run's hashes.
        shutil.rmtree(self.r.env["DVC_SITE_CACHE_DIR"], ignore_errors=True)
        self.r.run(["dvc", "init", "--no-scm", "-q"], ds, timed=False)
        self.r.run(["dvc", "config", "core.analytics", "false"], ds, timed=False)
        self.r.run(["dvc", "config", "core.check_update", "false"], ds, timed=False, check=False)

    def ingest(self, ds, msg):
        # With --no-scm, `dvc add` is the whole commit: it hashes, fills .dvc/cache and
        # writes data.dvc (the version record). There is no separate commit step.
        return [["dvc", "add", "-q", "data"]]

    def status(self, ds):
        return ["dvc", "status"]

    def store(self, ds):
        return [ds / ".dvc" / "cache"]


class GitLfs(Tool):
    name = "git-lfs"

    def available(self):
        r = subprocess.run(["git", "lfs", "version"], capture_output=True, env=self.r.env)
        return None if r.returncode == 0 else "git-lfs not installed (run bench/setup.sh)"

    def version(self):
        return version_of(["git", "lfs", "version"], self.r.env)

    def init(self, ds):
        for c in (["git", "init", "-q"], ["git", "lfs", "install", "--local"],
                  ["git", "lfs", "track", "data/**"], ["git", "add", ".gitattributes"],
                  ["git", "commit", "-q", "-m", "track data with lfs"]):
            self.r.run(c, ds, timed=False)

    def ingest(self, ds, msg):
        return [["git", "add", "-A", "data"], ["git", "commit", "-q", "-m", msg]]

    def status(self, ds):
        return ["git", "status"]

    def store(self, ds):
        return [ds / ".git" / "lfs" / "objects"]


class Git(Tool):
    name = "git"

    def available(self):
        return None if shutil.which("git", path=self.r.env["PATH"]) else "git not on PATH"

    def version(self):
        return version_of(["git", "--version"], self.r.env)

    def init(self, ds):
        self.r.run(["git", "init", "-q"], ds, timed=False)

    def ingest(self, ds, msg):
        return [["git", "add", "-A", "data"], ["git", "commit", "-q", "-m", msg]]

    def status(self, ds):
        return ["git", "status"]

    def store(self, ds):
        return [ds / ".git" / "objects"]


class Oxen(Tool):
    """The real `oxen` CLI if on PATH (crates.io oxen-cli), else bench/oxen_shim.py, which
    drives the same Rust core (liboxen) from PyPI oxenai; PyPI ships no `oxen` command."""

    name = "oxen"

    def __init__(self, r):
        super().__init__(r)
        real = shutil.which("oxen", path=r.env["PATH"])
        self.cmd = [real] if real else [sys.executable, str(BENCH / "oxen_shim.py")]
        self.shim = not real

    def available(self):
        r = subprocess.run(self.cmd + ["--version"], capture_output=True, env=self.r.env)
        if r.returncode != 0:
            return "no `oxen` CLI and PyPI oxenai's core does not load (run bench/setup.sh)"
        return None

    def version(self):
        return version_of(self.cmd + ["--version"], self.r.env)

    def init(self, ds):
        self.r.run(self.cmd + ["init"], ds, timed=False)

    def ingest(self, ds, msg):
        return [self.cmd + ["add", "data"], self.cmd + ["commit", "-m", msg]]

    def status(self, ds):
        return self.cmd + ["status"]

    def store(self, ds):
        return [ds / ".oxen"]


class Colony(Tool):
    name = "colony"

    def __init__(self, r, binary: str | None, note: str | None):
        super().__init__(r)
        self.bin = binary
        self.note = note

    def available(self):
        if self.note:
            return self.note
        if not self.bin or not os.access(self.bin, os.X_OK):
            return f"colony binary not found ({self.bin or 'COLONY_BIN unset'})"
        h = subprocess.run([self.bin, "--help"], capture_output=True, text=True, env=self.r.env)
        missing = [c for c in ("init", "add", "commit", "status") if c not in h.stdout]
        if h.returncode != 0 or missing:
            return f"{self.bin} lacks commands {missing or '(--help failed)'}"
        return None

    def version(self):
        return version_of([self.bin, "--version"], self.r.env)

    def init(self, ds):
        self.r.run([self.bin, "init"], ds, timed=False)

    def ingest(self, ds, msg):
        return [[self.bin, "add", "."], [self.bin, "commit", "-m", msg, "--json"]]

    def status(self, ds):
        return [self.bin, "status"]

    def store(self, ds):
        return [ds / ".colony"]

    def parse_commit(self, outs):
        out = outs[-1].strip()
        j = None
        # one JSON document on stdout, compact or pretty-printed
        for start in [0] + [i for i, ch in enumerate(out) if ch == "{" and (i == 0 or out[i - 1] == "\n")][::-1]:
            try:
                j = json.loads(out[start:])
                break
            except ValueError:
                continue
        if not isinstance(j, dict):
            raise RuntimeError(f"colony commit --json printed no JSON object: {out[-500:]!r}")
        missing = [k for k in ("commit", "root", "files", "bytes", "new_bytes") if k not in j]
        if missing:
            raise RuntimeError(f"colony commit --json lacks {missing}: {j}")
        return j


# ---- one (dataset, tool) sequence ---------------------------------------------------------

def prepare(kind: str, src: Path, ds: Path):
    if ds.exists():
        shutil.rmtree(ds)
    (ds / "data").mkdir(parents=True)
    if kind == "table":
        shutil.copyfile(src / "v1.parquet", ds / "data" / "table.parquet")
    else:
        subprocess.run(["cp", "-a", "--reflink=auto", f"{src}/.", str(ds / "data")], check=True)
        stamp = ds / "data" / ".gen.json"
        if stamp.exists():
            stamp.unlink()


def timed_seq(tool: Tool, cmds, ds):
    wall = 0.0
    rss = 0
    outs = []
    for c in cmds:
        shell = isinstance(c, tuple)
        res = tool.r.run(c[0] if shell else c, ds, timed=True, shell=shell)
        wall += res["wall"]
        rss = max(rss, res["rss_kib"] or 0)
        outs.append(res["out"])
    return wall, rss, outs


def one_run(tool: Tool, kind: str, src: Path, ds: Path) -> dict:
    prepare(kind, src, ds)
    tool.init(ds)
    m: dict = {}
    stores = tool.store(ds)
    s0 = du_bytes(*stores)
    wall, rss, outs = timed_seq(tool, tool.ingest(ds, "v1"), ds)
    m["ingest_s"] = wall
    m["rss_kib"] = rss
    c = tool.parse_commit(outs)
    if c:
        m["commit_json"] = c
    m["store_bytes"] = du_bytes(*stores) - s0 if stores else None
    st = tool.status(ds)
    if st:
        res = tool.r.run(st, ds, timed=True)
        m["status_s"] = res["wall"]
        m["rss_kib"] = max(m["rss_kib"], res["rss_kib"] or 0)
    if kind == "table":
        s1 = du_bytes(*stores)
        t = ds / "data" / "table.parquet"
        t.unlink()
        shutil.copyfile(src / "v2.parquet", t)
        wall, rss, outs = timed_seq(tool, tool.ingest(ds, "v2"), ds)
        m["ingest_v2_s"] = wall
        m["rss_kib"] = max(m["rss_kib"], rss)
        m["v2_store_growth"] = du_bytes(*stores) - s1 if stores else None
        c = tool.parse_commit(outs)
        if c:
            m["commit_v2_json"] = c
            m["v2_new_bytes"] = c["new_bytes"]
        elif stores:
            m["v2_new_bytes"] = m["v2_store_growth"]
    return m


def median_of(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


# ---- report -----------------------------------------------------------------------------

def fmt(v, unit=""):
    if v is None:
        return "–"
    if isinstance(v, float):
        if v >= 100:
            s = f"{v:.0f}"
        elif v >= 10:
            s = f"{v:.1f}"
        elif v >= 1:
            s = f"{v:.2f}"
        else:
            s = f"{v:.3f}"
    else:
        s = str(v)
    return s + unit


def evaluate_targets(res, meta) -> list[dict]:
    out = []

    def get(ds, tool, key):
        return res.get(ds, {}).get(tool, {}).get(key)

    def add(key, detail, measured, ok, note=""):
        out.append(dict(target=key, text=TARGETS_TEXT[key], detail=detail, measured=measured,
                        ok=ok, note=note))

    c_tp, b_tp = get("files", "colony", "MiBps"), get("files", "b3sum", "MiBps")
    r = c_tp / b_tp if c_tp and b_tp else None
    add("ingest_vs_b3sum", "(a)", None if r is None else f"{r:.2f}× ({fmt(c_tp)} vs {fmt(b_tp)} MiB/s)",
        None if r is None else r >= 0.7)
    for peer, need in (("oxen", 5), ("dvc", 10), ("git-lfs", 10)):
        for ds in res:
            if peer not in res[ds]:
                continue
            c, p = get(ds, "colony", "ingest_s"), get(ds, peer, "ingest_s")
            r = p / c if c and p else None
            add(f"vs_{peer}", f"({'abc'[ALL_DATASETS.index(ds)]}) {ds}",
                None if r is None else f"{r:.1f}× ({fmt(c)} s vs {fmt(p)} s)",
                None if r is None else r >= need)
    c, g = get("small", "colony", "status_s"), get("small", "git", "status_s")
    r = c / g if c and g else None
    add("status_vs_git", "(c)", None if r is None else f"{r:.2f}× ({fmt(c)} s vs {fmt(g)} s)",
        None if r is None else r <= 2)
    nb, v2 = get("table", "colony", "v2_new_bytes"), meta.get("table_v2_bytes")
    r = nb / v2 if nb is not None and v2 else None
    add("v2_new", "(b)", None if r is None else f"{100 * r:.1f}% ({nb / MiB:.1f} of {v2 / MiB:.1f} MiB)",
        None if r is None else r <= 0.10)
    rss = [get(ds, "colony", "rss_mib") for ds in res if get(ds, "colony", "rss_mib")]
    add("rss", "max over all colony commands", None if not rss else f"{max(rss):.0f} MiB",
        None if not rss else max(rss) <= 300)
    return out


def markdown(report) -> str:
    meta, res, datasets = report["meta"], report["results"], report["datasets"]
    L = []
    L.append(f"# Store benchmark — scale {meta['scale']:g}, {meta['date']}\n")
    L.append(f"Command: `{meta['command']}`  ")
    L.append(f"Machine: {meta['machine']}; {meta['repeat']} run(s) per cell, median; page cache warm "
             f"(data copied just before each run; caches cannot be dropped here); `sync` before every timed command.  ")
    L.append("Versions: " + "; ".join(f"{k}: {v}" for k, v in meta["versions"].items()) + "\n")
    for n in meta["notes"]:
        L.append(f"- **note:** {n}")
    if meta["notes"]:
        L.append("")
    for ds, info in datasets.items():
        label = {"files": "(a) files", "table": "(b) Parquet table", "small": "(c) small files"}[ds]
        extra = ""
        if ds == "table":
            extra = (f"; v2 {info['v2_bytes'] / MiB:.1f} MiB: {info['plan']['edit_hi'] - info['plan']['edit_lo']} rows edited "
                     f"in one block + {info['plan']['append_rows']} appended, row groups of {info['plan']['row_group_rows']} rows")
        L.append(f"## {label}: {info['files']} files, {info['bytes'] / MiB:.1f} MiB{extra}\n")
        cols = ["tool", "add+commit s", "MiB/s", "vs b3sum", "colony faster ×", "status s", "peak RSS MiB", "store MiB"]
        if ds == "table":
            cols += ["v2 add+commit s", "v2 stored MiB", "v2 stored %", "v2 store growth MiB"]
        L.append("| " + " | ".join(cols) + " |")
        L.append("|" + "---|" * len(cols))
        b3 = res[ds].get("b3sum", {}).get("MiBps")
        cl = res[ds].get("colony", {}).get("ingest_s")
        for tool, m in res[ds].items():
            if "skipped" in m:
                L.append(f"| {tool} | skipped: {m['skipped']} |" + " |" * (len(cols) - 2))
                continue
            row = [tool, fmt(m.get("ingest_s")), fmt(m.get("MiBps")),
                   fmt(m["MiBps"] / b3, "×") if b3 and m.get("MiBps") else "–",
                   fmt(m["ingest_s"] / cl, "×") if cl and m.get("ingest_s") and tool != "colony" else "–",
                   fmt(m.get("status_s")), fmt(m.get("rss_mib")),
                   fmt(m["store_bytes"] / MiB) if m.get("store_bytes") is not None else "–"]
            if ds == "table":
                nb = m.get("v2_new_bytes")
                row += [fmt(m.get("ingest_v2_s")), fmt(nb / MiB) if nb is not None else "–",
                        fmt(100 * nb / info["v2_bytes"], "%") if nb is not None else "–",
                        fmt(m["v2_store_growth"] / MiB) if m.get("v2_store_growth") is not None else "–"]
            L.append("| " + " | ".join(row) + " |")
        L.append("")
    L.append("`colony faster ×` = tool's add+commit time / colony's. `vs b3sum` = throughput / b3sum's. "
             "Store = growth of .colony, .dvc/cache, .git/lfs/objects, .git/objects, .oxen; "
             "v2 stored = colony `new_bytes` from `commit --json`, others the growth of their store; "
             "v2 store growth = `du -sb` growth of the store dir for every tool (colony's cross-check). "
             "Peak RSS = the largest single process of any timed command (GNU time).\n")
    L.append("## Targets (issue 2)\n")
    L.append("| target | where | measured | met |")
    L.append("|---|---|---|---|")
    for t in report["targets"]:
        ok = {True: "yes", False: "**no**", None: "n/a"}[t["ok"]]
        L.append(f"| {t['text']} | {t['detail']} | {t['measured'] or '–'} | {ok} |")
    L.append("")
    return "\n".join(L)


# ---- main -------------------------------------------------------------------------------

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--tools", default=",".join(ALL_TOOLS))
    p.add_argument("--datasets", default=",".join(ALL_DATASETS))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=3600, help="per command, seconds")
    p.add_argument("--nice", type=int, default=0, help="run every tool under nice -n N")
    p.add_argument("--work", default=str(BENCH / "work"))
    p.add_argument("--colony-bin", default=os.environ.get("COLONY_BIN"))
    p.add_argument("--colony-note", default=os.environ.get("COLONY_SKIP_NOTE"))
    p.add_argument("--keep", action="store_true", help="keep the last run's repositories")
    a = p.parse_args(argv)

    work = Path(a.work).resolve()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    runs_dir = work / "runs"
    logdir = work / "logs" / stamp
    home = work / "home"
    for d in (runs_dir, logdir, home):
        d.mkdir(parents=True, exist_ok=True)
    # An isolated HOME: tools write their user config here, never into the real one.
    (home / ".gitconfig").write_text("[user]\n\tname = bench\n\temail = bench@example.invalid\n"
                                     "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    (home / ".config" / "oxen").mkdir(parents=True, exist_ok=True)
    oxen_cfg = home / ".config" / "oxen" / "user_config.toml"
    if not oxen_cfg.exists():
        oxen_cfg.write_text('name = "bench"\nemail = "bench@example.invalid"\n')
    env = dict(os.environ)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"),
               GIT_CONFIG_NOSYSTEM="1", LC_ALL="C", TERM="dumb", NO_COLOR="1",
               DVC_NO_ANALYTICS="1", DVC_SITE_CACHE_DIR=str(work / "dvc-site"),
               GIT_TERMINAL_PROMPT="0")
    runner = Runner(logdir, env, a.nice, a.timeout)

    tools_all = dict(b3sum=B3sum(runner), dvc=Dvc(runner), oxen=Oxen(runner), git=Git(runner))
    tools_all["git-lfs"] = GitLfs(runner)
    tools_all["colony"] = Colony(runner, a.colony_bin, a.colony_note)
    want = [t.strip() for t in a.tools.split(",") if t.strip()]
    order = [t for t in ALL_TOOLS if t in want]
    datasets = [d.strip() for d in a.datasets.split(",") if d.strip()]

    notes = []
    versions = {}
    skipped = {}
    for t in order:
        why = tools_all[t].available()
        if why:
            skipped[t] = why
            notes.append(f"{t} skipped: {why}")
            print(f"[bench] WARNING: {t} skipped: {why}", file=sys.stderr)
        else:
            versions[t] = tools_all[t].version()
    if "oxen" in versions and tools_all["oxen"].shim:
        notes.append("oxen: PyPI oxenai ships no `oxen` CLI; its Rust core (liboxen) is driven through "
                     "bench/oxen_shim.py (one Python start, ~30-100 ms, per command). Real CLI: "
                     "BENCH_OXEN_CLI=1 bench/setup.sh")

    print(f"[bench] generating data (scale {a.scale:g})", file=sys.stderr)
    data_root = work / "data" / f"s{a.scale:g}"
    data_root.mkdir(parents=True, exist_ok=True)
    srcs = {}
    ds_info = {}
    for ds in datasets:
        srcs[ds] = dict(files=gen.gen_files, table=gen.gen_table, small=gen.gen_small)[ds](data_root, a.scale, a.seed)
        if ds == "table":
            plan = json.loads((srcs[ds] / ".gen.json").read_text())
            ds_info[ds] = dict(files=1, bytes=plan["v1_bytes"], v2_bytes=plan["v2_bytes"], plan=plan)
        else:
            n, b = tree_bytes(srcs[ds])
            ds_info[ds] = dict(files=n, bytes=b)

    results: dict = {}
    for ds in datasets:
        results[ds] = {}
        for t in order:
            if t == "git" and ds not in GIT_DATASETS:
                continue
            if t in skipped:
                results[ds][t] = dict(skipped=skipped[t])
                continue
            tool = tools_all[t]
            runs = []
            err = None
            for i in range(a.repeat):
                dsdir = runs_dir / f"{ds}-{t}"
                print(f"[bench] {ds} / {t} run {i + 1}/{a.repeat}", file=sys.stderr)
                try:
                    m = one_run(tool, ds, srcs[ds], dsdir)
                except Exception as e:  # noqa: BLE001
                    err = str(e)
                    print(f"[bench]   FAILED: {err}", file=sys.stderr)
                    break
                finally:
                    if not (a.keep and i == a.repeat - 1):
                        shutil.rmtree(dsdir, ignore_errors=True)
                print("[bench]   " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                             for k, v in m.items() if not k.startswith("commit")), file=sys.stderr)
                runs.append(m)
            if err and not runs:
                results[ds][t] = dict(skipped=f"failed: {err.splitlines()[0][:200]}", error=err)
                notes.append(f"{t} on {ds} failed: {err.splitlines()[0][:300]}")
                continue
            agg = {k: median_of(runs, k) for k in ("ingest_s", "status_s", "store_bytes", "ingest_v2_s",
                                                   "v2_new_bytes", "v2_store_growth")}
            agg = {k: v for k, v in agg.items() if v is not None}
            agg["rss_mib"] = max(r["rss_kib"] for r in runs) / 1024
            if agg.get("ingest_s"):
                agg["MiBps"] = ds_info[ds]["bytes"] / MiB / agg["ingest_s"]
            agg["runs"] = runs
            if err:
                agg["error"] = err
                notes.append(f"{t} on {ds}: a repeat failed: {err.splitlines()[0][:300]}")
            results[ds][t] = agg

    mem = ""
    try:
        mem = f", {int(open('/proc/meminfo').read().split()[1]) // 1024 // 1024} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    meta = dict(date=stamp, scale=a.scale, repeat=a.repeat, seed=a.seed, nice=a.nice,
                command="bench/store-bench.sh " + " ".join(sys.argv[1:]),
                machine=f"{platform.node()}: {NPROC} cores{mem}, {platform.platform()}",
                versions=versions, notes=notes, cache="warm",
                table_v2_bytes=ds_info.get("table", {}).get("v2_bytes"), logs=str(logdir))
    report = dict(meta=meta, datasets=ds_info, results=results)
    report["targets"] = evaluate_targets(results, meta)
    md = markdown(report)
    base = work / f"store-bench-s{a.scale:g}-{stamp}"
    Path(f"{base}.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    Path(f"{base}.md").write_text(md)
    shutil.copyfile(f"{base}.json", work / "store-bench-latest.json")
    shutil.copyfile(f"{base}.md", work / "store-bench-latest.md")
    print(md)
    print(f"[bench] wrote {base}.md and {base}.json (logs: {logdir})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
