//! Key columns: presence, type agreement and uniqueness checks shared by diff and merge.

use polars::prelude::*;

use crate::error::{Result, TableError};
use crate::format::{ReadMode, TableSource, collect_checked};
use crate::json::frame_to_rows;

/// Checks that `key` is not empty and that every key column is in `schema`.
pub(crate) fn check_key_columns(
    source: &TableSource,
    schema: &Schema,
    key: &[String],
) -> Result<()> {
    if key.is_empty() {
        return Err(TableError::NoKey {
            name: source.name().to_string(),
        });
    }
    for k in key {
        if schema.get(k.as_str()).is_none() {
            return Err(TableError::MissingKeyColumn {
                name: source.name().to_string(),
                column: k.clone(),
                available: schema
                    .iter_names()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(())
}

/// Checks that the key columns have the same type in `left` and `right`.
pub(crate) fn check_key_types(
    left: (&TableSource, &Schema),
    right: (&TableSource, &Schema),
    key: &[String],
) -> Result<()> {
    for k in key {
        let (a, b) = (left.1.get(k.as_str()), right.1.get(k.as_str()));
        if let (Some(a), Some(b)) = (a, b)
            && a != b
        {
            return Err(TableError::KeyTypeMismatch {
                column: k.clone(),
                left_name: left.0.name().to_string(),
                left: a.to_string(),
                right_name: right.0.name().to_string(),
                right: b.to_string(),
            });
        }
    }
    Ok(())
}

/// Column expressions of the key.
pub(crate) fn key_exprs(key: &[String]) -> Vec<Expr> {
    key.iter().map(|k| col(k.as_str())).collect()
}

/// Fails with [`TableError::DuplicateKey`] naming one duplicated key if a key value
/// identifies more than one row of `lf`.
pub(crate) fn check_unique(source: &TableSource, lf: LazyFrame, key: &[String]) -> Result<()> {
    const N: &str = "__colony_rows";
    if let [k] = key {
        // One key column: compare its distinct count with the row count (one streaming
        // pass); only when they differ is the duplicate looked up for the message.
        let counts = lf.clone().select([
            len().cast(DataType::UInt64).alias(N),
            col(k.as_str())
                .n_unique()
                .cast(DataType::UInt64)
                .alias("__colony_unique"),
        ]);
        let df = collect_checked(counts, &[source], ReadMode::Exact)?;
        let rows = df.column(N)?.get(0)?.extract::<u64>();
        let unique = df.column("__colony_unique")?.get(0)?.extract::<u64>();
        if rows == unique {
            return Ok(());
        }
    }
    let dups = lf
        .group_by(key_exprs(key))
        .agg([len().alias(N)])
        .filter(col(N).gt(lit(1)))
        .limit(1);
    let df = collect_checked(dups, &[source], ReadMode::Exact)?;
    if df.height() == 0 {
        return Ok(());
    }
    let count = df.column(N)?.get(0)?.extract::<u64>().unwrap_or(2);
    let rows = frame_to_rows(&df.drop(N)?)?;
    Err(TableError::DuplicateKey {
        name: source.name().to_string(),
        key: render_key(rows.first().cloned().unwrap_or_default()),
        count,
    })
}

/// Renders a key as `(col=value, ...)` for messages.
pub(crate) fn render_key(key: serde_json::Map<String, serde_json::Value>) -> String {
    let parts: Vec<String> = key.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("({})", parts.join(", "))
}
