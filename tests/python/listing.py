"""History, names and listings as Python sees them, printed as JSON for the test to
compare with the CLI's --json output.

    python3 listing.py DATASET REV
"""
import json
import sys

import fsspec

import colony

ds_path, rev = sys.argv[1:3]
ds = colony.open(ds_path)
snap = ds.snapshot(rev)
fs = fsspec.filesystem("colony", dataset=ds_path)
print(json.dumps({
    "root": ds.root,
    "log": ds.log(),
    "log_rev": ds.log(rev, max_count=1),
    "branches": ds.branches(),
    "tags": ds.tags(),
    "snapshot": {"commit": snap.commit, "root": snap.root, "revision": snap.revision},
    "ls_top": snap.ls(),
    "ls_recursive": snap.ls("", recursive=True),
    "stat": snap.stat("tables/labels.csv"),
    "exists": [snap.exists("tables"), snap.exists("absent")],
    "fs_top": fs.ls("", detail=False),
    "fs_rev": fs.ls(rev, detail=False),
    "fs_find": fs.find(f"{rev}/tables"),
    "fs_info": fs.info(f"{rev}/tables/labels.csv"),
    "fs_ukey": fs.ukey(f"{rev}/tables/labels.csv"),
    "fs_range": fs.cat_file(f"{rev}/tables/labels.csv", start=0, end=6).decode(),
    "fs_exists": [fs.exists(f"{rev}/tables/labels.csv"), fs.exists(f"{rev}/nope"), fs.exists("no-such-rev/x")],
}))
