//! Three-way merge of table versions, row by row and cell by cell, matched by key.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TableError};
use crate::format::{ReadMode, TableSource, collect_checked};
use crate::format::{TableFormat, write_table};
use crate::json::{JsonRow, frame_to_rows, strip_prefix};
use crate::keys::{check_key_columns, check_key_types, check_unique, key_exprs, render_key};
use crate::row_groups::ParquetFile;
use crate::sorted::{JoinPath, Side, sorted_join};
use crate::splice::{self, Piece, SHIFT};

/// How conflicts are settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Conflicts are reported and left for [`MergeOutcome::resolve`].
    #[default]
    Manual,
    /// Every conflict (row, cell and schema) is settled for ours.
    Ours,
    /// Every conflict (row, cell and schema) is settled for theirs.
    Theirs,
}

/// Why a row conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowConflictKind {
    /// Both sides changed the same cell(s) of the row to different values.
    BothModified,
    /// Both sides added a row with this key, with different values.
    BothAdded,
    /// Ours modified the row, theirs deleted it.
    OursModifiedTheirsDeleted,
    /// Ours deleted the row, theirs modified it.
    OursDeletedTheirsModified,
}

/// A row the two sides changed in incompatible ways.
#[derive(Debug, Clone, Serialize)]
pub struct RowConflict {
    /// The key columns and their values.
    pub key: JsonRow,
    /// What kind of conflict it is.
    pub kind: RowConflictKind,
    /// The columns at issue: for [`RowConflictKind::BothModified`] and
    /// [`RowConflictKind::BothAdded`] those whose values differ between the sides; for a
    /// modify/delete conflict those the modifying side changed.
    pub columns: Vec<String>,
    /// The row in the base (`None` if the base has no row with this key).
    pub base: Option<JsonRow>,
    /// The row in ours (`None` if ours deleted it).
    pub ours: Option<JsonRow>,
    /// The row in theirs (`None` if theirs deleted it).
    pub theirs: Option<JsonRow>,
    #[serde(skip)]
    index: usize,
}

/// Why a column conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaConflictKind {
    /// Both sides added the column with different types.
    AddedWithDifferentTypes,
    /// Both sides changed the column's type, to different types.
    ChangedDifferently,
    /// One side dropped the column, the other changed its type.
    DroppedAndChanged,
}

/// A column the two sides changed in incompatible ways.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaConflict {
    /// Column name.
    pub column: String,
    /// What kind of conflict it is.
    pub kind: SchemaConflictKind,
    /// Type in the base (`None` if absent).
    pub base: Option<String>,
    /// Type in ours (`None` if absent).
    pub ours: Option<String>,
    /// Type in theirs (`None` if absent).
    pub theirs: Option<String>,
}

/// How one conflicting row is settled by [`MergeOutcome::resolve`].
#[derive(Debug, Clone)]
pub enum Resolution {
    /// Take ours' row (or no row if ours deleted it).
    Ours,
    /// Take theirs' row (or no row if theirs deleted it).
    Theirs,
    /// Take the base row (or no row if the base had none).
    Base,
    /// Drop the row.
    Delete,
    /// Take this row: a one-row frame whose columns are matched by name to the merged
    /// table's (missing columns are null; values are cast to the merged types).
    Row(DataFrame),
}

/// Counts describing a merge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MergeStats {
    /// Rows of the merged table that are settled (conflicting rows excluded).
    pub rows: u64,
    /// Conflicting rows.
    pub row_conflicts: u64,
    /// Conflicting columns.
    pub schema_conflicts: u64,
}

/// The result of [`merge3`]: the merged rows, plus the conflicts left to settle.
///
/// The merged table's columns are the base's (less those either side dropped), then
/// columns ours added (in ours' order), then those only theirs added (in theirs' order).
/// Rows are in a deterministic order: rows whose key is in the base, in base order; then
/// rows new in ours, in ours' order; then rows new only in theirs, in theirs' order.
#[derive(Debug, Clone)]
pub struct MergeOutcome {
    name: String,
    key: Vec<String>,
    columns: Vec<(String, DataType)>,
    /// Output columns + ORD (+ CONFLICT when manual), sorted by ORD.
    table: DataFrame,
    conflicts: Vec<RowConflict>,
    schema_conflicts: Vec<SchemaConflict>,
    /// Wide rows of the conflicts: key, ORD, presence, and every column on each side.
    conflict_frame: Option<DataFrame>,
    /// When merged a row group at a time (`splice.rs`): the merged table is these
    /// pieces, and `table` holds only the merged rows both sides touched.
    spliced: Option<Arc<Spliced>>,
}

