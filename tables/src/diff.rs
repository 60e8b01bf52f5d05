//! Row-level diff of two versions of a table, matched by key.

use polars::prelude::*;
use serde::Serialize;

use crate::error::Result;
use crate::format::{ReadMode, TableSource, collect_checked, collect_checked_on};
use crate::json::{JsonRow, frame_to_rows, strip_prefix};
use crate::keys::{check_key_columns, check_key_types, check_unique, key_exprs};
use crate::row_groups::{ParquetFile, identical_groups, open_alike};
use crate::sorted::{JoinPath, Side, sorted_join, strictly_increasing};

/// What [`diff`] reports besides counts.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Also list the added, removed and modified rows themselves.
    pub rows: bool,
    /// At most this many rows of each kind are listed (all if `None`).
    pub row_limit: Option<usize>,
    /// Skip the check that keys are unique (saves one pass over each table when the
    /// caller knows they are). With duplicate keys the counts are then meaningless.
    pub assume_unique_keys: bool,
}

/// A column and its type, as in a schema change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnType {
    /// Column name.
    pub name: String,
    /// Its type, as polars names it (`i64`, `str`, `datetime[μs]`, ...).
    pub dtype: String,
}

/// A column whose type differs between the versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeChange {
    /// Column name.
    pub name: String,
    /// Type in the base version.
    pub from: String,
    /// Type in the other version.
    pub to: String,
}

/// Schema changes from base to other. CSV columns are compared as text, so for CSV
/// only added and removed columns are reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SchemaDiff {
    /// Columns only in the other version, in its order.
    pub added: Vec<ColumnType>,
    /// Columns only in the base version, in its order.
    pub removed: Vec<ColumnType>,
    /// Columns in both whose type changed.
    pub type_changed: Vec<TypeChange>,
}

impl SchemaDiff {
    /// True when both versions have the same columns with the same types.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.type_changed.is_empty()
    }
}

/// How many rows changed in one column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnChanges {
    /// Column name (a column present in both versions, key columns excluded).
    pub name: String,
    /// Rows present in both versions whose value in this column differs.
    pub modified: u64,
}

/// A row present in both versions with different values.
#[derive(Debug, Clone, Serialize)]
pub struct ModifiedRow {
    /// The key columns and their values.
    pub key: JsonRow,
    /// The columns (present in both versions) whose value differs.
    pub changed: Vec<String>,
    /// The row in the base version.
    pub base: JsonRow,
    /// The row in the other version.
    pub other: JsonRow,
}

/// The rows themselves, when asked for with [`DiffOptions::rows`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct DiffRows {
    /// Rows whose key is only in the other version.
    pub added: Vec<JsonRow>,
    /// Rows whose key is only in the base version.
    pub removed: Vec<JsonRow>,
    /// Rows whose key is in both versions with different values.
    pub modified: Vec<ModifiedRow>,
    /// True if [`DiffOptions::row_limit`] cut any of the lists short.
    pub truncated: bool,
}

/// The difference between two versions of a table, rows matched by key.
///
/// A row is *modified* when its key is in both versions and at least one column present
/// in both versions differs (null equals null). Values of added or removed columns do not
/// make a row modified; the schema change is reported in [`TableDiff::schema`]. A column
/// whose type changed is compared after casting the base value to the new type.
#[derive(Debug, Clone, Serialize)]
pub struct TableDiff {
    /// Name of the base version.
    pub base: String,
    /// Name of the other version.
    pub other: String,
    /// The key columns rows were matched by.
    pub key: Vec<String>,
    /// Rows in the base version.
    pub base_rows: u64,
    /// Rows in the other version.
    pub other_rows: u64,
    /// Rows whose key is only in the other version.
    pub added: u64,
    /// Rows whose key is only in the base version.
    pub removed: u64,
    /// Rows whose key is in both with some value changed.
    pub modified: u64,
    /// Rows whose key is in both with no value changed.
    pub unchanged: u64,
    /// Per column present in both versions (keys excluded), how many rows changed in it.
    pub columns: Vec<ColumnChanges>,
    /// Columns added, removed, retyped.
    pub schema: SchemaDiff,
    /// The rows themselves, if asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<DiffRows>,
}

impl TableDiff {
    /// True when no row and no column changed.
    pub fn is_empty(&self) -> bool {
        self.added == 0 && self.removed == 0 && self.modified == 0 && self.schema.is_empty()
    }

