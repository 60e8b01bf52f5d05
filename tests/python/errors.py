"""Bad requests raise Python exceptions of the built-in kinds Python code catches, with
colony's message and hint; prints them as JSON for the test to compare with the CLI.

    python3 errors.py DATASET NOT_A_DATASET
"""
import json
import sys

import fsspec

import colony

ds_path, elsewhere = sys.argv[1:3]
ds = colony.open(ds_path)
snap = ds.snapshot("main")
fs = fsspec.filesystem("colony", dataset=ds_path)
out = {}


def case(name, fn, *expected):
    try:
        fn()
    except BaseException as e:  # noqa: BLE001 - the point is to see what it is
        for cls in expected:
            assert isinstance(e, cls), f"{name}: {type(e).__mro__} is not a {cls}"
        assert isinstance(e, colony.ColonyError), f"{name}: {e!r}"
        out[name] = {"class": type(e).__name__, "message": e.message, "hint": e.hint, "str": str(e),
                     "errno": getattr(e, "errno", None)}
        return
    raise AssertionError(f"{name}: no exception")


case("not_a_dataset", lambda: colony.open(elsewhere), colony.NotADataset, FileNotFoundError)
case("unknown_revision", lambda: ds.snapshot("no-such-rev"), colony.RevisionNotFound, LookupError)
case("missing_path", lambda: snap.open("nope.txt"), colony.PathNotFound, FileNotFoundError)
case("escape", lambda: snap.read_bytes("../../etc/passwd"), colony.InvalidPath, ValueError)
case("absolute", lambda: snap.stat("/etc/passwd"), colony.InvalidPath, ValueError)
case("folder", lambda: snap.open("tables"), colony.IsAFolder, IsADirectoryError)
case("not_folder", lambda: snap.ls("tables/labels.csv"), colony.NotAFolder, NotADirectoryError)
case("write_open", lambda: snap.open("tables/labels.csv", "wb"), colony.ReadOnly, PermissionError)
case("fsspec_write", lambda: fs.open("main/new.txt", "wb"), colony.ReadOnly, PermissionError)
case("fsspec_rm", lambda: fs.rm("main/tables/labels.csv"), colony.ReadOnly)
case("fsspec_missing", lambda: fs.cat_file("main/absent.bin"), FileNotFoundError)
case("fsspec_bad_rev", lambda: fs.info("no-such-rev/x"), LookupError)
# The server-side of a hostile request: nothing was read, and the handle still works.
assert snap.read_bytes("tables/labels.csv").startswith(b'"name"')
print(json.dumps(out))
