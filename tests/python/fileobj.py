"""A file object over one file of a revision behaves like the checked-out file: random
seeks and reads (buffered and not), readinto, SEEK_END, reads past the end, threads.

    python3 fileobj.py DATASET EXPECTED_FILE REV PATH
"""
import io
import random
import sys
from concurrent.futures import ThreadPoolExecutor

import colony

ds, expected_file, rev, path = sys.argv[1:5]
want = open(expected_file, "rb").read()
snap = colony.open(ds).snapshot(rev)
rng = random.Random(7)

for buffering in (0, -1, 4096):
    with snap.open(path, buffering=buffering) as f:
        assert f.seekable() and f.readable() and not f.writable()
        assert f.read() == want, "whole read"
        assert f.read() == b"" and f.read(10) == b"", "at the end"
        for _ in range(300):
            off = rng.randrange(0, len(want) + 100)
            n = rng.choice([0, 1, 7, 4096, 65536, 300_000])
            assert f.seek(off) == off
            got = f.read(n)
            assert got == want[off : off + n], (buffering, off, n)
            assert f.tell() == off + len(got)
        f.seek(-10, io.SEEK_END)
        assert f.read() == want[-10:]
        f.seek(5)
        f.seek(3, io.SEEK_CUR)
        assert f.tell() == 8
        buf = bytearray(1000)
        assert f.readinto(buf) == 1000 and bytes(buf) == want[8:1008]
    assert f.closed

raw = snap.open(path, buffering=0)
assert isinstance(raw, colony.SnapshotFile) and raw.size == len(want)
assert raw.name == path and len(raw.hash) == 64
assert snap.read_bytes(path) == want
assert snap.read_range(path, len(want) - 3, 100) == want[-3:]


def chunk(i):
    off = (i * 104_729) % len(want)
    return snap.read_range(path, off, 200_000) == want[off : off + 200_000]


with ThreadPoolExecutor(8) as pool:
    assert all(pool.map(chunk, range(64))), "threads"
print("fileobj ok", len(want))