    /// The diff as a JSON value (fields as in the struct; `added`, `removed`, `modified`
    /// are counts, `schema` the schema changes, `rows` present only if asked for).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

pub(crate) const PB: &str = "__colony_in_base";
pub(crate) const PO: &str = "__colony_in_other";
const BP: &str = "__colony_b__";
const OP: &str = "__colony_o__";
const CP: &str = "__colony_c__";

fn count(df: &DataFrame, name: &str) -> Result<u64> {
    Ok(df
        .column(name)?
        .get(0)?
        .extract::<u64>()
        .unwrap_or_default())
}

/// Compares `other` against `base`, matching rows by the `key` columns.
///
/// Errors: [`crate::TableError::NoKey`] if `key` is empty;
/// [`crate::TableError::MissingKeyColumn`] if a key column is missing from either version;
/// [`crate::TableError::KeyTypeMismatch`] if a key column changed type;
/// [`crate::TableError::DuplicateKey`] if a key identifies several rows in either version;
/// [`crate::TableError::Malformed`] naming the version that cannot be read.
///
/// Memory and speed: Parquet versions with the same columns and layout that share row
/// groups byte for byte (see the crate docs) are compared a row group at a time: only
/// the key columns (to check uniqueness) and the row groups not shared are decoded.
/// Otherwise both versions are read into memory. When both are sorted by a
/// single key column (strictly increasing, no nulls; integer, temporal or string key),
/// rows are matched by one linear merge over the keys and no row is copied for matching
/// runs (see `sorted.rs`); otherwise by a hash join of the two versions on the key, on
/// polars' in-memory engine (`COLONY_TABLES_ENGINE=streaming` picks the streaming one;
/// `COLONY_TABLES_JOIN=hash` forces the hash join). Rows are only turned into JSON when
/// [`DiffOptions::rows`] asks for them, up to the limit; each list is in key order when
/// the versions are sorted, in the hash join's order otherwise.
pub fn diff(
    base: &TableSource,
    other: &TableSource,
    key: &[String],
    opts: &DiffOptions,
) -> Result<TableDiff> {
    diff_on(base, other, key, opts, JoinPath::from_env())
}

/// [`diff`] matching rows the way `path` says.
pub(crate) fn diff_on(
    base: &TableSource,
    other: &TableSource,
    key: &[String],
    opts: &DiffOptions,
    path: JoinPath,
) -> Result<TableDiff> {
    if path == JoinPath::Auto
        && let Some(d) = diff_row_groups(base, other, key, opts)?
    {
        return Ok(d);
    }
    let (blf, bschema) = base.scan_mode(ReadMode::Exact)?;
    let (olf, oschema) = other.scan_mode(ReadMode::Exact)?;
    check_key_columns(base, &bschema, key)?;
    check_key_columns(other, &oschema, key)?;
    check_key_types((base, &bschema), (other, &oschema), key)?;
    let bdf = base.read_scan(blf)?;
    let odf = other.read_scan(olf)?;
    let (blf, olf) = (bdf.clone().lazy(), odf.clone().lazy());
    // Sorted versions are lined up without a join; strictly increasing keys are unique.
    let sorted = match path {
        JoinPath::Auto => sorted_join(
            &[
                Side {
                    df: &bdf,
                    prefix: BP,
                    present: PB,
                    index: None,
                },
                Side {
                    df: &odf,
                    prefix: OP,
                    present: PO,
                    index: None,
                },
            ],
            key,
        )?,
        JoinPath::Hash => None,
    };
    let unique_known = opts.assume_unique_keys || sorted.is_some();
    // With one key column, uniqueness is checked on the join itself (a duplicate on
    // either side makes some key appear on several joined rows), saving a pass over each
    // version; only then are the versions checked one by one to name the culprit.
    let fused_check = !unique_known && key.len() == 1;
    if !unique_known && !fused_check {
        check_unique(base, blf.clone(), key)?;
        check_unique(other, olf.clone(), key)?;
    }

    let is_key = |n: &str| key.iter().any(|k| k == n);
    let mut schema = SchemaDiff::default();
    let mut common: Vec<(String, Option<DataType>)> = Vec::new();
    for (name, dt) in bschema.iter() {
        if is_key(name) {
            continue;
        }
        match oschema.get(name) {
            None => schema.removed.push(ColumnType {
                name: name.to_string(),
                dtype: dt.to_string(),
            }),
            Some(odt) if odt != dt => {
                schema.type_changed.push(TypeChange {
                    name: name.to_string(),
                    from: dt.to_string(),
                    to: odt.to_string(),
                });
                common.push((name.to_string(), Some(odt.clone())));
            }
            Some(_) => common.push((name.to_string(), None)),
        }
    }
    for (name, dt) in oschema.iter() {
        if !is_key(name) && bschema.get(name).is_none() {
            schema.added.push(ColumnType {
                name: name.to_string(),
                dtype: dt.to_string(),
            });
        }
    }

    let mut bsel = key_exprs(key);
    for (name, _) in bschema.iter() {
        if !is_key(name) {
            bsel.push(col(name.as_str()).alias(format!("{BP}{name}")));
        }
    }
    bsel.push(lit(true).alias(PB));
    let mut osel = key_exprs(key);
    for (name, _) in oschema.iter() {
        if !is_key(name) {
            osel.push(col(name.as_str()).alias(format!("{OP}{name}")));
        }
    }
    osel.push(lit(true).alias(PO));
    let joined = match sorted {
        Some(df) => df.lazy(),
        None => blf
            .clone()
            .select(bsel)
            .join_builder()
            .with(olf.clone().select(osel))
            .left_on(key_exprs(key))
            .right_on(key_exprs(key))
            .how(JoinType::Full)
            .coalesce(JoinCoalesce::CoalesceColumns)
            .join_nulls(true)
            .finish(),
    };

    let pb = col(PB).is_not_null();
    let po = col(PO).is_not_null();
    let both = pb.clone().and(po.clone());
    let changed: Vec<Expr> = common
        .iter()
        .map(|(name, cast_to)| {
            let b = col(format!("{BP}{name}"));
            let b = match cast_to {
                Some(dt) => b.cast(dt.clone()),
                None => b,
            };
            b.neq_missing(col(format!("{OP}{name}")))
        })
        .collect();
    let any_changed = if changed.is_empty() {
        lit(false)
    } else {
        any_horizontal(changed.clone())?
    };
    let modified = both.clone().and(any_changed.clone());

    let mut aggs = vec![
        pb.clone().sum().alias("base_rows"),
        po.clone().sum().alias("other_rows"),
        pb.clone().and(po.clone().not()).sum().alias("removed"),
        pb.clone().not().and(po.clone()).sum().alias("added"),
        modified.clone().sum().alias("modified"),
    ];
    for ((name, _), ch) in common.iter().zip(&changed) {
        aggs.push(
            both.clone()
                .and(ch.clone())
                .sum()
                .alias(format!("{CP}{name}")),
        );
    }
    if fused_check {
        aggs.push(len().cast(DataType::UInt64).alias("__colony_joined"));
        aggs.push(
            col(key[0].as_str())
                .n_unique()
                .cast(DataType::UInt64)
                .alias("__colony_keys"),
        );
    }
    // The in-memory engine runs this join + aggregate ~3x faster than the streaming one
    // on 10M rows (bench/RESULTS.md) for ~20% more peak memory.
    let counts = collect_checked_on(
        joined.clone().select(aggs),
        &[base, other],
        ReadMode::Exact,
        Engine::InMemory,
    )?;
    if fused_check && count(&counts, "__colony_joined")? != count(&counts, "__colony_keys")? {
        check_unique(base, blf, key)?;
        check_unique(other, olf, key)?;
    }

    let mut out = TableDiff {
        base: base.name().to_string(),
        other: other.name().to_string(),
        key: key.to_vec(),
        base_rows: count(&counts, "base_rows")?,
        other_rows: count(&counts, "other_rows")?,
        added: count(&counts, "added")?,
        removed: count(&counts, "removed")?,
        modified: count(&counts, "modified")?,
        unchanged: 0,
        columns: Vec::new(),
        schema,
        rows: None,
    };
    out.unchanged = out.base_rows - out.removed - out.modified;
    for (name, _) in &common {
        out.columns.push(ColumnChanges {
            name: name.clone(),
            modified: count(&counts, &format!("{CP}{name}"))?,
        });
    }

    if opts.rows {
        let limit = |lf: LazyFrame| match opts.row_limit {
            Some(n) => lf.limit(n as IdxSize + 1),
            None => lf,
        };
        let mut truncated = false;
        let mut take = |lf: LazyFrame| -> Result<Vec<JsonRow>> {
            let df = collect_checked(limit(lf), &[base, other], ReadMode::Exact)?;
            let mut rows = frame_to_rows(&df)?;
            if let Some(n) = opts.row_limit
                && rows.len() > n
            {
                rows.truncate(n);
                truncated = true;
            }
            Ok(rows)
        };
        let key_row = |r: &JsonRow| -> JsonRow {
            r.iter()
                .filter(|(k, _)| is_key(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let with_key = |r: &JsonRow, prefix: &str| -> JsonRow {
            let mut m = key_row(r);
            m.extend(strip_prefix(r, prefix));
            m
        };
        let added = take(joined.clone().filter(pb.clone().not().and(po.clone())))?
            .iter()
            .map(|r| with_key(r, OP))
            .collect();
        let removed = take(joined.clone().filter(pb.clone().and(po.clone().not())))?
            .iter()
            .map(|r| with_key(r, BP))
            .collect();
        let mut sel = vec![all().as_expr()];
        for ((name, _), ch) in common.iter().zip(&changed) {
            sel.push(ch.clone().alias(format!("{CP}{name}")));
        }
        let modified_rows = take(joined.filter(modified).select(sel))?
            .iter()
            .map(|r| ModifiedRow {
                key: key_row(r),
                changed: common
                    .iter()
                    .filter(|(n, _)| {
                        r.get(&format!("{CP}{n}")).and_then(|v| v.as_bool()) == Some(true)
                    })
                    .map(|(n, _)| n.clone())
                    .collect(),
                base: with_key(r, BP),
                other: with_key(r, OP),
            })
            .collect();
        out.rows = Some(DiffRows {
            added,
            removed,
            modified: modified_rows,
            truncated,
        });
    }
    Ok(out)
}

/// The diff of two Parquet versions with the same columns and layout that share row
/// groups byte for byte (see `row_groups.rs`): a shared row group holds the same rows in
/// both, unchanged, so only the other row groups are decoded and compared. `None` where
/// this does not apply.
///
/// Exact given unique keys: a key in a shared group is in the matching group of the
/// other version and nowhere else, so every added, removed or modified row is in a group
/// that is not shared. Uniqueness is checked on the whole key columns.
pub(crate) fn diff_row_groups(
    base: &TableSource,
    other: &TableSource,
    key: &[String],
    opts: &DiffOptions,
) -> Result<Option<TableDiff>> {
    let Some(files) = open_alike(&[base, other], key)? else {
        return Ok(None);
    };
    let [bf, of]: [ParquetFile; 2] = files.try_into().ok().expect("two files");
    let same = identical_groups(&bf, &of);
    if same.iter().all(Option::is_none) {
        return Ok(None);
    }
    if !opts.assume_unique_keys {
        let keys = |f: &ParquetFile| f.read(Some(key.to_vec()), 0..f.rows());
        for (src, f) in [(base, &bf), (other, &of)] {
            let k = keys(f).map_err(|e| src.malformed(e))?;
            if !strictly_increasing(&k, key) {
                check_unique(src, k.lazy(), key)?;
            }
        }
    }
    let shared_old: std::collections::HashSet<usize> = same.iter().flatten().copied().collect();
    let old_groups: Vec<usize> = (0..bf.groups())
        .filter(|g| !shared_old.contains(g))
        .collect();
    let new_groups: Vec<usize> = (0..of.groups()).filter(|&g| same[g].is_none()).collect();
    let shared_rows: u64 = same
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_some())
        .map(|(g, _)| of.group_rows(g).len() as u64)
        .sum();
    let part = |src: &TableSource, f: &ParquetFile, groups: &[usize]| -> Result<TableSource> {
        let df = f.read_groups(groups).map_err(|e| src.malformed(e))?;
        Ok(TableSource::from_frame(src.name(), src.format(), df))
    };
    let sub_opts = DiffOptions {
        assume_unique_keys: true,
        ..opts.clone()
    };
    let mut d = diff_on(
        &part(base, &bf, &old_groups)?,
        &part(other, &of, &new_groups)?,
        key,
        &sub_opts,
        JoinPath::Auto,
    )?;
    d.base_rows += shared_rows;
    d.other_rows += shared_rows;
    d.unchanged += shared_rows;
    Ok(Some(d))
}
