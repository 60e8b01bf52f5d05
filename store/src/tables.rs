//! The bridge to the table engine (crate `colony-tables`, polars), behind the default
//! feature `tables`. Everything the store asks of tables goes through the few functions
//! here, on bytes read (verified) from the store, so the per-file machinery of `merge`
//! does not depend on polars: built without the feature, tables merge as whole files.

use serde_json::Value;

use crate::error::{Result, StoreError};

/// Which side settles a conflict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The current branch (HEAD).
    Ours,
    /// The revision being merged in.
    Theirs,
}

/// How one conflicting row of a table is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RowChoice {
    /// Ours' row (none if ours deleted it).
    Ours,
    /// Theirs' row (none if theirs deleted it).
    Theirs,
    /// The merge base's row (none if the base had none).
    Base,
    /// No row.
    Delete,
}

impl From<Side> for RowChoice {
    fn from(side: Side) -> RowChoice {
        match side {
            Side::Ours => RowChoice::Ours,
            Side::Theirs => RowChoice::Theirs,
        }
    }
}

/// The outcome of merging one table.
pub enum TableMerge {
    /// Every row settled: the merged file's bytes and its row count.
    Merged {
        /// The merged table, as a file of the same format.
        bytes: Vec<u8>,
        /// Rows in it.
        rows: u64,
    },
    /// Rows (or columns) the sides changed incompatibly.
    Conflicts {
        /// The conflicting rows: `{key, kind, columns, base, ours, theirs}` each.
        rows: Vec<Value>,
        /// The conflicting columns: `{column, kind, base, ours, theirs}` each.
        schema: Vec<Value>,
        /// Rows settled cleanly.
        settled: u64,
    },
}

/// Settles conflicting rows by the canonical text of their key ([`key_text`]); `None`
/// leaves a row unsettled.
pub type RowChoices<'a> = &'a dyn Fn(&str) -> Option<RowChoice>;

/// Whether the store was built with the table engine.
pub const ENABLED: bool = cfg!(feature = "tables");

/// The canonical text of a conflict's key (`{"col":value,...}`, columns sorted), used to
/// record per-row resolutions.
pub fn key_text(conflict: &Value) -> String {
    conflict
        .get("key")
        .map(|k| k.to_string())
        .unwrap_or_default()
}

#[cfg(feature = "tables")]
mod engine {
    use colony_tables as ct;

    use super::*;

    fn err(e: ct::TableError) -> StoreError {
        StoreError::Table(e.to_string())
    }

    /// A table version held in memory. Fails, naming `side`, if the bytes are not a
    /// table (for Parquet, checked from the footer; rows are decoded when needed).
    fn source(path: &str, side: &str, bytes: Vec<u8>) -> Result<ct::TableSource> {
        let src = ct::TableSource::from_bytes(path, bytes).map_err(err)?;
        src.schema()
            .map_err(|e| StoreError::Table(format!("{e} (in {side})")))?;
        Ok(src)
    }

    /// Three-way merge of one table. `choices`, when given, settles conflicting rows
    /// (by [`key_text`]); `strategy` settles every conflict one way.
    #[allow(clippy::too_many_arguments)]
    pub fn merge_table(
        path: &str,
        base: Vec<u8>,
        ours: Vec<u8>,
        theirs: Vec<u8>,
        key: &[String],
        strategy: Option<Side>,
        choices: Option<RowChoices<'_>>,
    ) -> Result<TableMerge> {
        if key.is_empty() {
            return Err(err(ct::TableError::NoKey {
                name: path.to_string(),
            }));
        }
        let b = source(path, "the merge base's version", base)?;
        let o = source(path, "ours", ours)?;
        let t = source(path, "theirs", theirs)?;
        let format = o.format();
        let strat = match strategy {
            None => ct::Strategy::Manual,
            Some(Side::Ours) => ct::Strategy::Ours,
            Some(Side::Theirs) => ct::Strategy::Theirs,
        };
        let outcome = ct::merge3(&b, &o, &t, key, strat).map_err(err)?;
        if outcome.is_clean() {
            // Written straight from the outcome: a Parquet merge done a row group at a
            // time copies the row groups it keeps without re-encoding them.
            let mut bytes = Vec::new();
            let rows = outcome.write_to(format, &mut bytes).map_err(err)?;
            return Ok(TableMerge::Merged { bytes, rows });
        }
        let mut df = if let (Some(choose), true) = (choices, outcome.schema_conflicts().is_empty())
        {
            let key_of = |c: &ct::RowConflict| {
                serde_json::to_value(&c.key)
                    .unwrap_or(Value::Null)
                    .to_string()
            };
            let missing = outcome
                .conflicts()
                .iter()
                .filter(|c| choose(&key_of(c)).is_none())
                .count();
            if missing > 0 {
                return Err(StoreError::Refused(format!(
                    "{missing} conflicting row(s) of `{path}` have no resolution yet"
                )));
            }
            outcome
                .resolve(|c| match choose(&key_of(c)) {
                    Some(RowChoice::Theirs) => ct::Resolution::Theirs,
                    Some(RowChoice::Base) => ct::Resolution::Base,
                    Some(RowChoice::Delete) => ct::Resolution::Delete,
                    _ => ct::Resolution::Ours,
                })
                .map_err(err)?
        } else {
            let rows = outcome
                .conflicts()
                .iter()
                .map(|c| serde_json::to_value(c).unwrap_or(Value::Null))
                .collect();
            let schema = outcome
                .schema_conflicts()
                .iter()
                .map(|c| serde_json::to_value(c).unwrap_or(Value::Null))
                .collect();
            return Ok(TableMerge::Conflicts {
                rows,
                schema,
                settled: outcome.stats().rows,
            });
        };
        let rows = df.height() as u64;
        let bytes = ct::table_to_bytes(&mut df, format).map_err(err)?;
        Ok(TableMerge::Merged { bytes, rows })
    }

