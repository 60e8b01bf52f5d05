//! Row-level merges of tables between forks, driving the built binary: the real penguins
//! table of PyPI `palmerpenguins` (CSV and Parquet), JSON Lines, row conflicts resolved
//! both ways, missing keys, malformed tables, row diffs and SQL queries. Results are read
//! back with pyarrow.

mod common;
#[path = "pyhelp.rs"]
mod pyhelp;

use std::path::Path;

use common::*;

/// `origin DIR`: data/penguins.csv (an `id` column added in front) and .parquet.
/// `clean DIR`: drops the rows without `sex`, fixes two values.
/// `extend DIR`: adds a `colour_band` column, appends two rows, fixes a year.
/// `expected OUT`: the merge of clean and extend, computed here independently.
/// `set DIR ID COL VALUE`: changes one cell in both files.
const PENGUINS: &str = r#"
import csv, os, sys
import palmerpenguins
import pyarrow as pa, pyarrow.csv as pacsv, pyarrow.parquet as pq

mode, d = sys.argv[1], sys.argv[2]
src = os.path.join(os.path.dirname(palmerpenguins.__file__), "data", "penguins.csv")
with open(src, newline="") as f:
    raw = list(csv.reader(f))
HEADER = ["id"] + raw[0]
BASE = [[str(i + 1)] + r for i, r in enumerate(raw[1:])]
C = {c: i for i, c in enumerate(HEADER)}
FIX_CLEAN = {("1", "body_mass_g"): "3751", ("30", "flipper_length_mm"): "186"}
FIX_EXTEND = {("30", "year"): "2008"}
NEW_ROWS = [
    ["345", "Gentoo", "Biscoe", "50.2", "15.1", "220", "5350", "male", "2009"],
    ["346", "Chinstrap", "Dream", "46.9", "17.6", "193", "3650", "female", "2009"],
]
def band(i): return "band-" + str(int(i) % 5)

def paths(d):
    return os.path.join(d, "data", "penguins.csv"), os.path.join(d, "data", "penguins.parquet")

def read(d):
    with open(paths(d)[0], newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]

def save(d, header, rows):
    p, q = paths(d)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    pq.write_table(pacsv.read_csv(p), q)

def fix(rows, fixes, col):
    for r in rows:
        for (i, c), v in fixes.items():
            if r[0] == i:
                r[col[c]] = v

if mode == "origin":
    save(d, HEADER, BASE)
elif mode == "clean":
    h, rows = read(d)
    rows = [r for r in rows if r[C["sex"]] != "NA"]
    fix(rows, FIX_CLEAN, C)
    save(d, h, rows)
elif mode == "extend":
    h, rows = read(d)
    fix(rows, FIX_EXTEND, C)
    rows = [r + [band(r[0])] for r in rows] + [r + [band(r[0])] for r in NEW_ROWS]
    save(d, h + ["colour_band"], rows)
elif mode == "expected":
    rows = [list(r) for r in BASE if r[C["sex"]] != "NA"]
    fix(rows, FIX_CLEAN, C)
    fix(rows, FIX_EXTEND, C)
    rows = [r + [band(r[0])] for r in rows + [list(x) for x in NEW_ROWS]]
    save(d, HEADER + ["colour_band"], rows)
    print(len(rows))
elif mode == "set":
    i, c, v = sys.argv[3], sys.argv[4], sys.argv[5]
    h, rows = read(d)
    fix(rows, {(i, c): v}, {n: k for k, n in enumerate(h)})
    save(d, h, rows)
"#;

fn py(args: &[&str]) -> String {
    pyhelp::run(PENGUINS, args)
}

/// An origin with the penguins table (keys recorded), and two forks of it.
fn penguin_forks(top: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    pyhelp::require(&["palmerpenguins", "pyarrow"]);
    let a = top.join("origin");
    std::fs::create_dir_all(&a).unwrap();
    ok(&a, &["init"]);
    py(&["origin", a.to_str().unwrap()]);
    ok(&a, &["table", "key", "data/penguins.csv", "id"]);
    ok(&a, &["table", "key", "data/penguins.parquet", "id"]);
    commit_all(&a, "penguins");
    let (b, c) = (top.join("cleaners"), top.join("extenders"));
    ok(
        &a,
        &["fork", ".", b.to_str().unwrap(), "--name", "cleaners"],
    );
    ok(
        &a,
        &["fork", ".", c.to_str().unwrap(), "--name", "extenders"],
    );
    (a, b, c)
}