/// A merged table made of runs of ours, theirs and merged rows.
struct Spliced {
    ours: ParquetFile,
    theirs: ParquetFile,
    pieces: Vec<Piece>,
}

impl std::fmt::Debug for Spliced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spliced")
            .field("pieces", &self.pieces.len())
            .finish()
    }
}

const ORD: &str = "__colony_order";
const CONFLICT: &str = "__colony_conflict";
const PB: &str = "__colony_in_base";
const PO: &str = "__colony_in_ours";
const PT: &str = "__colony_in_theirs";
const IB: &str = "__colony_idx_base";
const IO: &str = "__colony_idx_ours";
const IT: &str = "__colony_idx_theirs";
const BP: &str = "__colony_b__";
const OP: &str = "__colony_o__";
const TP: &str = "__colony_t__";
const XP: &str = "__colony_x__";

fn prefixed(prefix: &str, name: &str) -> String {
    format!("{prefix}{name}")
}

impl MergeOutcome {
    /// Name of the merged table (ours' name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key rows were matched by.
    pub fn key(&self) -> &[String] {
        &self.key
    }

    /// The merged table's columns and types, in order.
    pub fn columns(&self) -> &[(String, DataType)] {
        &self.columns
    }

    /// Rows that conflict, in merged-table order. Empty unless the strategy is
    /// [`Strategy::Manual`].
    pub fn conflicts(&self) -> &[RowConflict] {
        &self.conflicts
    }

    /// Columns that conflict. Under [`Strategy::Ours`]/[`Strategy::Theirs`] they are
    /// settled and still listed here for the record; under [`Strategy::Manual`] they make
    /// [`MergeOutcome::into_table`] and [`MergeOutcome::resolve`] fail.
    pub fn schema_conflicts(&self) -> &[SchemaConflict] {
        &self.schema_conflicts
    }

    fn unresolved_schema(&self) -> usize {
        if self.table.column(CONFLICT).is_ok() {
            self.schema_conflicts.len()
        } else {
            0
        }
    }

    /// True when nothing is left to settle.
    pub fn is_clean(&self) -> bool {
        self.conflicts.is_empty() && self.unresolved_schema() == 0
    }

    /// Counts describing the merge.
    pub fn stats(&self) -> MergeStats {
        let height = match &self.spliced {
            Some(s) => splice::piece_rows(&s.pieces),
            None => self.table.height(),
        };
        MergeStats {
            rows: (height - self.conflicts.len()) as u64,
            row_conflicts: self.conflicts.len() as u64,
            schema_conflicts: self.schema_conflicts.len() as u64,
        }
    }

    fn output_names(&self) -> Vec<PlSmallStr> {
        self.columns
            .iter()
            .map(|(n, _)| n.as_str().into())
            .collect()
    }

    /// The settled rows only (conflicting rows left out), in merged order. Useful to
    /// show progress; it is not the merge result while conflicts remain.
    pub fn settled_rows(&self) -> Result<DataFrame> {
        if let Some(s) = &self.spliced {
            return self.materialize(s);
        }
        let df = match self.table.column(CONFLICT) {
            Ok(c) => {
                let settled: BooleanChunked = !(c.bool()?.clone());
                self.table.filter(&settled)?
            }
            Err(_) => self.table.clone(),
        };
        Ok(df.select(self.output_names())?)
    }

    /// The merged table. Fails with [`TableError::Unresolved`] while row or schema
    /// conflicts remain.
    pub fn into_table(self) -> Result<DataFrame> {
        if !self.is_clean() {
            return Err(TableError::Unresolved {
                name: self.name.clone(),
                rows: self.conflicts.len(),
                schema: self.unresolved_schema(),
            });
        }
        if let Some(s) = &self.spliced {
            return self.materialize(s);
        }
        Ok(self.table.select(self.output_names())?)
    }

