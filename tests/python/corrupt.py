"""A corrupt shard: reading a file it holds raises CorruptData naming the shard and the
file, returns no byte; the other files read correctly. Prints the exception as JSON.

    python3 corrupt.py DATASET VICTIM OTHER OTHER_EXPECTED
"""
import json
import sys

import colony

ds, victim, other, other_expected = sys.argv[1:5]
snap = colony.open(ds).snapshot("HEAD")
seen = {}
for how, read in [
    ("read_bytes", lambda: snap.read_bytes(victim)),
    ("range", lambda: snap.read_range(victim, 1000, 5000)),
    ("file", lambda: snap.open(victim).read()),
]:
    try:
        got = read()
    except colony.CorruptData as e:
        assert isinstance(e, OSError) and e.errno == 5, repr(e)
        seen[how] = {"message": e.message, "hint": e.hint}
    else:
        raise AssertionError(f"{how}: returned {len(got)} bytes of a corrupt file")
assert snap.read_bytes(other) == open(other_expected, "rb").read()
print(json.dumps(seen))