fn fetch_from(dst: &Path, name: &str, src: &Path) {
    ok(dst, &["remote", "add", name, src.to_str().unwrap()]);
    ok(dst, &["fetch", name]);
}

fn assert_same_table(got: &Path, want: &Path) {
    let (gc, gr) = pyhelp::read_table(got);
    let (wc, wr) = pyhelp::read_table(want);
    assert_eq!(gc, wc, "columns of {}", got.display());
    assert_eq!(gr.len(), wr.len(), "rows of {}", got.display());
    for (i, (g, w)) in gr.iter().zip(&wr).enumerate() {
        assert_eq!(g, w, "row {i} of {}", got.display());
    }
}

#[test]
fn penguin_forks_merge_row_by_row_to_the_expected_table() {
    let top = tempfile::tempdir().unwrap();
    let (_a, b, c) = penguin_forks(top.path());
    py(&["clean", b.to_str().unwrap()]);
    commit_all(&b, "drop penguins without sex, fix two values");
    py(&["extend", c.to_str().unwrap()]);
    commit_all(&c, "colour bands, two new penguins");

    fetch_from(&b, "ext", &c);
    let m = json(&b, &["merge", "ext/main"]);
    assert_eq!(m["result"], "merged", "{m}");
    for f in m["files"].as_array().unwrap() {
        assert_eq!(f["outcome"], "rows", "{m}");
    }
    let want = top.path().join("want");
    let n: usize = py(&["expected", want.to_str().unwrap()])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(n, 344 - 11 + 2);
    assert_same_table(
        &b.join("data/penguins.csv"),
        &want.join("data/penguins.csv"),
    );
    assert_same_table(
        &b.join("data/penguins.parquet"),
        &want.join("data/penguins.parquet"),
    );
    let log = json(&b, &["log", "-n", "1"]);
    assert_eq!(log[0]["parents"].as_array().unwrap().len(), 2);
    ok(&b, &["verify"]);
    assert!(ok(&b, &["status"]).contains("clean"));

    // Row diff of what the merge brought in, and SQL over a revision without checkout.
    let d = diff_json(&b, &["HEAD~1", "HEAD", "--rows", "--", "data/penguins.csv"]);
    assert_eq!(d["added"], 2, "{d}");
    assert_eq!(d["removed"], 0, "{d}");
    assert!(d["modified"].as_u64().unwrap() >= 1, "{d}");
    assert_eq!(d["schema"]["added"][0]["name"], "colour_band", "{d}");
    assert!(d["rows"]["added"].as_array().unwrap().len() == 2, "{d}");
    let d0 = diff_json(
        &b,
        &[
            "HEAD~1",
            "ext/main",
            "--key",
            "id",
            "--",
            "data/penguins.parquet",
        ],
    );
    assert_eq!(d0["added"], 2 + 11, "{d0}");
    let q = json(
        &b,
        &[
            "query",
            "HEAD",
            r#"SELECT count(*) AS n FROM "data/penguins.csv""#,
        ],
    );
    assert_eq!(q[0]["n"], n as u64, "{q}");
    let q = ok(
        &b,
        &[
            "query",
            "HEAD~1",
            r#"SELECT species, count(*) AS n FROM "data/penguins.parquet" GROUP BY species ORDER BY species"#,
            "--csv",
        ],
    );
    assert!(q.starts_with("species,n\nAdelie,"), "{q}");
}

/// `colony diff ARGS` with `--json` placed before the `--`.
fn diff_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["diff", "--json"];
    a.extend_from_slice(args);
    serde_json::from_str(&ok(dir, &a)).unwrap()
}

fn conflicting_forks(top: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (_a, b, c) = penguin_forks(top);
    let (bs, cs) = (b.to_str().unwrap(), c.to_str().unwrap());
    py(&["set", bs, "7", "body_mass_g", "1111"]);
    py(&["set", bs, "8", "island", "Dream"]);
    commit_all(&b, "b edits");
    py(&["set", cs, "7", "body_mass_g", "2222"]);
    py(&["set", cs, "8", "island", "Biscoe"]);
    py(&["set", cs, "9", "year", "2009"]);
    commit_all(&c, "c edits");
    fetch_from(&b, "c", &c);
    (b, c)
}

fn cell(path: &Path, id: &str, col: &str) -> Option<String> {
    let (cols, rows) = pyhelp::read_table(path);
    let ci = cols.iter().position(|c| c == col).unwrap();
    rows.iter().find(|r| r[0].as_deref() == Some(id)).unwrap()[ci].clone()
}

