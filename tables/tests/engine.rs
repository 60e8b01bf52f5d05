//! Row conflicts, merges in every format, errors, diff counts and SQL.

mod common;

use colony_tables::polars::prelude::*;
use colony_tables::{
    DiffOptions, OutputFormat, Resolution, RowConflictKind, SchemaConflictKind, Strategy,
    TableError, TableFormat, TableSource, diff, merge3, query, render, table_to_bytes,
};

fn key() -> Vec<String> {
    vec!["id".to_string()]
}

fn csv(name: &str, text: &str) -> TableSource {
    TableSource::from_bytes(name, text.as_bytes().to_vec()).unwrap()
}

const BASE: &str = "id,name,score\n1,a,10\n2,b,20\n3,c,30\n4,d,40\n5,e,50\n";
// Ours: 2.score -> 21, 3.name -> cc, 4 deleted, 6 added.
const OURS: &str = "id,name,score\n1,a,10\n2,b,21\n3,cc,30\n5,e,50\n6,f,60\n";
// Theirs: 2.score -> 22 (conflict), 3.score -> 33 (cell merge), 4.score -> 44
// (modify/delete conflict), 5 deleted, 7 added.
const THEIRS: &str = "id,name,score\n1,a,10\n2,b,22\n3,c,33\n4,d,44\n7,g,70\n";

