#!/usr/bin/env python3
"""Read-in-place benchmark (issue 13): the HTTP gateway and S3 API of `colony serve --http`
against reading the checked-out files.

On the 2 GiB files dataset (gen.py `files`) and the ~1 GiB Parquet table (gen.py `table`,
v1.parquet), committed into one colony dataset:

  sequential   the table file (~1 GiB) read whole: `cat` of the checked-out file (the
               limit), `colony cat`, curl over HTTP, boto3 GetObject over S3 (1 MiB reads
               of the body), polars read_parquet over S3 vs of the local file
  files        every file of the files dataset: cat of the checkout vs one curl over
               HTTP (one keep-alive connection, all URLs)
  random       64 KiB reads at seeded random offsets of the table: os.pread of the
               checked-out file vs HTTP Range requests on keep-alive connections, with 1
               and 8 client threads (reads per second)
  rss          peak RSS (VmHWM) of a fresh gateway process while 8 clients read the table
               whole at once over HTTP
  mount        where FUSE works (`colony mount`): `cat` of the table through the mount,
               and 64 KiB preads of it at the same offsets, each one pass on a fresh mount
               (the kernel would otherwise serve repeats from its cache); skipped with a
               note where FUSE is missing

Every figure is the best of --repeat runs, warm page cache throughout (colony's shards
and the checkout alike). Prints Markdown and writes bench/work/read-bench-*.{md,json}.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import gen  # noqa: E402

MiB = 1 << 20
PIECE = 64 * 1024


def sh(args, **kw):
    return subprocess.run(args, check=True, **kw)


def best(repeat: int, f):
    """Smallest wall time of `repeat` runs of f()."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


