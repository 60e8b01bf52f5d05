//! The sorted fast path (`sorted.rs`) must give exactly what the hash-join path gives:
//! both are run on random versions (deletes and edits on either side, nulls, identical
//! and conflicting edits, rows added on both sides, columns added, dropped and retyped)
//! and every observable result is compared.

use polars::prelude::*;

use crate::diff::diff_on;
use crate::merge::merge3_on;
use crate::sorted::{JoinPath, Side, sorted_join};
use crate::{
    DiffOptions, MergeOptions, MergeOutcome, Resolution, Strategy, TableDiff, TableError,
    TableFormat, TableSource,
};

/// xorshift64*: deterministic random numbers without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone)]
struct Row {
    id: i64,
    x: Option<i32>,
    name: Option<String>,
    score: f64,
    gone: i64,
}

fn edit(rng: &mut Rng, r: &mut Row) {
    match rng.below(4) {
        0 => {
            r.x = if rng.chance(30) {
                None
            } else {
                Some(rng.below(5) as i32)
            }
        }
        1 => r.name = rng.chance(70).then(|| format!("n{}", rng.below(4))),
        2 => r.score = rng.below(3) as f64,
        _ => r.gone += 1,
    }
}

/// A version derived from `base`: rows deleted, edited, and new rows (ids between and
/// after the base's, some shared with the other side because the id space is small).
fn derive(rng: &mut Rng, base: &[Row], shared_edits: &[(usize, Row)]) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    for (i, r) in base.iter().enumerate() {
        if rng.chance(8) {
            continue;
        }
        if let Some((_, same)) = shared_edits.iter().find(|(j, _)| *j == i) {
            out.push(same.clone());
            continue;
        }
        let mut r = r.clone();
        if rng.chance(25) {
            edit(rng, &mut r);
        }
        out.push(r);
    }
    for _ in 0..base.len() / 10 {
        let id = rng.below(base.len() as u64 * 4) as i64;
        if !base.iter().any(|r| r.id == id) && !out.iter().any(|r| r.id == id) {
            out.push(Row {
                id,
                x: Some(rng.below(3) as i32),
                name: None,
                score: rng.below(2) as f64,
                gone: 0,
            });
        }
    }
    out.sort_by_key(|r| r.id);
    out
}

/// How the key column is typed in a variant of the test.
#[derive(Clone, Copy, Debug)]
enum KeyKind {
    Int,
    Text,
    Time,
}

fn key_column(kind: KeyKind, ids: Vec<i64>) -> Column {
    let s = Series::new("id".into(), ids);
    match kind {
        KeyKind::Int => s.into(),
        KeyKind::Text => s
            .i64()
            .unwrap()
            .into_no_null_iter()
            .map(|i| format!("k{i:06}"))
            .collect::<StringChunked>()
            .with_name("id".into())
            .into_column(),
        KeyKind::Time => s
            .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
            .unwrap()
            .into(),
    }
}

/// `rows` as a frame. `ours` retypes `x` to i64 and adds `extra`; `theirs` drops
/// `gone` and adds `extra` too.
fn frame(kind: KeyKind, rows: &[Row], version: &str) -> DataFrame {
    let mut cols = vec![key_column(kind, rows.iter().map(|r| r.id).collect())];
    let x: Vec<Option<i32>> = rows.iter().map(|r| r.x).collect();
    let x = Column::new("x".into(), x);
    cols.push(match version {
        "ours" => x.cast(&DataType::Int64).unwrap(),
        _ => x,
    });
    let name: Vec<Option<String>> = rows.iter().map(|r| r.name.clone()).collect();
    cols.push(Column::new("name".into(), name));
    cols.push(Column::new(
        "score".into(),
        rows.iter().map(|r| r.score).collect::<Vec<_>>(),
    ));
    if version != "theirs" {
        cols.push(Column::new(
            "gone".into(),
            rows.iter().map(|r| r.gone).collect::<Vec<_>>(),
        ));
    }
    if version != "base" {
        let extra: Vec<Option<String>> = rows
            .iter()
            .map(|r| (r.id % 3 != 0).then(|| format!("e{}", r.id % 2)))
            .collect();
        cols.push(Column::new("extra".into(), extra));
    }
    DataFrame::new_infer_height(cols).unwrap()
}