fn text_rows(df: &DataFrame) -> Vec<String> {
    String::from_utf8(table_to_bytes(&mut df.clone(), TableFormat::Csv).unwrap())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn row_conflicts_are_reported_with_their_keys_and_resolved_both_ways() {
    let (b, o, t) = (csv("t.csv", BASE), csv("t.csv", OURS), csv("t.csv", THEIRS));
    let out = merge3(&b, &o, &t, &key(), Strategy::Manual).unwrap();
    let keys: Vec<_> = out
        .conflicts()
        .iter()
        .map(|c| c.key["id"].clone())
        .collect();
    assert_eq!(keys, vec![serde_json::json!("2"), serde_json::json!("4")]);
    let c2 = &out.conflicts()[0];
    assert_eq!(c2.kind, RowConflictKind::BothModified);
    assert_eq!(c2.columns, vec!["score".to_string()]);
    assert_eq!(c2.base.as_ref().unwrap()["score"], "20");
    assert_eq!(c2.ours.as_ref().unwrap()["score"], "21");
    assert_eq!(c2.theirs.as_ref().unwrap()["score"], "22");
    let c4 = &out.conflicts()[1];
    assert_eq!(c4.kind, RowConflictKind::OursDeletedTheirsModified);
    assert!(c4.ours.is_none());
    assert_eq!(c4.columns, vec!["score".to_string()]);
    let json = serde_json::to_value(out.conflicts()).unwrap();
    assert_eq!(json[0]["key"]["id"], "2");
    assert!(!out.is_clean());
    assert!(matches!(
        out.clone().into_table(),
        Err(TableError::Unresolved { rows: 2, .. })
    ));
    assert_eq!(out.settled_rows().unwrap().height(), 4);

    let ours = out.clone().resolve(|_| Resolution::Ours).unwrap();
    assert_eq!(
        text_rows(&ours),
        [
            "id,name,score",
            "1,a,10",
            "2,b,21",
            "3,cc,33",
            "6,f,60",
            "7,g,70"
        ]
    );
    let theirs = out.clone().resolve(|_| Resolution::Theirs).unwrap();
    assert_eq!(
        text_rows(&theirs),
        [
            "id,name,score",
            "1,a,10",
            "2,b,22",
            "3,cc,33",
            "4,d,44",
            "6,f,60",
            "7,g,70"
        ]
    );
    // Strategies settle the same way as resolving every row.
    let s_ours = merge3(&b, &o, &t, &key(), Strategy::Ours)
        .unwrap()
        .into_table()
        .unwrap();
    assert_eq!(text_rows(&s_ours), text_rows(&ours));
    let s_theirs = merge3(&b, &o, &t, &key(), Strategy::Theirs)
        .unwrap()
        .into_table()
        .unwrap();
    assert_eq!(text_rows(&s_theirs), text_rows(&theirs));

    // Per row: a hand-written row for 2, base for 4.
    let row = df!("id" => ["2"], "name" => ["b"], "score" => ["25"]).unwrap();
    let mixed = out
        .resolve(|c| match c.key["id"].as_str() {
            Some("2") => Resolution::Row(row.clone()),
            _ => Resolution::Base,
        })
        .unwrap();
    assert_eq!(
        text_rows(&mixed),
        [
            "id,name,score",
            "1,a,10",
            "2,b,25",
            "3,cc,33",
            "4,d,40",
            "6,f,60",
            "7,g,70"
        ]
    );
}

#[test]
fn rows_added_on_both_sides_conflict_unless_identical() {
    let b = csv("t.csv", "id,v\n1,x\n");
    let o = csv("t.csv", "id,v\n1,x\n2,same\n3,mine\n");
    let t = csv("t.csv", "id,v\n1,x\n3,yours\n2,same\n");
    let out = merge3(&b, &o, &t, &key(), Strategy::Manual).unwrap();
    assert_eq!(out.conflicts().len(), 1);
    assert_eq!(out.conflicts()[0].kind, RowConflictKind::BothAdded);
    assert_eq!(out.conflicts()[0].key["id"], "3");
    let merged = out.resolve(|_| Resolution::Theirs).unwrap();
    assert_eq!(text_rows(&merged), ["id,v", "1,x", "2,same", "3,yours"]);
}

fn typed_versions() -> (DataFrame, DataFrame, DataFrame) {
    let base = df!(
        "id" => [1i64, 2, 3, 4],
        "x" => [1.5f64, 2.5, 3.5, 4.5],
        "tag" => ["a", "b", "c", "d"]
    )
    .unwrap();
    // Ours: edits x of 2, deletes 3, adds column `note`.
    let ours = df!(
        "id" => [1i64, 2, 4],
        "x" => [1.5f64, 20.5, 4.5],
        "tag" => ["a", "b", "d"],
        "note" => [Some("n1"), None, Some("n4")]
    )
    .unwrap();
    // Theirs: edits tag of 2, appends 5, adds column `flag`.
    let theirs = df!(
        "id" => [1i64, 2, 3, 4, 5],
        "x" => [1.5f64, 2.5, 3.5, 4.5, 5.5],
        "tag" => ["a", "B", "c", "d", "e"],
        "flag" => [true, false, true, false, true]
    )
    .unwrap();
    (base, ours, theirs)
}

const CHECK_FORMAT: &str = r#"
import sys, json
import pyarrow as pa, pyarrow.parquet as pq, pyarrow.csv as pacsv, pyarrow.json as pajson
path, fmt = sys.argv[1], sys.argv[2]
t = {"parquet": pq.read_table, "csv": pacsv.read_csv, "jsonl": pajson.read_json}[fmt](path)
print(json.dumps({"columns": t.schema.names, "rows": t.to_pylist()}))
"#;

#[test]
fn merges_parquet_csv_and_json_lines() {
    common::require_python(&["pyarrow"]);
    let dir = tempfile::tempdir().unwrap();
    for format in [
        TableFormat::Parquet,
        TableFormat::Csv,
        TableFormat::JsonLines,
    ] {
        let (b, o, t) = typed_versions();
        let mut srcs = Vec::new();
        for (name, mut df) in [("base", b), ("ours", o), ("theirs", t)] {
            let path = dir.path().join(format!("{name}.{}", format.extension()));
            colony_tables::write_table_to_path(&mut df, &path, None).unwrap();
            let src = TableSource::from_path(&path).unwrap();
            assert_eq!(src.format(), format);
            srcs.push(src);
        }
        let out = merge3(&srcs[0], &srcs[1], &srcs[2], &key(), Strategy::Manual).unwrap();
        assert!(out.is_clean(), "{format}: {:?}", out.conflicts());
        let mut merged = out.into_table().unwrap();
        let path = dir.path().join(format!("merged.{}", format.extension()));
        colony_tables::write_table_to_path(&mut merged, &path, None).unwrap();
        let got: serde_json::Value = serde_json::from_str(&common::python(
            CHECK_FORMAT,
            &[path.to_str().unwrap(), format.extension()],
        ))
        .unwrap();
        assert_eq!(
            got["columns"],
            serde_json::json!(["id", "x", "tag", "note", "flag"]),
            "{format}"
        );
        let rows = got["rows"].as_array().unwrap();
        let ids: Vec<i64> = rows
            .iter()
            .map(|r| {
                r["id"]
                    .as_i64()
                    .unwrap_or_else(|| r["id"].as_str().unwrap().parse().unwrap())
            })
            .collect();
        assert_eq!(ids, vec![1, 2, 4, 5], "{format}");
        let row2 = &rows[1];
        assert_eq!(row2["x"].as_f64(), Some(20.5), "{format}: {row2}");
        assert_eq!(row2["tag"], "B", "{format}");
        // pyarrow reads an empty CSV field of a text column as "", elsewhere null.
        let null_or_empty = |v: &serde_json::Value| v.is_null() || v == "";
        assert!(null_or_empty(&row2["note"]), "{format}: {row2}");
        assert!(null_or_empty(&rows[3]["note"]), "{format}");
        assert_eq!(rows[0]["note"], "n1", "{format}");
        // Read back by polars too.
        let back = TableSource::from_path(&path).unwrap().read().unwrap();
        assert_eq!(back.height(), 4);
    }
}

#[test]
fn incompatible_schema_changes_conflict() {
    let base = df!("id" => [1i64, 2], "v" => [1i32, 2]).unwrap();
    let ours = df!("id" => [1i64, 2], "v" => [1i64, 2], "n" => ["a", "b"]).unwrap();
    let theirs = df!("id" => [1i64, 2], "v" => [1.0f64, 2.0], "n" => [1i64, 2]).unwrap();
    let src = |df: DataFrame| TableSource::from_frame("t.parquet", TableFormat::Parquet, df);
    let (b, o, t) = (src(base), src(ours), src(theirs));
    let out = merge3(&b, &o, &t, &key(), Strategy::Manual).unwrap();
    let kinds: Vec<_> = out
        .schema_conflicts()
        .iter()
        .map(|c| (c.column.as_str(), c.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("v", SchemaConflictKind::ChangedDifferently),
            ("n", SchemaConflictKind::AddedWithDifferentTypes)
        ]
    );
    assert!(matches!(
        out.into_table(),
        Err(TableError::Unresolved { schema: 2, .. })
    ));
    let theirs = merge3(&b, &o, &t, &key(), Strategy::Theirs).unwrap();
    let cols: Vec<_> = theirs.columns().to_vec();
    assert_eq!(cols[1].1, DataType::Float64);
    assert_eq!(cols[2].1, DataType::Int64);
    assert_eq!(theirs.into_table().unwrap().height(), 2);
}

#[test]
fn missing_key_gives_a_clear_error() {
    let b = csv("data/t.csv", BASE);
    let err = merge3(&b, &b, &b, &[], Strategy::Manual).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TableError::NoKey { .. }));
    assert!(msg.contains("--key COL"), "{msg}");
    assert!(msg.contains("colony table key data/t.csv COL"), "{msg}");
    let err = diff(&b, &b, &[], &DiffOptions::default()).unwrap_err();
    assert!(err.to_string().contains("--key"), "{err}");

    let err = diff(&b, &b, &["nope".to_string()], &DiffOptions::default()).unwrap_err();
    assert!(matches!(err, TableError::MissingKeyColumn { .. }), "{err}");
    assert!(err.to_string().contains("`nope`") && err.to_string().contains("id, name, score"));

    let dup = csv("dup.csv", "id,v\n1,a\n2,b\n1,c\n");
    let err = diff(&b, &dup, &key(), &DiffOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, TableError::DuplicateKey { count: 2, .. }),
        "{msg}"
    );
    assert!(msg.contains("dup.csv") && msg.contains("id=\"1\""), "{msg}");
    let err = merge3(&b, &b, &dup, &key(), Strategy::Manual).unwrap_err();
    assert!(
        matches!(err, TableError::DuplicateKey { ref name, .. } if name == "dup.csv"),
        "{err}"
    );
    let two = vec!["id".to_string(), "v".to_string()];
    let dup2 = csv("dup2.csv", "id,v\n1,a\n1,a\n");
    let err = diff(&dup2, &dup2, &two, &DiffOptions::default()).unwrap_err();
    assert!(matches!(err, TableError::DuplicateKey { .. }), "{err}");
}