    /// Row-level diff of two versions of a table, as JSON.
    pub fn diff_table(
        path: &str,
        old: Vec<u8>,
        new: Vec<u8>,
        key: &[String],
        rows: bool,
    ) -> Result<Value> {
        if key.is_empty() {
            return Err(err(ct::TableError::NoKey {
                name: path.to_string(),
            }));
        }
        let a = source(path, "the old version", old)?;
        let b = source(path, "the new version", new)?;
        let opts = ct::DiffOptions {
            rows,
            ..Default::default()
        };
        Ok(ct::diff(&a, &b, key, &opts).map_err(err)?.to_json())
    }

    /// Runs `sql` over `tables` (path, bytes) and renders the result.
    pub fn query_tables(
        tables: Vec<(String, Vec<u8>)>,
        sql: &str,
        format: &str,
        max_rows: Option<usize>,
    ) -> Result<QueryOutput> {
        let mut sources = Vec::new();
        for (p, bytes) in tables {
            sources.push(source(&p, "the query", bytes)?);
        }
        let df = ct::query(&sources, sql).map_err(err)?;
        let f = match format {
            "csv" => ct::OutputFormat::Csv,
            "json" => ct::OutputFormat::Json,
            _ => ct::OutputFormat::Table,
        };
        let rows = df.height();
        let shown = max_rows.map_or(rows, |m| m.min(rows));
        let text = if shown < rows {
            ct::render(&df.head(Some(shown)), f)
        } else {
            ct::render(&df, f)
        }
        .map_err(err)?;
        Ok(QueryOutput {
            text,
            rows: rows as u64,
            shown: shown as u64,
        })
    }

    /// Refuses SQL that would do more than read the tables it names (see
    /// `colony_tables::check_read_only`).
    pub fn check_read_only(sql: &str) -> Result<()> {
        ct::check_read_only(sql).map_err(err)
    }
}

#[cfg(not(feature = "tables"))]
mod engine {
    use super::*;

    fn off() -> StoreError {
        StoreError::Table(
            "this colony was built without the table engine (feature `tables`)".into(),
        )
    }

    /// Unavailable without the `tables` feature.
    pub fn merge_table(
        _: &str,
        _: Vec<u8>,
        _: Vec<u8>,
        _: Vec<u8>,
        _: &[String],
        _: Option<Side>,
        _: Option<RowChoices<'_>>,
    ) -> Result<TableMerge> {
        Err(off())
    }

    /// Unavailable without the `tables` feature.
    pub fn diff_table(_: &str, _: Vec<u8>, _: Vec<u8>, _: &[String], _: bool) -> Result<Value> {
        Err(off())
    }

    /// Unavailable without the `tables` feature.
    pub fn query_tables(
        _: Vec<(String, Vec<u8>)>,
        _: &str,
        _: &str,
        _: Option<usize>,
    ) -> Result<QueryOutput> {
        Err(off())
    }

    /// Unavailable without the `tables` feature.
    pub fn check_read_only(_: &str) -> Result<()> {
        Err(off())
    }
}

pub use engine::{check_read_only, diff_table, merge_table, query_tables};

/// The result of a SQL query, rendered.
#[derive(Clone, Debug)]
pub struct QueryOutput {
    /// The rows shown, rendered in the format asked for.
    pub text: String,
    /// Rows the query returned.
    pub rows: u64,
    /// Rows rendered in `text` (fewer than `rows` when capped).
    pub shown: u64,
}