class Mounted:
    """A `colony mount main DIR --json` child; `None` from start() where FUSE is missing."""

    @staticmethod
    def start(colony: str, ds: Path, work: Path):
        mnt = work / "read-bench-mnt"
        mnt.mkdir(exist_ok=True)
        p = subprocess.Popen([colony, "--json", "mount", "main", str(mnt)], cwd=ds,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        if not line:
            print(f"[bench] no mount: {p.stderr.read().strip()}", file=sys.stderr)
            p.wait()
            return None
        m = Mounted()
        m.p, m.dir = p, mnt
        return m

    def stop(self):
        self.p.terminate()
        self.p.wait()


class Gateway:
    """A `colony serve --http 127.0.0.1:0 --no-p2p --json` child."""

    def __init__(self, colony: str, ds: Path):
        self.p = subprocess.Popen([colony, "serve", "--http", "127.0.0.1:0", "--no-p2p", "--json"],
                                  cwd=ds, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.p.stdout.readline()
        info = json.loads(line)["http"]
        self.url, self.bucket = info["url"], info["bucket"]
        u = urlsplit(self.url)
        self.host, self.port = u.hostname, u.port

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.p.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        self.p.terminate()
        self.p.wait()


def make_dataset(colony: str, work: Path, scale: float, seed: int) -> tuple[Path, dict]:
    data = work / "data"
    files_src = gen.gen_files(data, scale, seed)
    table_src = gen.gen_table(data, scale, seed)
    ds = work / f"read-ds-s{scale}"
    stamp = ds / ".read-bench.json"
    params = dict(scale=scale, seed=seed)
    if stamp.exists() and json.loads(stamp.read_text()) == params:
        return ds, params
    if ds.exists():
        shutil.rmtree(ds)
    ds.mkdir(parents=True)
    shutil.copytree(files_src, ds / "files", ignore=shutil.ignore_patterns(".gen.json"))
    shutil.copy(table_src / "v1.parquet", ds / "table.parquet")
    env = dict(os.environ, COLONY_AUTHOR_NAME="bench", COLONY_AUTHOR_EMAIL="bench@example.invalid")
    sh([colony, "init", "--quiet"], cwd=ds, env=env)
    sh([colony, "add", ".", "--quiet"], cwd=ds, env=env)
    sh([colony, "commit", "-m", "read bench", "--quiet"], cwd=ds, env=env)
    stamp.write_text(json.dumps(params))
    return ds, params


def http_get_ranges(host, port, path, offsets, out_count):
    c = http.client.HTTPConnection(host, port)
    for off in offsets:
        c.request("GET", path, headers={"Range": f"bytes={off}-{off + PIECE - 1}"})
        r = c.getresponse()
        body = r.read()
        assert r.status == 206 and len(body) == PIECE, (r.status, len(body))
    c.close()
    out_count.append(len(offsets))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--random-reads", type=int, default=4000, help="64 KiB reads per random cell")
    p.add_argument("--colony", default=os.environ.get("COLONY_BIN", "colony"))
    a = p.parse_args(argv)
    work = BENCH / "work"
    work.mkdir(exist_ok=True)
    colony = a.colony
    ds, _ = make_dataset(colony, work, a.scale, a.seed)
    table = ds / "table.parquet"
    size = table.stat().st_size
    files = sorted(q for q in (ds / "files").rglob("*") if q.is_file())
    files_bytes = sum(q.stat().st_size for q in files)
    R: dict = dict(scale=a.scale, repeat=a.repeat, table_bytes=size, files=len(files),
                   files_bytes=files_bytes, colony=colony, time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    devnull = open(os.devnull, "wb")

    g = Gateway(colony, ds)
    try:
        url = f"{g.url}/main/table.parquet"
        seq = {}
        seq["cat (checkout)"] = best(a.repeat, lambda: sh(["cat", str(table)], stdout=devnull))
        seq["colony cat"] = best(a.repeat, lambda: sh([colony, "cat", "main:table.parquet"], cwd=ds, stdout=devnull))
        seq["curl (HTTP)"] = best(a.repeat, lambda: sh(["curl", "-sS", "--noproxy", "*", "-o", "/dev/null", url]))
        try:
            import boto3
            from botocore.config import Config
            s3 = boto3.client("s3", endpoint_url=g.url, aws_access_key_id="colony", aws_secret_access_key="x",
                              region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))

            def boto_read():
                body = s3.get_object(Bucket=g.bucket, Key="main/table.parquet")["Body"]
                while body.read(MiB):
                    pass
            seq["boto3 GetObject (S3)"] = best(a.repeat, boto_read)
        except ImportError:
            R["boto3"] = "not installed"
        try:
            import polars as pl
            opts = {"aws_endpoint_url": g.url, "aws_access_key_id": "colony", "aws_secret_access_key": "x",
                    "aws_region": "us-east-1", "aws_allow_http": "true"}
            R["polars_local_s"] = best(a.repeat, lambda: pl.read_parquet(table))
            R["polars_s3_s"] = best(a.repeat, lambda: pl.read_parquet(f"s3://{g.bucket}/main/table.parquet",
                                                                     storage_options=opts))
        except ImportError:
            R["polars"] = "not installed"
        R["sequential_s"] = seq

        # The files dataset: every file, cat vs one keep-alive curl.
        cfg = work / "read-bench-urls.txt"
        cfg.write_text("".join(f'url = "{g.url}/main/{q.relative_to(ds).as_posix()}"\noutput = "/dev/null"\n'
                               for q in files))
        R["files_s"] = {
            "cat (checkout)": best(a.repeat, lambda: sh(["cat", *map(str, files)], stdout=devnull)),
            "curl (HTTP)": best(a.repeat, lambda: sh(["curl", "-sS", "--noproxy", "*", "-K", str(cfg)])),
        }

        # Random 64 KiB reads of the table.
        rng = random.Random(a.seed)
        offsets = [rng.randrange(0, size - PIECE) for _ in range(a.random_reads)]
        fd = os.open(table, os.O_RDONLY)

        def preads(offs):
            for off in offs:
                assert len(os.pread(fd, PIECE, off)) == PIECE

        rnd = {}
        for threads in (1, 8):
            parts = [offsets[i::threads] for i in range(threads)]
            rnd[f"pread x{threads}"] = a.random_reads / best(a.repeat, lambda: list(
                cf.ThreadPoolExecutor(threads).map(preads, parts)))
            rnd[f"HTTP Range x{threads}"] = a.random_reads / best(a.repeat, lambda: list(
                cf.ThreadPoolExecutor(threads).map(
                    lambda o: http_get_ranges(g.host, g.port, "/main/table.parquet", o, []), parts)))
        os.close(fd)

        # The same reads through a FUSE mount of the revision. The kernel keeps a mounted
        # file's pages (FOPEN_KEEP_CACHE), so each cell below is one pass on a fresh mount:
        # every byte then comes through colony's verified reader, not the page cache.
        def on_fresh_mount(f):
            m = Mounted.start(colony, ds, work)
            if m is None:
                return None
            try:
                t = time.perf_counter()
                f(m.dir / "table.parquet")
                return time.perf_counter() - t
            finally:
                m.stop()

        t = on_fresh_mount(lambda mt: sh(["cat", str(mt)], stdout=devnull))
        if t is None:
            R["mount"] = "FUSE not available"
        else:
            seq["cat (mount, one pass)"] = t
            for threads in (1, 8):
                parts = [offsets[i::threads] for i in range(threads)]

                def mount_preads(mt, parts=parts):
                    mfd = os.open(mt, os.O_RDONLY)

                    def one(offs):
                        for off in offs:
                            assert len(os.pread(mfd, PIECE, off)) == PIECE
                    list(cf.ThreadPoolExecutor(len(parts)).map(one, parts))
                    os.close(mfd)
                rnd[f"mount pread x{threads}"] = a.random_reads / on_fresh_mount(mount_preads)
        R["random_reads_per_s"] = rnd
    finally:
        g.stop()

    # Peak RSS of a fresh gateway serving 8 whole-table readers at once.
    g = Gateway(colony, ds)
    try:
        base = g.peak_rss_mib()
        procs = [subprocess.Popen(["curl", "-sS", "--noproxy", "*", "-o", "/dev/null", f"{g.url}/main/table.parquet"])
                 for _ in range(8)]
        for q in procs:
            q.wait()
        R["rss_mib"] = {"idle": base, "peak, 8 readers": g.peak_rss_mib()}
    finally:
        g.stop()

    md = report(R)
    print(md)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for name in (f"read-bench-s{a.scale}-{stamp}", "read-bench-latest"):
        (work / f"{name}.md").write_text(md)
        (work / f"{name}.json").write_text(json.dumps(R, indent=2))
    return 0


def report(R: dict) -> str:
    size, L = R["table_bytes"], []
    L.append(f"# read-in-place benchmark (scale {R['scale']}, best of {R['repeat']}, {R['time']})\n")
    L.append(f"colony: `{R['colony']}`\n")
    L.append(f"## Sequential: the {size / MiB:.0f} MiB table file, whole\n")
    L.append("| reader | s | MiB/s | × cat |\n|---|---|---|---|")
    cat = R["sequential_s"]["cat (checkout)"]
    for k, s in R["sequential_s"].items():
        L.append(f"| {k} | {s:.3f} | {size / MiB / s:.0f} | {cat / s:.2f} |")
    if "polars_s3_s" in R:
        L.append(f"\npolars read_parquet: local file {R['polars_local_s']:.3f} s, over S3 {R['polars_s3_s']:.3f} s "
                 f"(× local {R['polars_local_s'] / R['polars_s3_s']:.2f})\n")
    fb = R["files_bytes"]
    L.append(f"## The files dataset: {R['files']} files, {fb / MiB:.0f} MiB\n")
    L.append("| reader | s | MiB/s | × cat |\n|---|---|---|---|")
    fcat = R["files_s"]["cat (checkout)"]
    for k, s in R["files_s"].items():
        L.append(f"| {k} | {s:.3f} | {fb / MiB / s:.0f} | {fcat / s:.2f} |")
    L.append("\n## Random 64 KiB reads of the table\n")
    L.append("| reader | reads/s | × pread (same threads) |\n|---|---|---|")
    rr = R["random_reads_per_s"]
    for k, v in rr.items():
        ref = rr["pread " + k.split()[-1]]
        L.append(f"| {k} | {v:.0f} | {v / ref:.2f} |")
    L.append("\n## Gateway memory\n")
    for k, v in R["rss_mib"].items():
        L.append(f"- {k}: {v:.0f} MiB")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