    /// True when merged a row group at a time (see [`merge3`]).
    #[cfg(test)]
    pub(crate) fn is_spliced(&self) -> bool {
        self.spliced.is_some()
    }

    fn materialize(&self, s: &Spliced) -> Result<DataFrame> {
        let merged = self.table.select(self.output_names())?;
        splice::materialize(&s.pieces, &s.ours, &s.theirs, &merged)
    }

    /// Writes the merged table to `out` as a complete file of `format` (as
    /// [`write_table`] does) and returns its number of rows. Fails with
    /// [`TableError::Unresolved`] while conflicts remain.
    ///
    /// A Parquet merge done a row group at a time (see [`merge3`]) is written without
    /// decoding or re-encoding the row groups it keeps whole from ours or theirs.
    pub fn write_to<W: std::io::Write>(self, format: TableFormat, out: W) -> Result<u64> {
        if let (Some(s), TableFormat::Parquet, true) = (&self.spliced, format, self.is_clean()) {
            let merged = self.table.select(self.output_names())?;
            let rows = splice::write_pieces(out, &s.pieces, &s.ours, &s.theirs, &merged)?;
            return Ok(rows as u64);
        }
        let mut df = self.into_table()?;
        write_table(&mut df, format, out)?;
        Ok(df.height() as u64)
    }

    /// Settles every conflicting row with `choose` and returns the merged table, rows in
    /// the documented order (a resolved row keeps its conflict's place). Fails with
    /// [`TableError::Unresolved`] if schema conflicts remain (merge again with
    /// [`Strategy::Ours`] or [`Strategy::Theirs`] to settle them), and with
    /// [`TableError::BadResolution`] if a [`Resolution::Row`] does not fit.
    pub fn resolve(self, mut choose: impl FnMut(&RowConflict) -> Resolution) -> Result<DataFrame> {
        if self.unresolved_schema() > 0 {
            return Err(TableError::Unresolved {
                name: self.name.clone(),
                rows: self.conflicts.len(),
                schema: self.unresolved_schema(),
            });
        }
        let Some(wide) = &self.conflict_frame else {
            return self.into_table();
        };
        let mut names = self.output_names();
        names.push(ORD.into());
        let mut parts = vec![self.settled_with_order()?];
        for c in &self.conflicts {
            let row = wide.slice(c.index as i64, 1);
            let side = |prefix: &str, present: &str| -> Result<Option<DataFrame>> {
                if !row.column(present)?.bool()?.get(0).unwrap_or(false) {
                    return Ok(None);
                }
                let mut sel: Vec<Column> = Vec::new();
                for (n, _) in &self.columns {
                    let src = if self.key.contains(n) {
                        n.clone()
                    } else {
                        prefixed(prefix, n)
                    };
                    sel.push(row.column(&src)?.clone().with_name(n.as_str().into()));
                }
                sel.push(row.column(ORD)?.clone());
                Ok(Some(DataFrame::new_infer_height(sel)?))
            };
            let chosen = match choose(c) {
                Resolution::Ours => side(OP, PO)?,
                Resolution::Theirs => side(TP, PT)?,
                Resolution::Base => side(BP, PB)?,
                Resolution::Delete => None,
                Resolution::Row(df) => Some(self.fit_row(c, &df, row.column(ORD)?)?),
            };
            if let Some(df) = chosen {
                parts.push(df);
            }
        }
        let mut out = parts.remove(0);
        for p in parts {
            out.vstack_mut(&p)?;
        }
        let out = out
            .lazy()
            .sort([ORD], SortMultipleOptions::default())
            .select(self.output_names().into_iter().map(col).collect::<Vec<_>>())
            .collect()?;
        Ok(out)
    }

    fn settled_with_order(&self) -> Result<DataFrame> {
        let df = match self.table.column(CONFLICT) {
            Ok(c) => {
                let settled: BooleanChunked = !(c.bool()?.clone());
                self.table.filter(&settled)?
            }
            Err(_) => self.table.clone(),
        };
        let mut names = self.output_names();
        names.push(ORD.into());
        Ok(df.select(names)?)
    }