#[test]
fn malformed_tables_give_a_clear_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = TableSource::from_frame(
        "good.parquet",
        TableFormat::Parquet,
        df!("id" => [1i64, 2], "v" => ["a", "b"]).unwrap(),
    );

    // Not Parquet at all.
    let bad = dir.path().join("bad.parquet");
    std::fs::write(&bad, b"this is not parquet").unwrap();
    let err = TableSource::from_path(&bad).unwrap_err();
    assert!(matches!(err, TableError::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("bad.parquet") && err.to_string().contains("PAR1"));

    // Truncated Parquet: right magic, missing footer.
    let mut bytes = table_to_bytes(&mut good.read().unwrap(), TableFormat::Parquet).unwrap();
    bytes.truncate(bytes.len() / 2);
    let cut = TableSource::from_bytes("cut.parquet", bytes).unwrap();
    let err = merge3(&good, &cut, &good, &key(), Strategy::Manual).unwrap_err();
    assert!(
        matches!(err, TableError::Malformed { ref name, .. } if name == "cut.parquet"),
        "{err}"
    );

    // Ragged CSV.
    let ragged = csv("ragged.csv", "id,v\n1,a\n2,b,extra,more\n3,c\n");
    let base = csv("ok.csv", "id,v\n1,a\n2,b\n3,c\n");
    let err = diff(&base, &ragged, &key(), &DiffOptions::default()).unwrap_err();
    assert!(
        matches!(err, TableError::Malformed { ref name, .. } if name == "ragged.csv"),
        "{err}"
    );

    // Broken JSON Lines.
    let broken = TableSource::from_bytes(
        "b.jsonl",
        b"{\"id\": 1, \"v\": \"a\"}\n{\"id\": 2, \"v\": \n".to_vec(),
    )
    .unwrap();
    let err = broken.read().unwrap_err();
    assert!(err.to_string().contains("b.jsonl"), "{err}");

    // Unknown format.
    let err = TableSource::from_bytes("blob", vec![0u8, 159, 146, 150]).unwrap_err();
    assert!(matches!(err, TableError::UnknownFormat { .. }), "{err}");
}

