//! Two forks of the real penguins table shipped in PyPI `palmerpenguins`: fork A drops
//! rows and fixes values, fork B appends rows, adds a column and fixes another cell of a
//! row A also fixed. The three-way merge must give exactly the expected table, which an
//! independent Python script computes and compares using pyarrow.

mod common;

use colony_tables::{Strategy, TableSource, merge3, write_table_to_path};

/// Writes base.csv, a.csv, b.csv and expected.csv (plus Parquet copies) into argv[1].
const MAKE_FORKS: &str = r#"
import csv, os, sys
import palmerpenguins
import pyarrow as pa, pyarrow.csv as pacsv, pyarrow.parquet as pq

out = sys.argv[1]
src = os.path.join(os.path.dirname(palmerpenguins.__file__), "data", "penguins.csv")
with open(src, newline="") as f:
    rows = list(csv.reader(f))
header, body = ["id"] + rows[0], [[str(i + 1)] + r for i, r in enumerate(rows[1:])]
assert len(body) == 344, len(body)
col = {c: i for i, c in enumerate(header)}

def write(name, hdr, rs):
    with open(os.path.join(out, name + ".csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(hdr)
        w.writerows(rs)

# Fork A: drop the two all-NA rows and ids 100-104; fix values.
drop_a = {"4", "272", "100", "101", "102", "103", "104"}
fix_a = {("9", "sex"): "male", ("10", "sex"): "female", ("1", "body_mass_g"): "3755"}
a = [list(r) for r in body if r[0] not in drop_a]
for r in a:
    for (i, c), v in fix_a.items():
        if r[0] == i:
            r[col[c]] = v

# Fork B: add an `observer` column, fix the year of id 9, append three rows.
fix_b = {("9", "year"): "2008"}
b_header = header + ["observer"]
b = [list(r) + ["team-" + r[col["island"]].lower()] for r in body]
for r in b:
    for (i, c), v in fix_b.items():
        if r[0] == i:
            r[col[c]] = v
new_b = [
    ["345", "Chinstrap", "Dream", "47.1", "17.9", "195", "3800", "female", "2010", "team-new"],
    ["346", "Gentoo", "Biscoe", "49.9", "15.6", "222", "5400", "male", "2010", "team-new"],
    ["347", "Adelie", "Torgersen", "NA", "NA", "NA", "NA", "NA", "2010", "team-new"],
]
b += new_b

# Expected merge, computed independently: base order minus A's drops, A's and B's
# fixes, B's column, then B's new rows.
observer = {r[0]: r[-1] for r in b}
exp = []
for r in body:
    if r[0] in drop_a:
        continue
    r = list(r)
    for fixes in (fix_a, fix_b):
        for (i, c), v in fixes.items():
            if r[0] == i:
                r[col[c]] = v
    exp.append(r + [observer[r[0]]])
exp += new_b

write("base", header, body)
write("a", header, a)
write("b", b_header, b)
write("expected", b_header, exp)
for n in ("base", "a", "b", "expected"):
    pq.write_table(pacsv.read_csv(os.path.join(out, n + ".csv")), os.path.join(out, n + ".parquet"))
print(len(exp))
"#;

/// Compares argv[1] (merged) with argv[2] (expected), both CSV, cell text for cell text.
const CHECK_CSV: &str = r#"
import csv, sys
import pyarrow as pa, pyarrow.csv as pacsv

def read_text(path):
    with open(path, newline="") as f:
        cols = next(csv.reader(f))
    opts = pacsv.ConvertOptions(column_types={c: pa.string() for c in cols}, strings_can_be_null=False)
    return pacsv.read_csv(path, convert_options=opts)

got, want = read_text(sys.argv[1]), read_text(sys.argv[2])
if not got.equals(want):
    print("schema got", got.schema, "want", want.schema)
    g, w = got.to_pylist(), want.to_pylist()
    print("rows got", len(g), "want", len(w))
    for i, (x, y) in enumerate(zip(g, w)):
        if x != y:
            print("first difference at row", i, "got", x, "want", y)
            break
    sys.exit(1)
# Typed reading must work too.
typed = pacsv.read_csv(sys.argv[1])
print(typed.num_rows, typed.num_columns)
"#;

/// Compares argv[1] (merged Parquet) with argv[2] (expected Parquet) using pyarrow.
const CHECK_PARQUET: &str = r#"
import sys
import pyarrow.parquet as pq
got, want = pq.read_table(sys.argv[1]), pq.read_table(sys.argv[2])
if got.schema.names != want.schema.names:
    print("columns got", got.schema.names, "want", want.schema.names); sys.exit(1)
got = got.cast(want.schema)
if not got.equals(want):
    g, w = got.to_pylist(), want.to_pylist()
    print("rows got", len(g), "want", len(w))
    for i, (x, y) in enumerate(zip(g, w)):
        if x != y:
            print("first difference at row", i, "got", x, "want", y)
            break
    sys.exit(1)
print(got.num_rows)
"#;

#[test]
fn penguin_forks_merge_to_the_expected_table() {
    common::require_python(&["pyarrow", "palmerpenguins"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let n: usize = common::python(MAKE_FORKS, &[d]).trim().parse().unwrap();
    assert_eq!(n, 344 - 7 + 3);
    let key = vec!["id".to_string()];

    for ext in ["csv", "parquet"] {
        let p = |name: &str| dir.path().join(format!("{name}.{ext}"));
        let out = merge3(
            &TableSource::from_path(p("base")).unwrap(),
            &TableSource::from_path(p("a")).unwrap(),
            &TableSource::from_path(p("b")).unwrap(),
            &key,
            Strategy::Manual,
        )
        .unwrap();
        assert!(out.conflicts().is_empty(), "{ext}: {:?}", out.conflicts());
        assert!(
            out.schema_conflicts().is_empty(),
            "{ext}: {:?}",
            out.schema_conflicts()
        );
        let mut merged = out.into_table().unwrap();
        assert_eq!(merged.height(), n, "{ext}");
        let merged_path = p("merged");
        write_table_to_path(&mut merged, &merged_path, None).unwrap();
        let check = if ext == "csv" {
            CHECK_CSV
        } else {
            CHECK_PARQUET
        };
        common::python(
            check,
            &[
                merged_path.to_str().unwrap(),
                p("expected").to_str().unwrap(),
            ],
        );
    }
}