    fn fit_row(&self, c: &RowConflict, df: &DataFrame, ord: &Column) -> Result<DataFrame> {
        let bad = |reason: String| TableError::BadResolution {
            name: self.name.clone(),
            key: render_key(c.key.clone()),
            reason,
        };
        if df.height() != 1 {
            return Err(bad(format!("it has {} rows instead of one", df.height())));
        }
        let mut cols = Vec::new();
        for (n, dt) in &self.columns {
            let col = match df.column(n) {
                Ok(v) => v
                    .strict_cast(dt)
                    .map_err(|e| bad(format!("column `{n}` cannot be {dt}: {e}")))?,
                Err(_) => Column::full_null(n.as_str().into(), 1, dt),
            };
            cols.push(col);
        }
        for n in df.get_column_names() {
            if !self.columns.iter().any(|(c, _)| c == n.as_str()) {
                return Err(bad(format!("column `{n}` is not in the merged table")));
            }
        }
        let wide = self
            .conflict_frame
            .as_ref()
            .expect("conflicts come with their frame");
        let mut with_key = Vec::new();
        for col in cols {
            let name = col.name().clone();
            if !self.key.iter().any(|k| k == name.as_str()) {
                with_key.push(col);
                continue;
            }
            // Key columns may be left out (null); given, they must be the conflict's key.
            let want = wide.column(name.as_str())?.slice(c.index as i64, 1);
            if col.null_count() == 0 && col.get(0)? != want.get(0)? {
                return Err(bad(format!(
                    "its key `{name}` is {} instead of {}",
                    col.get(0)?,
                    want.get(0)?
                )));
            }
            with_key.push(want);
        }
        with_key.push(ord.clone());
        Ok(DataFrame::new_infer_height(with_key)?)
    }
}

/// Type a merged column gets, or a conflict.
fn merge_type(
    name: &str,
    b: Option<&DataType>,
    o: Option<&DataType>,
    t: Option<&DataType>,
    strategy: Strategy,
    conflicts: &mut Vec<SchemaConflict>,
) -> Option<DataType> {
    let conflict = |kind, conflicts: &mut Vec<SchemaConflict>| {
        conflicts.push(SchemaConflict {
            column: name.to_string(),
            kind,
            base: b.map(|d| d.to_string()),
            ours: o.map(|d| d.to_string()),
            theirs: t.map(|d| d.to_string()),
        })
    };
    let pick = |o: Option<&DataType>, t: Option<&DataType>| match strategy {
        Strategy::Theirs => t.cloned(),
        _ => o.cloned(),
    };
    match (b, o, t) {
        (Some(b), Some(o), Some(t)) => {
            if o == b {
                Some(t.clone())
            } else if t == b || o == t {
                Some(o.clone())
            } else {
                conflict(SchemaConflictKind::ChangedDifferently, conflicts);
                pick(Some(o), Some(t))
            }
        }
        (Some(b), o, t) => {
            // Dropped on at least one side.
            let changed = o.is_some_and(|o| o != b) || t.is_some_and(|t| t != b);
            if changed {
                conflict(SchemaConflictKind::DroppedAndChanged, conflicts);
                pick(o, t)
            } else {
                None
            }
        }
        (None, Some(o), Some(t)) => {
            if o == t {
                Some(o.clone())
            } else {
                conflict(SchemaConflictKind::AddedWithDifferentTypes, conflicts);
                pick(Some(o), Some(t))
            }
        }
        (None, Some(o), None) => Some(o.clone()),
        (None, None, Some(t)) => Some(t.clone()),
        (None, None, None) => None,
    }
}

