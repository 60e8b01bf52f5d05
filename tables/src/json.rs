//! Turning frames into JSON rows for reports.

use polars::prelude::*;

use crate::error::{Result, TableError};

/// One table row as a JSON object keyed by column name (keys sorted by name).
pub type JsonRow = serde_json::Map<String, serde_json::Value>;

/// Every row of `df` as a JSON object (values typed as polars writes JSON).
pub(crate) fn frame_to_rows(df: &DataFrame) -> Result<Vec<JsonRow>> {
    if df.height() == 0 {
        return Ok(Vec::new());
    }
    let mut buf = Vec::new();
    // The JSON writer of polars 0.55 drops rows of frames whose columns have several
    // chunks (as frames assembled from slices, see `sorted.rs`, do); one chunk each.
    let mut df = df.clone();
    df.rechunk_mut();
    JsonWriter::new(&mut buf)
        .with_json_format(JsonFormat::Json)
        .finish(&mut df)?;
    let rows: Vec<JsonRow> = serde_json::from_slice(&buf).map_err(|e| {
        TableError::Engine(PolarsError::ComputeError(
            format!("cannot turn rows into JSON: {e}").into(),
        ))
    })?;
    Ok(rows)
}

/// Keeps the entries of `row` whose names start with `prefix`, with the prefix stripped.
pub(crate) fn strip_prefix(row: &JsonRow, prefix: &str) -> JsonRow {
    row.iter()
        .filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k.to_string(), v.clone())))
        .collect()
}