#[test]
fn row_conflicts_are_reported_by_key_and_resolved_both_ways() {
    let top = tempfile::tempdir().unwrap();
    let (b, _c) = conflicting_forks(top.path());
    let out = run(&b, &["merge", "c/main", "--json"]);
    assert!(!out.status.success());
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["result"], "conflicts", "{m}");
    let st = json(&b, &["status"]);
    assert_eq!(
        st["conflicts"],
        serde_json::json!(["data/penguins.csv", "data/penguins.parquet"])
    );

    let csv = "data/penguins.csv";
    let c = json(&b, &["conflicts", csv]);
    assert_eq!(c["kind"], "rows");
    assert_eq!(c["key"], serde_json::json!(["id"]));
    let keys: Vec<String> = c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let k = &r["key"]["id"];
            k.as_str().map_or_else(|| k.to_string(), str::to_string)
        })
        .collect();
    assert_eq!(keys, ["7", "8"]);
    let row7 = &c["rows"][0];
    assert_eq!(row7["ours"]["body_mass_g"], "1111", "{row7}");
    assert_eq!(row7["theirs"]["body_mass_g"], "2222", "{row7}");
    assert_eq!(row7["base"]["body_mass_g"], "3625", "{row7}");
    let text = ok(&b, &["conflicts", csv]);
    assert!(text.contains("1111") && text.contains("2222"), "{text}");

    // Row by row: 7 ours, 8 theirs.
    let r = json(&b, &["resolve", csv, "--row", "id=7", "--ours"]);
    assert_eq!(r["resolved"], false);
    assert_eq!(r["rows_left"], 1);
    assert!(fails(&b, &["resolve", csv, "--row", "id=99", "--ours"]).contains("id=99"));
    let r = json(&b, &["resolve", csv, "--row", "id=8", "--theirs"]);
    assert_eq!(r["resolved"], true, "{r}");
    // The whole Parquet table the other way.
    ok(&b, &["resolve", "data/penguins.parquet", "--theirs"]);
    ok(&b, &["merge", "--continue"]);
    let p = b.join(csv);
    assert_eq!(cell(&p, "7", "body_mass_g").as_deref(), Some("1111"));
    assert_eq!(cell(&p, "8", "island").as_deref(), Some("Biscoe"));
    assert_eq!(
        cell(&p, "9", "year").as_deref(),
        Some("2009"),
        "clean change kept"
    );
    let q = b.join("data/penguins.parquet");
    assert_eq!(cell(&q, "7", "body_mass_g").as_deref(), Some("2222"));
    assert_eq!(cell(&q, "8", "island").as_deref(), Some("Biscoe"));
    assert_eq!(cell(&q, "9", "year").as_deref(), Some("2009"));
    assert_eq!(pyhelp::read_table(&p).1.len(), 344);

    // The other way round, by strategy for the whole merge.
    let top = tempfile::tempdir().unwrap();
    let (b, _c) = conflicting_forks(top.path());
    let m = json(&b, &["merge", "c/main", "--strategy", "ours"]);
    assert_eq!(m["result"], "merged", "{m}");
    let p = b.join(csv);
    assert_eq!(cell(&p, "7", "body_mass_g").as_deref(), Some("1111"));
    assert_eq!(cell(&p, "8", "island").as_deref(), Some("Dream"));
    assert_eq!(cell(&p, "9", "year").as_deref(), Some("2009"));

    // Rows settled to the base version and deleted.
    let top = tempfile::tempdir().unwrap();
    let (b, _c) = conflicting_forks(top.path());
    assert!(!run(&b, &["merge", "c/main"]).status.success());
    assert!(fails(&b, &["resolve", csv, "--base"]).contains("--row"));
    let r = json(&b, &["resolve", csv, "--row", "id=7", "--base"]);
    assert_eq!(r["rows_left"], 1, "{r}");
    let r = json(&b, &["resolve", csv, "--row", "id=8", "--delete"]);
    assert_eq!(r["resolved"], true, "{r}");
    ok(&b, &["resolve", "data/penguins.parquet", "--ours"]);
    ok(&b, &["merge", "--continue"]);
    let p = b.join(csv);
    assert_eq!(cell_opt(&p, "7", "body_mass_g"), Some(Some("3625".into())));
    assert_eq!(cell_opt(&p, "8", "island"), None, "row 8 deleted");
    assert_eq!(cell(&p, "9", "year").as_deref(), Some("2009"));
    assert_eq!(pyhelp::read_table(&p).1.len(), 343);
}