/// Three-way merge of `ours` and `theirs` against their common `base`, rows matched by
/// the `key` columns. The merged table is named after `ours`.
///
/// Rules, per key:
/// - a row only one side changed (modified, deleted or added) takes that side's change;
/// - a row both sides changed identically is taken; a row both deleted is gone;
/// - a row both sides modified is merged **cell by cell**: each column takes the side
///   that changed it, so ours changing column A and theirs changing column B of the same
///   row merge cleanly; a cell both changed to different values makes the row a
///   [`RowConflictKind::BothModified`] conflict;
/// - a row added by both with different values conflicts ([`RowConflictKind::BothAdded`]);
/// - a row deleted on one side and modified on the other conflicts (values a side gives
///   to a column the base lacks do not count as modifying the row).
///
/// Columns: those added on either side are united (null where a side lacks them); a
/// column dropped by one side is dropped (its values are not compared); a type changed on
/// one side is taken (the other side's values cast to it, unparseable values become
/// null). The same column added with different types, retyped differently, or dropped
/// on one side and retyped on the other is a [`SchemaConflict`].
///
/// [`Strategy::Ours`] / [`Strategy::Theirs`] settle every conflict one way (a modify /
/// delete conflict settled for the deleting side deletes the row). Under
/// [`Strategy::Manual`] conflicting rows are returned for [`MergeOutcome::resolve`].
///
/// CSV cells are compared and written as text, exactly as they were.
///
/// Errors: as for [`crate::diff`] (no key, missing key column, key type changed,
/// duplicate key, malformed table naming the version).
///
/// Speed and memory: when all three versions are Parquet with the same columns and
/// layout, keyed by one column with strictly increasing keys, and ours or theirs shares
/// row groups byte for byte with the base, only the keys and the row groups both sides
/// changed are decoded; the rest of the merged table refers to ours' and theirs' rows,
/// and [`MergeOutcome::write_to`] copies their whole row groups without re-encoding them
/// (rows that conflict under [`Strategy::Manual`] send the merge the general way, so
/// that every conflict is reported). Otherwise the three versions are read into memory.
/// When all three are sorted by a single key column (strictly increasing, no nulls;
/// integer, temporal or string key), rows are lined up by one linear merge over the
/// keys, already in the merged order, copying no rows for matching runs (see
/// `sorted.rs`); otherwise by two hash joins on the key and a sort into the merged
/// order (`COLONY_TABLES_JOIN=hash` forces this way). Every way gives the same outcome.
pub fn merge3(
    base: &TableSource,
    ours: &TableSource,
    theirs: &TableSource,
    key: &[String],
    strategy: Strategy,
) -> Result<MergeOutcome> {
    merge3_with(base, ours, theirs, key, strategy, &MergeOptions::default())
}

/// Tuning knobs of [`merge3_with`].
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Skip the check that keys are unique in each version (saves a pass over each).
    /// With duplicate keys the result is then undefined.
    pub assume_unique_keys: bool,
}

/// [`merge3`] with options.
pub fn merge3_with(
    base: &TableSource,
    ours: &TableSource,
    theirs: &TableSource,
    key: &[String],
    strategy: Strategy,
    opts: &MergeOptions,
) -> Result<MergeOutcome> {
    merge3_on(
        base,
        ours,
        theirs,
        key,
        strategy,
        opts,
        JoinPath::from_env(),
    )
}