#[test]
fn diff_counts_rows_columns_and_schema_changes() {
    let base = df!(
        "id" => [1i64, 2, 3, 4, 5],
        "x" => [1i32, 2, 3, 4, 5],
        "name" => ["a", "b", "c", "d", "e"],
        "gone" => [0u8, 0, 0, 0, 0]
    )
    .unwrap();
    let other = df!(
        "id" => [1i64, 2, 3, 5, 6, 7],
        "x" => [1i64, 20, 3, 50, 6, 7],
        "name" => ["a", "b", "C", "E", "f", "g"],
        "new" => [true, true, true, true, true, true]
    )
    .unwrap();
    let b = TableSource::from_frame("t.parquet", TableFormat::Parquet, base);
    let o = TableSource::from_frame("t.parquet", TableFormat::Parquet, other);
    let d = diff(
        &b,
        &o,
        &key(),
        &DiffOptions {
            rows: true,
            row_limit: Some(10),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((d.base_rows, d.other_rows), (5, 6));
    assert_eq!((d.added, d.removed, d.modified, d.unchanged), (2, 1, 3, 1));
    let cols: Vec<_> = d
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.modified))
        .collect();
    assert_eq!(cols, vec![("x", 2), ("name", 2)]);
    assert_eq!(d.schema.added[0].name, "new");
    assert_eq!(d.schema.removed[0].name, "gone");
    assert_eq!(d.schema.type_changed[0].name, "x");
    assert_eq!(d.schema.type_changed[0].from, "i32");
    assert_eq!(d.schema.type_changed[0].to, "i64");
    let rows = d.rows.as_ref().unwrap();
    assert_eq!(rows.added.len(), 2);
    assert_eq!(rows.removed[0]["id"], 4);
    let m5 = rows.modified.iter().find(|m| m.key["id"] == 5).unwrap();
    assert_eq!(m5.changed, vec!["x".to_string(), "name".to_string()]);
    assert_eq!(m5.base["name"], "e");
    assert_eq!(m5.other["name"], "E");
    let json = d.to_json();
    for field in ["added", "removed", "modified", "schema"] {
        assert!(json.get(field).is_some(), "{field} in {json}");
    }
    assert_eq!(json["added"], 2);
    // Identical versions: empty diff.
    let same = diff(&b, &b, &key(), &DiffOptions::default()).unwrap();
    assert!(same.is_empty());
    assert_eq!(same.unchanged, 5);
}

