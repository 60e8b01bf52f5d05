"""pandas, pyarrow, polars and Hugging Face `datasets` read an older revision through
colony:// and get exactly what a checkout of that revision holds.

    python3 readers.py DATASET EXPECTED_DIR REV
"""
import os
import sys
import tempfile

import fsspec
import pandas as pd
import polars as pl
import pyarrow.dataset as pads
import pyarrow.parquet as pq

ds, expected, rev = sys.argv[1:4]
opts = {"dataset": ds}
parquet_url = f"colony://{rev}/tables/points.parquet"
csv_url = f"colony://{rev}/tables/labels.csv"
want_parquet = pd.read_parquet(os.path.join(expected, "tables/points.parquet"))
want_csv = pd.read_csv(os.path.join(expected, "tables/labels.csv"))

# pandas, by URL: fsspec finds the filesystem through the package's entry point.
got = pd.read_parquet(parquet_url, storage_options=opts)
pd.testing.assert_frame_equal(got, want_parquet)
pd.testing.assert_frame_equal(pd.read_csv(csv_url, storage_options=opts), want_csv)
print("pandas ok", len(got))

# pyarrow: a dataset over the fsspec filesystem, and a ParquetFile over a file object.
fs = fsspec.filesystem("colony", dataset=ds)
assert type(fs).__module__ == "colony.fsspec", type(fs)
t = pads.dataset(f"{rev}/tables/points.parquet", filesystem=fs, format="parquet").to_table()
assert t.equals(pq.read_table(os.path.join(expected, "tables/points.parquet"))), "pyarrow.dataset"
with fs.open(f"{rev}/tables/points.parquet") as f:
    pf = pq.ParquetFile(f)
    assert pf.metadata.num_rows == len(want_parquet)
    assert pf.read_row_group(0).equals(pq.ParquetFile(os.path.join(expected, "tables/points.parquet")).read_row_group(0))
print("pyarrow ok", t.num_rows)

# polars, through fsspec file objects.
with fsspec.open(parquet_url, "rb", dataset=ds) as f:
    got_pl = pl.read_parquet(f)
assert got_pl.equals(pl.read_parquet(os.path.join(expected, "tables/points.parquet"))), "polars parquet"
with fsspec.open(csv_url, "rb", dataset=ds) as f:
    got_csv = pl.read_csv(f)
assert got_csv.equals(pl.read_csv(os.path.join(expected, "tables/labels.csv"))), "polars csv"
print("polars ok", got_pl.height)

# Hugging Face datasets: data_files as colony:// URLs, the dataset named by storage options.
with tempfile.TemporaryDirectory() as cache:
    import datasets

    hf = datasets.load_dataset(
        "parquet", data_files=parquet_url, storage_options=opts, cache_dir=cache, split="train"
    )
    pd.testing.assert_frame_equal(hf.to_pandas(), want_parquet)
    hf_csv = datasets.load_dataset(
        "csv", data_files=csv_url, storage_options=opts, cache_dir=cache, split="train"
    )
    pd.testing.assert_frame_equal(hf_csv.to_pandas(), want_csv)
    print("datasets ok", hf.num_rows)