fn versions(seed: u64, kind: KeyKind) -> [DataFrame; 3] {
    let mut rng = Rng(seed);
    let mut id = 0;
    let base: Vec<Row> = (0..300)
        .map(|_| {
            id += 1 + rng.below(3) as i64;
            Row {
                id,
                x: (!rng.chance(10)).then(|| rng.below(5) as i32),
                name: (!rng.chance(10)).then(|| format!("n{}", rng.below(4))),
                score: rng.below(3) as f64,
                gone: rng.below(2) as i64,
            }
        })
        .collect();
    // Some rows both sides edit the same way.
    let shared: Vec<(usize, Row)> = (0..10)
        .map(|_| {
            let i = rng.below(base.len() as u64) as usize;
            let mut r = base[i].clone();
            edit(&mut rng, &mut r);
            (i, r)
        })
        .collect();
    let ours = derive(&mut rng, &base, &shared);
    let theirs = derive(&mut rng, &base, &shared);
    [
        frame(kind, &base, "base"),
        frame(kind, &ours, "ours"),
        frame(kind, &theirs, "theirs"),
    ]
}

fn source(name: &str, df: &DataFrame) -> TableSource {
    TableSource::from_frame(name, TableFormat::Parquet, df.clone())
}

fn key() -> Vec<String> {
    vec!["id".to_string()]
}

fn assert_sorted_path_applies(frames: &[DataFrame]) {
    let names: Vec<(String, String)> = (0..frames.len())
        .map(|i| (format!("p{i}_"), format!("present{i}")))
        .collect();
    let sides: Vec<Side> = frames
        .iter()
        .zip(&names)
        .map(|(df, (prefix, present))| Side {
            df,
            prefix,
            present,
            index: None,
        })
        .collect();
    assert!(sorted_join(&sides, &key()).unwrap().is_some());
}

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap()
}

fn assert_same_frame(a: &DataFrame, b: &DataFrame, what: &str) {
    assert!(a.equals_missing(b), "{what} differs:\n{a}\n{b}");
}

fn assert_same_merge(fast: MergeOutcome, hash: MergeOutcome, what: &str) {
    assert_eq!(fast.stats(), hash.stats(), "{what}: stats");
    assert_eq!(fast.columns(), hash.columns(), "{what}: columns");
    assert_eq!(
        json(&fast.conflicts()),
        json(&hash.conflicts()),
        "{what}: row conflicts"
    );
    assert_eq!(
        fast.schema_conflicts(),
        hash.schema_conflicts(),
        "{what}: schema conflicts"
    );
    assert_same_frame(
        &fast.settled_rows().unwrap(),
        &hash.settled_rows().unwrap(),
        what,
    );
    if fast.schema_conflicts().is_empty() || fast.is_clean() {
        // Settle conflicts in every way, in turn, so that each resolution is compared.
        let choose = || {
            let mut n = 0;
            move |_: &crate::RowConflict| {
                n += 1;
                match n % 4 {
                    0 => Resolution::Ours,
                    1 => Resolution::Theirs,
                    2 => Resolution::Base,
                    _ => Resolution::Delete,
                }
            }
        };
        let a = fast.resolve(choose()).unwrap();
        let b = hash.resolve(choose()).unwrap();
        assert_same_frame(&a, &b, what);
    }
}

/// Diff results, with the listed rows ordered by key (their order is the join's).
fn comparable(mut d: TableDiff) -> serde_json::Value {
    if let Some(rows) = &mut d.rows {
        let by_key = |r: &serde_json::Value| r["id"].to_string();
        rows.added.sort_by_key(|r| by_key(&json(r)));
        rows.removed.sort_by_key(|r| by_key(&json(r)));
        rows.modified.sort_by_key(|r| by_key(&json(&r.key)));
    }
    json(&d)
}