fn cell_opt(path: &Path, id: &str, col: &str) -> Option<Option<String>> {
    let (cols, rows) = pyhelp::read_table(path);
    let ci = cols.iter().position(|c| c == col).unwrap();
    rows.iter()
        .find(|r| r[0].as_deref() == Some(id))
        .map(|r| r[ci].clone())
}

#[test]
fn switching_is_refused_and_reset_ends_a_merge_in_progress() {
    let top = tempfile::tempdir().unwrap();
    let (b, _c) = conflicting_forks(top.path());
    ok(&b, &["branch", "other"]);
    assert!(!run(&b, &["merge", "c/main"]).status.success());
    let err = fails(&b, &["switch", "other"]);
    assert!(err.contains("merge --abort"), "{err}");
    assert!(fails(&b, &["reset", "--soft", "HEAD"]).contains("merge"));
    ok(&b, &["reset", "--hard", "HEAD"]);
    let st = json(&b, &["status"]);
    assert_eq!(st["conflicts"], serde_json::json!([]), "{st}");
    assert!(st["merging"].is_null(), "{st}");
    ok(&b, &["switch", "other"]);
    ok(&b, &["merge", "c/main", "--strategy", "theirs"]);
}

fn small_tables(d: &Path, name: &str, rows: &[(i64, &str, i64)]) {
    let mut csv = String::from("k,name,n\n");
    let mut jsonl = String::new();
    for (k, s, n) in rows {
        csv.push_str(&format!("{k},{s},{n}\n"));
        jsonl.push_str(&format!("{{\"k\":{k},\"name\":\"{s}\",\"n\":{n}}}\n"));
    }
    write(d, &format!("{name}.csv"), csv.as_bytes());
    write(d, &format!("{name}.jsonl"), jsonl.as_bytes());
    pyhelp::run(
        "import sys, pyarrow.csv as c, pyarrow.parquet as q; q.write_table(c.read_csv(sys.argv[1]), sys.argv[2])",
        &[
            d.join(format!("{name}.csv")).to_str().unwrap(),
            d.join(format!("{name}.parquet")).to_str().unwrap(),
        ],
    );
}

#[test]
fn parquet_csv_and_json_lines_merge_by_row() {
    pyhelp::require(&["pyarrow"]);
    let d = dataset();
    let p = d.path();
    let base = [
        (1, "a", 10),
        (2, "b", 20),
        (3, "c", 30),
        (4, "d", 40),
        (5, "e", 50),
    ];
    small_tables(p, "t", &base);
    commit_all(p, "base");
    ok(p, &["switch", "-c", "theirs"]);
    small_tables(
        p,
        "t",
        &[
            (1, "a", 10),
            (2, "b", 20),
            (3, "c", 33),
            (4, "d", 40),
            (5, "e", 50),
            (6, "f", 60),
        ],
    );
    commit_all(p, "theirs: change 3, add 6");
    ok(p, &["switch", "main"]);
    small_tables(
        p,
        "t",
        &[(1, "a", 10), (2, "B", 20), (3, "c", 30), (4, "d", 40)],
    );
    commit_all(p, "ours: change 2, drop 5");
    let m = json(p, &["merge", "theirs", "--key", "k"]);
    assert_eq!(m["result"], "merged", "{m}");
    let want: Vec<Vec<Option<String>>> = [
        (1, "a", 10),
        (2, "B", 20),
        (3, "c", 33),
        (4, "d", 40),
        (6, "f", 60),
    ]
    .iter()
    .map(|(k, s, n)| {
        vec![
            Some(k.to_string()),
            Some(s.to_string()),
            Some(n.to_string()),
        ]
    })
    .collect();
    for ext in ["csv", "jsonl", "parquet"] {
        let (cols, rows) = pyhelp::read_table(&p.join(format!("t.{ext}")));
        assert_eq!(cols, ["k", "name", "n"], "{ext}");
        assert_eq!(rows, want, "{ext}");
    }
}

