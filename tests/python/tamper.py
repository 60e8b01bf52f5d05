"""Stores a copy of run RUN_COMMIT's record with chain link STEP changed (the same
checkpoints), as a new run; prints its id. What a dishonest trainer would publish.

    python3 tamper.py DATASET RUN_COMMIT STEP
"""
import json
import sys

import colony
from colony import _native

ds, run_commit, step = sys.argv[1], sys.argv[2], int(sys.argv[3])
run = colony.open(ds).snapshot(run_commit)
record = json.loads(run.read_bytes("record.json"))
link = record["chain"][step]
record["chain"][step] = ("0" if link[0] != "0" else "1") + link[1:]
files = [(c["path"], run.read_bytes(c["path"])) for c in record["checkpoints"]]
canonical = _native.canonical_record(json.dumps(record).encode())
print(json.dumps(dict(zip(["id", "commit", "record_hash"], _native.write_run(ds, canonical, files)))))