#[test]
fn sorted_fast_path_gives_what_the_hash_join_gives() {
    for (seed, kind) in [
        (1, KeyKind::Int),
        (2, KeyKind::Int),
        (3, KeyKind::Text),
        (4, KeyKind::Time),
    ] {
        let frames = versions(seed, kind);
        assert_sorted_path_applies(&frames);
        let [b, o, t] = [
            source("base.parquet", &frames[0]),
            source("ours.parquet", &frames[1]),
            source("theirs.parquet", &frames[2]),
        ];
        for strategy in [Strategy::Manual, Strategy::Ours, Strategy::Theirs] {
            let what = format!("seed {seed} {kind:?} {strategy:?}");
            let run = |path| {
                merge3_on(&b, &o, &t, &key(), strategy, &MergeOptions::default(), path).unwrap()
            };
            let (fast, hash) = (run(JoinPath::Auto), run(JoinPath::Hash));
            if strategy == Strategy::Manual {
                assert!(
                    !fast.conflicts().is_empty(),
                    "{what}: the data has conflicts"
                );
            }
            assert_same_merge(fast, hash, &what);
        }
        // Without schema changes too (ours against a copy of itself edited by theirs).
        let same_schema = frames[1].clone();
        let t2 = source("theirs2.parquet", &same_schema.head(Some(250)));
        let run = |path| {
            merge3_on(
                &o,
                &o,
                &t2,
                &key(),
                Strategy::Manual,
                &MergeOptions::default(),
                path,
            )
            .unwrap()
        };
        assert_same_merge(run(JoinPath::Auto), run(JoinPath::Hash), "no schema change");
        // Few edits: rows are sliced rather than gathered, and listed rows still come out.
        let opts = DiffOptions {
            rows: true,
            ..Default::default()
        };
        let mut edited = frames[1].head(Some(250));
        edited
            .with_column(Column::new("score".into(), vec![1.0f64; 250]))
            .unwrap();
        let edited = source("edited.parquet", &edited);
        let fast = diff_on(&o, &edited, &key(), &opts, JoinPath::Auto).unwrap();
        let hash = diff_on(&o, &edited, &key(), &opts, JoinPath::Hash).unwrap();
        let rows = fast.rows.as_ref().unwrap();
        assert_eq!(rows.removed.len() as u64, fast.removed);
        assert!(fast.modified > 0);
        assert_eq!(rows.modified.len() as u64, fast.modified);
        assert_eq!(
            comparable(fast),
            comparable(hash),
            "seed {seed} {kind:?} few edits"
        );

        for (x, y) in [(&b, &o), (&b, &t), (&o, &t), (&t, &b)] {
            let opts = DiffOptions {
                rows: true,
                row_limit: None,
                assume_unique_keys: false,
            };
            let fast = diff_on(x, y, &key(), &opts, JoinPath::Auto).unwrap();
            let hash = diff_on(x, y, &key(), &opts, JoinPath::Hash).unwrap();
            assert!(fast.modified > 0 && fast.added > 0 && fast.removed > 0);
            assert_eq!(
                comparable(fast),
                comparable(hash),
                "seed {seed} {kind:?} diff"
            );
        }
    }
}

#[test]
fn sorted_duplicate_keys_are_rejected_as_by_the_hash_join() {
    let [b, o, t] = versions(5, KeyKind::Int);
    // A duplicate keeps the version sorted (not strictly), so the hash join's checks run.
    let mut dup = o.clone();
    dup.vstack_mut(&o.slice(7, 1)).unwrap();
    let dup = dup
        .sort(
            ["id"],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .unwrap();
    let (b, t) = (source("b.parquet", &b), source("t.parquet", &t));
    let dup = source("dup.parquet", &dup);
    for path in [JoinPath::Auto, JoinPath::Hash] {
        let err = merge3_on(
            &b,
            &dup,
            &t,
            &key(),
            Strategy::Manual,
            &MergeOptions::default(),
            path,
        )
        .unwrap_err();
        assert!(
            matches!(err, TableError::DuplicateKey { ref name, count: 2, .. } if name == "dup.parquet"),
            "{err}"
        );
        let err = diff_on(&b, &dup, &key(), &DiffOptions::default(), path).unwrap_err();
        assert!(
            matches!(err, TableError::DuplicateKey { ref name, .. } if name == "dup.parquet"),
            "{err}"
        );
    }
}

#[test]
fn unsorted_or_null_keys_fall_back_to_the_hash_join() {
    let [b, o, _] = versions(6, KeyKind::Int);
    let reversed = b.reverse();
    let side = |df| Side {
        df,
        prefix: "p_",
        present: "present",
        index: None,
    };
    assert!(
        sorted_join(&[side(&reversed), side(&o)], &key())
            .unwrap()
            .is_none()
    );
    let with_null = df!("id" => [None, Some(1i64)], "v" => [1, 2]).unwrap();
    assert!(
        sorted_join(&[side(&with_null), side(&with_null)], &key())
            .unwrap()
            .is_none()
    );
    let two_keys = ["id".to_string(), "x".to_string()];
    assert!(
        sorted_join(&[side(&b), side(&o)], &two_keys)
            .unwrap()
            .is_none()
    );
    // The results are still right: the same counts as the sorted versions give.
    let fast = diff_on(
        &source("b", &b),
        &source("o", &o),
        &key(),
        &DiffOptions::default(),
        JoinPath::Auto,
    )
    .unwrap();
    let fallback = diff_on(
        &source("b", &reversed),
        &source("o", &o),
        &key(),
        &DiffOptions::default(),
        JoinPath::Auto,
    )
    .unwrap();
    assert_eq!(
        (fast.added, fast.removed, fast.modified, fast.unchanged),
        (
            fallback.added,
            fallback.removed,
            fallback.modified,
            fallback.unchanged
        )
    );
}