#[test]
fn a_table_without_key_or_malformed_changes_nothing() {
    pyhelp::require(&["pyarrow"]);
    let d = dataset();
    let p = d.path();
    small_tables(p, "t", &[(1, "a", 10), (2, "b", 20)]);
    commit_all(p, "base");
    ok(p, &["switch", "-c", "theirs"]);
    small_tables(p, "t", &[(1, "a", 11), (2, "b", 20)]);
    commit_all(p, "theirs");
    ok(p, &["switch", "main"]);
    small_tables(p, "t", &[(1, "a", 10), (2, "b", 22)]);
    commit_all(p, "ours");
    let snapshot = || {
        (
            tree(p),
            std::fs::read(p.join(".colony/index")).unwrap(),
            ok(p, &["log", "-n", "1"]),
        )
    };
    let before = snapshot();

    let err = fails(p, &["merge", "theirs"]);
    assert!(
        err.contains("--key") && err.contains("colony table key"),
        "{err}"
    );
    assert_eq!(snapshot(), before);
    assert!(!p.join(".colony/merge").exists());

    // A malformed Parquet file on their side: a clear error, nothing changed.
    ok(p, &["switch", "theirs"]);
    write(
        p,
        "t.parquet",
        b"PAR1 this is not a parquet file at all PAR1",
    );
    ok(p, &["commit", "-a", "-m", "broken"]);
    ok(p, &["switch", "main"]);
    let before = snapshot();
    let err = fails(p, &["merge", "theirs", "--key", "k"]);
    assert!(
        err.contains("t.parquet") && err.to_lowercase().contains("malformed"),
        "{err}"
    );
    assert_eq!(snapshot(), before);
    assert!(!p.join(".colony/merge").exists());
    assert!(ok(p, &["status"]).contains("clean"));
}

/// `write FILE VERSION`: 2000 rows in row groups of 200, as pyarrow writes them;
/// `base`, `ours` (values of ids 450..460 changed, ids 5000..5010 appended) or `theirs`
/// (labels of ids 1500..1505 changed, ids 6000..6005 appended).
/// `check FILE`: the merged table must be the expected one; prints the row counts of
/// its row groups.
const ROW_GROUPS: &str = r#"
import sys
import pyarrow as pa, pyarrow.parquet as pq

def version(name):
    rows = [(k, k * 1.5, "s%d" % (k % 7)) for k in range(2000)]
    if name in ("ours", "merged"):
        rows = [(k, v + 1000 if 450 <= k < 460 else v, s) for k, v, s in rows]
        rows += [(k, 0.5, "ours") for k in range(5000, 5010)]
    if name in ("theirs", "merged"):
        rows = [(k, v, "edited" if 1500 <= k < 1505 else s) for k, v, s in rows]
        rows += [(k, 0.25, "theirs") for k in range(6000, 6005)]
    return pa.table({"k": [r[0] for r in rows], "v": [r[1] for r in rows], "s": [r[2] for r in rows]})

mode, path = sys.argv[1], sys.argv[2]
if mode == "write":
    pq.write_table(version(sys.argv[3]), path, row_group_size=200)
else:
    got = pq.read_table(path)
    want = version("merged")
    assert got.column_names == want.column_names, got.schema
    assert got.to_pylist() == want.to_pylist(), (got.num_rows, want.num_rows)
    meta = pq.ParquetFile(path).metadata
    print(" ".join(str(meta.row_group(i).num_rows) for i in range(meta.num_row_groups)))
"#;

#[test]
fn a_parquet_merge_copies_the_row_groups_neither_side_changed() {
    pyhelp::require(&["pyarrow"]);
    let d = dataset();
    let p = d.path();
    let file = p.join("big.parquet");
    let f = file.to_str().unwrap();
    pyhelp::run(ROW_GROUPS, &["write", f, "base"]);
    commit_all(p, "base");
    ok(p, &["table", "key", "big.parquet", "k"]);
    ok(p, &["switch", "-c", "theirs"]);
    pyhelp::run(ROW_GROUPS, &["write", f, "theirs"]);
    commit_all(p, "theirs: relabel 5 rows, append 5");
    ok(p, &["switch", "main"]);
    pyhelp::run(ROW_GROUPS, &["write", f, "ours"]);
    commit_all(p, "ours: change 10 values, append 10");

    // The diff decodes only the row groups that differ, and counts what changed.
    let d1 = diff_json(p, &["HEAD~1", "HEAD", "--", "big.parquet"]);
    assert_eq!(d1["added"], 10, "{d1}");
    assert_eq!(d1["removed"], 0, "{d1}");
    assert_eq!(d1["modified"], 10, "{d1}");
    assert_eq!(d1["base_rows"], 2000, "{d1}");

    let m = json(p, &["merge", "theirs"]);
    assert_eq!(m["result"], "merged", "{m}");
    let groups = pyhelp::run(ROW_GROUPS, &["check", f]);
    // Row groups that neither side changed come over as pyarrow wrote them (200 rows
    // each); the rest are written afresh.
    let copied = groups.split_whitespace().filter(|n| *n == "200").count();
    assert!(copied >= 8, "row groups of the merged file: {groups}");
    ok(p, &["fsck"]);
}
