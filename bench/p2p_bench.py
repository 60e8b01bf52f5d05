#!/usr/bin/env python3
"""Replication benchmark: see p2p-bench.sh. Each tool moves the same bytes over loopback;
peak RSS comes from /usr/bin/time -v around each end."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
WORK = BENCH / "work" / "p2p"
COLONY = os.environ.get("COLONY_BIN", "colony")
SENDME = os.environ.get("SENDME_BIN", "sendme")
MiB = 1 << 20


def log(*a):
    print("[p2p-bench]", *a, file=sys.stderr, flush=True)


def timed(cmd, cwd=None, env=None, stdout=subprocess.PIPE, stderr=None):
    """Starts cmd under /usr/bin/time -v; returns the Popen and the time log path."""
    tlog = WORK / f"time-{time.time_ns()}.txt"
    p = subprocess.Popen(["/usr/bin/time", "-v", "-o", str(tlog), *cmd], cwd=cwd, env=env,
                         stdout=stdout, stderr=stderr, text=True)
    return p, tlog


def peak_rss_mib(tlog: Path) -> float:
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", tlog.read_text())
    return int(m.group(1)) / 1024 if m else float("nan")


def stop(p):
    """SIGINT the command under `time` (so `time` still reports), then SIGTERM it (a
    background job ignores SIGINT), then wait."""
    kids = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
    for sig in (signal.SIGINT, signal.SIGTERM):
        for c in kids:
            try:
                os.kill(int(c), sig)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            pass
    p.kill()
    p.wait()


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def colony(args, cwd):
    r = subprocess.run([COLONY, *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"colony {args} failed: {r.stderr}")
    return r.stdout


def prepare(scale: float) -> tuple[Path, Path]:
    data = WORK / "data"
    subprocess.run([sys.executable, str(BENCH / "gen.py"), "--out", str(data), "--scale", str(scale),
                    "--only", "files"], check=True)
    files = data / f"s{scale:g}" / "files"
    if not files.exists():
        files = data / "files"
    src = WORK / f"src-{scale}"
    if not (src / ".ready").exists():
        shutil.rmtree(src, ignore_errors=True)
        src.mkdir(parents=True)
        colony(["init"], src)
        shutil.copytree(files, src / "files")
        t = time.time()
        colony(["add", "."], src)
        colony(["commit", "-m", "bench"], src)
        (src / ".ready").write_text("ok")
        log(f"source dataset ready in {time.time() - t:.1f}s")
    return files, src


def bench_colony(src: Path) -> dict:
    shards = du(src / ".colony" / "shards")
    env = dict(os.environ)
    serve, slog = timed([COLONY, "serve", "--no-relay", "--bind", "127.0.0.1:0", "--json"], cwd=src,
                        stderr=open(WORK / "serve.log", "w"))
    ticket = json.loads(serve.stdout.readline())["ticket"]
    dst = WORK / "colony-dst"
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir()
    colony(["init"], dst)
    colony(["remote", "add", "origin", ticket], dst)
    t = time.time()
    p, clog = timed([COLONY, "fetch", "origin", "--json", "--quiet"], cwd=dst, env=env)
    out, _ = p.communicate()
    secs = time.time() - t
    if p.returncode != 0:
        raise SystemExit(f"colony fetch failed: {out}")
    # Resume: a second clone killed halfway through, then run again.
    dst2 = WORK / "colony-dst2"
    shutil.rmtree(dst2, ignore_errors=True)
    dst2.mkdir()
    colony(["init"], dst2)
    colony(["remote", "add", "origin", ticket], dst2)
    sent_before = sent_bytes()
    k = subprocess.Popen([COLONY, "fetch", "origin", "--quiet"], cwd=dst2)
    tmp = dst2 / ".colony" / "shards" / "tmp"
    target = shards // 2
    while k.poll() is None:
        got = du(dst2 / ".colony" / "shards")
        if got >= target:
            k.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    k.wait()
    at_kill = du(dst2 / ".colony" / "shards")
    first = sent_bytes() - sent_before
    mid = sent_bytes()
    again = subprocess.run([COLONY, "fetch", "origin", "--json", "--quiet"], cwd=dst2, check=True,
                           capture_output=True, text=True)
    resent = sent_bytes() - mid
    received = json.loads(again.stdout)["moved"]  # the receiver's own count
    stop(serve)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.rmtree(dst2, ignore_errors=True)
    return dict(tool="colony", bytes=shards, secs=secs, mbps=shards / secs / 1e6,
                rss_send=peak_rss_mib(slog), rss_recv=peak_rss_mib(clog),
                resume=dict(at_kill=at_kill, first_run_sent=first, second_run_sent=resent,
                            second_run_received=received,
                            missing=shards - at_kill,
                            resent_beyond_missing=resent - (shards - at_kill)))


def sent_bytes() -> int:
    text = (WORK / "serve.log").read_text()
    return sum(int(m) for m in re.findall(r"^sent shard \S+ from byte \d+: (\d+) bytes", text, re.M))


def bench_sendme(files: Path) -> dict | None:
    if not Path(SENDME).exists():
        return None
    nbytes = du(files)
    # Offline like colony's side: no relay, a ticket with direct addresses only.
    send, slog = timed([SENDME, "send", "--relay", "disabled", "--ticket-type", "addresses",
                        "--no-progress", str(files)], cwd=WORK, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    ticket = None
    deadline = time.time() + 600
    while time.time() < deadline:
        line = send.stdout.readline()
        if not line:
            break
        m = re.search(r"(blob[a-z0-9]{20,})", line)
        if m:
            ticket = m.group(1)
            break
    if not ticket:
        stop(send)
        log("sendme printed no ticket")
        return None
    threading.Thread(target=lambda: send.stdout.read(), daemon=True).start()
    rdir = WORK / "sendme-dst"
    shutil.rmtree(rdir, ignore_errors=True)
    rdir.mkdir()
    t = time.time()
    p, rlog = timed([SENDME, "receive", "--relay", "disabled", "--no-progress", ticket], cwd=rdir,
                    stdout=subprocess.DEVNULL, stderr=open(WORK / "sendme-recv.log", "w"))
    p.wait()
    secs = time.time() - t
    stop(send)
    got = du(rdir)
    if p.returncode != 0 or got != nbytes:
        log(f"sendme receive exited {p.returncode} with {got} of {nbytes} bytes")
    shutil.rmtree(rdir, ignore_errors=True)
    for d in WORK.glob(".sendme-send-*"):
        shutil.rmtree(d, ignore_errors=True)
    return dict(tool="sendme", bytes=nbytes, secs=secs, mbps=nbytes / secs / 1e6,
                rss_send=peak_rss_mib(slog), rss_recv=peak_rss_mib(rlog), ok=p.returncode == 0)


def bench_tcp(src: Path) -> dict:
    """Raw TCP: one connection carries the shard files, written to one file."""
    files = sorted(f for f in (src / ".colony" / "shards").rglob("*.shard"))
    nbytes = sum(f.stat().st_size for f in files)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    send_code = ("import socket,sys\n"
                 "s=socket.create_connection(('127.0.0.1',int(sys.argv[1])))\n"
                 "for f in sys.argv[2:]:\n"
                 "    with open(f,'rb') as fh: s.sendfile(fh)\n"
                 "s.close()\n")
    recv_code = ("import socket,sys\n"
                 "srv=socket.socket();srv.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                 "srv.bind(('127.0.0.1',int(sys.argv[1])));srv.listen(1);print('ready',flush=True)\n"
                 "c,_=srv.accept();out=open(sys.argv[2],'wb');b=bytearray(1<<20);m=memoryview(b)\n"
                 "while True:\n"
                 "    n=c.recv_into(b)\n"
                 "    if not n: break\n"
                 "    out.write(m[:n])\n"
                 "out.close()\n")
    srv.close()
    out = WORK / "tcp-dst.bin"
    r, rlog = timed([sys.executable, "-c", recv_code, str(port), str(out)])
    r.stdout.readline()
    t = time.time()
    s, slog = timed([sys.executable, "-c", send_code, str(port), *map(str, files)])
    s.wait()
    r.wait()
    secs = time.time() - t
    out.unlink(missing_ok=True)
    return dict(tool="raw TCP (python sendfile)", bytes=nbytes, secs=secs, mbps=nbytes / secs / 1e6,
                rss_send=peak_rss_mib(slog), rss_recv=peak_rss_mib(rlog))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--tools", default="colony,sendme,tcp")
    a = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    files, src = prepare(a.scale)
    tools = a.tools.split(",")
    rows = []
    if "colony" in tools:
        rows.append(bench_colony(src))
        log(rows[-1])
    if "sendme" in tools:
        r = bench_sendme(files)
        if r:
            rows.append(r)
            log(rows[-1])
    if "tcp" in tools:
        rows.append(bench_tcp(src))
        log(rows[-1])
    cpus = os.cpu_count()
    md = [f"Loopback, `files` dataset at --scale {a.scale}, {cpus} CPUs visible "
          f"(shared with other work), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
          "", "| tool | bytes on the wire | seconds | wire MB/s | dataset MB/s | peak RSS sender (MiB) | "
          "peak RSS receiver (MiB) |",
          "|---|---:|---:|---:|---:|---:|---:|"]
    payload = du(files)
    for r in rows:
        md.append(f"| {r['tool']} | {r['bytes'] / MiB:.0f} MiB | {r['secs']:.1f} | {r['mbps']:.0f} | "
                  f"{payload / r['secs'] / 1e6:.0f} | {r['rss_send']:.0f} | {r['rss_recv']:.0f} |")
    md += ["", f"dataset MB/s: the {payload / MiB:.0f} MiB of files delivered per second (colony "
           "moves compressed shards, sendme and TCP the raw bytes)."]
    for r in rows:
        if "resume" in r:
            x = r["resume"]
            md += ["", f"Resume: fetch killed (SIGKILL) with {x['at_kill'] / MiB:.1f} MiB of shards on "
                   f"disk; the re-run was sent {x['second_run_sent'] / MiB:.1f} MiB (receiver's count: "
                   f"{x['second_run_received'] / MiB:.1f} MiB) for "
                   f"{x['missing'] / MiB:.1f} MiB missing (re-sent beyond the missing part: "
                   f"{x['resent_beyond_missing'] / MiB:.2f} MiB; at most one shard = 64 MiB allowed)."]
    text = "\n".join(md)
    print(text)
    (BENCH / "work" / "p2p-bench-latest.md").write_text(text + "\n")
    (BENCH / "work" / "p2p-bench-latest.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