/// [`merge3_with`] lining rows up the way `path` says.
pub(crate) fn merge3_on(
    base: &TableSource,
    ours: &TableSource,
    theirs: &TableSource,
    key: &[String],
    strategy: Strategy,
    opts: &MergeOptions,
    path: JoinPath,
) -> Result<MergeOutcome> {
    if path == JoinPath::Auto
        && let Some(outcome) = merge_row_groups(base, ours, theirs, key, strategy)?
    {
        return Ok(outcome);
    }
    let (blf, bs) = base.scan_mode(ReadMode::Exact)?;
    let (olf, os) = ours.scan_mode(ReadMode::Exact)?;
    let (tlf, ts) = theirs.scan_mode(ReadMode::Exact)?;
    for (src, s) in [(base, &bs), (ours, &os), (theirs, &ts)] {
        check_key_columns(src, s, key)?;
    }
    check_key_types((base, &bs), (ours, &os), key)?;
    check_key_types((base, &bs), (theirs, &ts), key)?;
    let bdf = base.read_scan(blf)?;
    let odf = ours.read_scan(olf)?;
    let tdf = theirs.read_scan(tlf)?;
    let (blf, olf, tlf) = (bdf.clone().lazy(), odf.clone().lazy(), tdf.clone().lazy());
    // Sorted versions are lined up without joins, rows already in merged order;
    // strictly increasing keys are unique.
    let sorted = match path {
        JoinPath::Auto => {
            let side = |df, prefix, present, index| Side {
                df,
                prefix,
                present,
                index: Some(index),
            };
            sorted_join(
                &[
                    side(&bdf, BP, PB, IB),
                    side(&odf, OP, PO, IO),
                    side(&tdf, TP, PT, IT),
                ],
                key,
            )?
        }
        JoinPath::Hash => None,
    };
    let presorted = sorted.is_some();
    let unique_known = opts.assume_unique_keys || presorted;
    // With one key column, uniqueness is checked on the merged rows (a duplicate that
    // survives into the merge makes its key appear twice there), saving a pass over each
    // version; only then are the versions checked one by one to name the culprit.
    let fused_check = !unique_known && key.len() == 1;
    let check_all = |blf: LazyFrame, olf: LazyFrame, tlf: LazyFrame| -> Result<()> {
        check_unique(base, blf, key)?;
        check_unique(ours, olf, key)?;
        check_unique(theirs, tlf, key)
    };
    if !unique_known && !fused_check {
        check_all(blf.clone(), olf.clone(), tlf.clone())?;
    }
    let unchecked = (blf.clone(), olf.clone(), tlf.clone());
    let is_key = |n: &str| key.iter().any(|k| k == n);

    // Output columns in order, with their merged types.
    let mut schema_conflicts = Vec::new();
    let mut columns: Vec<(String, DataType)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for name in bs
        .iter_names()
        .chain(os.iter_names())
        .chain(ts.iter_names())
    {
        if !seen.insert(name.clone()) {
            continue;
        }
        if is_key(name) {
            columns.push((
                name.to_string(),
                bs.get(name).cloned().expect("key checked"),
            ));
            continue;
        }
        if let Some(dt) = merge_type(
            name,
            bs.get(name),
            os.get(name),
            ts.get(name),
            strategy,
            &mut schema_conflicts,
        ) {
            columns.push((name.to_string(), dt));
        }
    }

    let side = |lf: LazyFrame, s: &Schema, prefix: &str, present: &str, idx: &str| {
        let mut sel = key_exprs(key);
        for (n, _) in s.iter() {
            if !is_key(n) {
                sel.push(col(n.as_str()).alias(prefixed(prefix, n)));
            }
        }
        sel.push(lit(true).alias(present));
        lf.select(sel).with_row_index(idx, None)
    };
    let join = |l: LazyFrame, r: LazyFrame| {
        l.join_builder()
            .with(r)
            .left_on(key_exprs(key))
            .right_on(key_exprs(key))
            .how(JoinType::Full)
            .coalesce(JoinCoalesce::CoalesceColumns)
            .join_nulls(true)
            .finish()
    };
    let joined = match sorted {
        Some(df) => df.lazy(),
        None => join(
            join(side(blf, &bs, BP, PB, IB), side(olf, &os, OP, PO, IO)),
            side(tlf, &ts, TP, PT, IT),
        ),
    };

    let pb = col(PB).is_not_null();
    let po = col(PO).is_not_null();
    let pt = col(PT).is_not_null();
    let all3 = pb.clone().and(po.clone()).and(pt.clone());
    let added_both = pb.clone().not().and(po.clone()).and(pt.clone());

    let value = |prefix: &str, s: &Schema, name: &str, dt: &DataType| match s.get(name) {
        Some(sdt) if sdt == dt => col(prefixed(prefix, name)),
        Some(_) => col(prefixed(prefix, name)).cast(dt.clone()),
        None => lit(NULL).cast(dt.clone()),
    };
    let mut cell_conflicts = Vec::new();
    let mut ours_changed = Vec::new();
    let mut theirs_changed = Vec::new();
    let mut values = Vec::new();
    let mut wide = key_exprs(key);
    for (name, dt) in &columns {
        if is_key(name) {
            values.push(col(name.as_str()));
            continue;
        }
        let (b, o, t) = (
            value(BP, &bs, name, dt),
            value(OP, &os, name, dt),
            value(TP, &ts, name, dt),
        );
        let bo = b.clone().eq_missing(o.clone());
        let bt = b.clone().eq_missing(t.clone());
        let ot = o.clone().eq_missing(t.clone());
        let cell_conflict = all3
            .clone()
            .and(bo.clone().not())
            .and(bt.clone().not())
            .and(ot.clone().not())
            .or(added_both.clone().and(ot.not()));
        let mut take_t = pt
            .clone()
            .and(po.clone().not())
            .or(all3.clone().and(bo.clone()));
        if strategy == Strategy::Theirs {
            take_t = take_t.or(cell_conflict.clone());
        }
        values.push(
            when(take_t)
                .then(t.clone())
                .otherwise(o.clone())
                .alias(name.as_str()),
        );
        wide.push(b.alias(prefixed(BP, name)));
        wide.push(o.alias(prefixed(OP, name)));
        wide.push(t.alias(prefixed(TP, name)));
        cell_conflicts.push(cell_conflict);
        // Filling a column the base lacks is part of that schema change, not an edit
        // of the row, so it does not count against a delete on the other side.
        if bs.get(name.as_str()).is_some() {
            ours_changed.push(bo.not());
            theirs_changed.push(bt.not());
        } else {
            ours_changed.push(lit(false));
            theirs_changed.push(lit(false));
        }
    }
    let any = |v: &Vec<Expr>| -> Result<Expr> {
        Ok(if v.is_empty() {
            lit(false)
        } else {
            any_horizontal(v.clone())?
        })
    };
    let row_cc = any(&cell_conflicts)?;
    let o_mod_t_del = pb
        .clone()
        .and(po.clone())
        .and(pt.clone().not())
        .and(any(&ours_changed)?);
    let o_del_t_mod = pb
        .clone()
        .and(po.clone().not())
        .and(pt.clone())
        .and(any(&theirs_changed)?);
    let conflict = row_cc
        .clone()
        .or(o_mod_t_del.clone())
        .or(o_del_t_mod.clone());
    let mut keep = po
        .clone()
        .and(pt.clone())
        .or(pb.clone().not().and(po.clone().or(pt.clone())));
    match strategy {
        Strategy::Manual => keep = keep.or(o_mod_t_del.clone()).or(o_del_t_mod.clone()),
        Strategy::Ours => keep = keep.or(o_mod_t_del.clone()),
        Strategy::Theirs => keep = keep.or(o_del_t_mod.clone()),
    }
    let ord = when(pb.clone())
        .then(col(IB).cast(DataType::Int64))
        .otherwise(
            when(po.clone())
                .then(col(IO).cast(DataType::Int64) + lit(SHIFT))
                .otherwise(col(IT).cast(DataType::Int64) + lit(2 * SHIFT)),
        )
        .alias(ORD);
    values.push(ord.clone());
    if strategy == Strategy::Manual {
        values.push(conflict.clone().alias(CONFLICT));
    }
    let all_sources = [base, ours, theirs];
    let settled = joined.clone().filter(keep).select(values);
    let table = if presorted {
        // Lined-up rows come in merged order already; filtering keeps it.
        // One chunk per column, as the sort gives on the other path: polars 0.55's JSON
        // writer drops rows of frames with several chunks per column.
        let mut table = collect_checked(settled, &all_sources, ReadMode::Exact)?;
        table.rechunk_mut_par();
        table
    } else {
        collect_checked(
            settled.sort([ORD], SortMultipleOptions::default()),
            &all_sources,
            ReadMode::Exact,
        )?
    };

    if fused_check {
        let keys = table.column(key[0].as_str())?;
        if keys.n_unique()? != keys.len() {
            check_all(unchecked.0, unchecked.1, unchecked.2)?;
        }
    }
    let mut outcome = MergeOutcome {
        name: ours.name().to_string(),
        key: key.to_vec(),
        columns,
        table,
        conflicts: Vec::new(),
        schema_conflicts,
        conflict_frame: None,
        spliced: None,
    };
    let n_conflicts = match outcome.table.column(CONFLICT) {
        Ok(c) => c.bool()?.sum().unwrap_or(0),
        Err(_) => 0,
    };
    if n_conflicts == 0 {
        return Ok(outcome);
    }

    // Materialise the conflicting rows on every side.
    wide.extend([
        col(PB).is_not_null().alias(PB),
        po.alias(PO),
        pt.alias(PT),
        ord,
    ]);
    let kind = when(row_cc.clone().and(pb.clone()))
        .then(lit(0))
        .when(row_cc)
        .then(lit(1))
        .when(o_mod_t_del)
        .then(lit(2))
        .otherwise(lit(3))
        .alias("__colony_kind");
    wide.push(kind);
    let non_key: Vec<&(String, DataType)> =
        outcome.columns.iter().filter(|(n, _)| !is_key(n)).collect();
    for (i, (name, _)) in non_key.iter().enumerate() {
        // Columns at issue: differing cells for both-changed rows, changed cells of the
        // modifying side for modify/delete rows.
        let at_issue = when(col(PO).is_not_null().and(col(PT).is_not_null()))
            .then(cell_conflicts[i].clone())
            .when(col(PO).is_not_null())
            .then(ours_changed[i].clone())
            .otherwise(theirs_changed[i].clone());
        wide.push(at_issue.alias(prefixed(XP, name)));
    }
    let frame = collect_checked(
        joined
            .filter(conflict)
            .select(wide)
            .sort([ORD], SortMultipleOptions::default()),
        &all_sources,
        ReadMode::Exact,
    )?;
    let rows = frame_to_rows(&frame)?;
    let key_of = |r: &JsonRow| -> JsonRow {
        r.iter()
            .filter(|(k, _)| is_key(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let side_row = |r: &JsonRow, prefix: &str, present: &str| -> Option<JsonRow> {
        if r.get(present).and_then(|v| v.as_bool()) != Some(true) {
            return None;
        }
        let mut m = key_of(r);
        m.extend(strip_prefix(r, prefix));
        Some(m)
    };
    for (index, r) in rows.iter().enumerate() {
        let kind = match r.get("__colony_kind").and_then(|v| v.as_i64()) {
            Some(0) => RowConflictKind::BothModified,
            Some(1) => RowConflictKind::BothAdded,
            Some(2) => RowConflictKind::OursModifiedTheirsDeleted,
            _ => RowConflictKind::OursDeletedTheirsModified,
        };
        let at_issue = strip_prefix(r, XP);
        outcome.conflicts.push(RowConflict {
            key: key_of(r),
            kind,
            columns: non_key
                .iter()
                .filter(|(n, _)| at_issue.get(n.as_str()).and_then(|v| v.as_bool()) == Some(true))
                .map(|(n, _)| n.clone())
                .collect(),
            base: side_row(r, BP, PB),
            ours: side_row(r, OP, PO),
            theirs: side_row(r, TP, PT),
            index,
        });
    }
    outcome.conflict_frame = Some(frame);
    Ok(outcome)
}

/// The merge done a row group at a time (see `splice.rs`), or `None` where that does not
/// apply, or where rows conflict and are left to settle (the general merge then reports
/// them).
fn merge_row_groups(
    base: &TableSource,
    ours: &TableSource,
    theirs: &TableSource,
    key: &[String],
    strategy: Strategy,
) -> Result<Option<MergeOutcome>> {
    let Some(prepared) = splice::prepare(base, ours, theirs, key)? else {
        return Ok(None);
    };
    let [b, o, t] = prepared.touched.clone();
    let frame = |src: &TableSource, df| TableSource::from_frame(src.name(), src.format(), df);
    let touched = merge3_on(
        &frame(base, b),
        &frame(ours, o),
        &frame(theirs, t),
        key,
        strategy,
        &MergeOptions {
            // Strictly increasing keys, checked while lining the versions up.
            assume_unique_keys: true,
        },
        JoinPath::Auto,
    )?;
    if !touched.is_clean() {
        return Ok(None);
    }
    let order = touched.table.column(ORD)?.cast(&DataType::Int64)?;
    let order: Vec<i64> = order.i64()?.into_no_null_iter().collect();
    let Some(pieces) = prepared.pieces(&order) else {
        return Ok(None);
    };
    Ok(Some(MergeOutcome {
        name: ours.name().to_string(),
        spliced: Some(Arc::new(Spliced {
            ours: prepared.ours,
            theirs: prepared.theirs,
            pieces,
        })),
        ..touched
    }))
}