#[test]
fn diff_of_csv_compares_text_and_lists_columns() {
    let d = diff(
        &csv("t.csv", BASE),
        &csv("t.csv", OURS),
        &key(),
        &DiffOptions::default(),
    )
    .unwrap();
    assert_eq!((d.added, d.removed, d.modified), (1, 1, 2));
    assert!(d.schema.is_empty());
}

#[test]
fn sql_over_tables_named_by_path() {
    let people = csv(
        "data/people.csv",
        "id,name,score\n1,ann,10\n2,bob,20\n3,cy,30\n",
    );
    let towns = TableSource::from_bytes(
        "data/towns.jsonl",
        b"{\"id\": 1, \"town\": \"Oslo\"}\n{\"id\": 2, \"town\": \"Lima\"}\n".to_vec(),
    )
    .unwrap();
    let df = query(
        &[people.clone(), towns],
        "SELECT p.id, p.name, t.town, p.score * 2 AS dbl FROM \"data/people.csv\" p JOIN towns t ON p.id = t.id ORDER BY p.id",
    )
    .unwrap();
    assert_eq!(df.height(), 2);
    let text = render(&df, OutputFormat::Table).unwrap();
    assert_eq!(
        text,
        "id  name  town  dbl\n--  ----  ----  ---\n 1  ann   Oslo   20\n 2  bob   Lima   40\n(2 rows)\n"
    );
    assert_eq!(
        render(&df, OutputFormat::Csv).unwrap(),
        "id,name,town,dbl\n1,ann,Oslo,20\n2,bob,Lima,40\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&render(&df, OutputFormat::Json).unwrap()).unwrap();
    assert_eq!(json[1]["dbl"], 40);
    let total = query(
        std::slice::from_ref(&people),
        "SELECT SUM(score) AS s FROM people",
    )
    .unwrap();
    assert_eq!(
        total.column("s").unwrap().get(0).unwrap().extract::<i64>(),
        Some(60)
    );
    let err = query(&[people], "SELECT * FROM nowhere").unwrap_err();
    assert!(matches!(err, TableError::Query { .. }), "{err}");
    assert!(err.to_string().contains("\"data/people.csv\""), "{err}");
}
