//! Tables as training data, through the table engine (colony-tables, polars): numeric
//! feature columns standardised to f32, a label column mapped to class indices, or a text
//! column for the char model. Built without the `tables` feature, tables are refused.

use colony_store::{FileEntry, Repo};

use crate::error::{Result, TrainError};

/// Rows read from tables.
pub struct Rows {
    /// `n × features.len()` standardised features, row-major.
    pub x: Vec<f32>,
    /// Class index of each row.
    pub y: Vec<u32>,
    /// Feature column names.
    pub features: Vec<String>,
    /// Class values, sorted; `y` indexes them.
    pub classes: Vec<String>,
}

#[cfg(feature = "tables")]
fn frame(repo: &Repo, path: &str, e: &FileEntry) -> Result<colony_tables::DataFrame> {
    let bytes = crate::data::read_all(repo, path, e)?;
    colony_tables::TableSource::from_bytes(path, bytes)
        .and_then(|t| t.read())
        .map_err(|err| TrainError::Data(err.to_string()))
}

#[cfg(feature = "tables")]
fn pl(path: &str, e: impl std::fmt::Display) -> TrainError {
    TrainError::Data(format!("{path}: {e}"))
}

/// Reads `label` and the feature columns (default: every numeric column but the label)
/// of every table in `files`; the tables must share those columns.
#[cfg(feature = "tables")]
pub fn load_rows(
    repo: &Repo,
    files: &[(&String, &FileEntry)],
    label: &str,
    features: &[String],
) -> Result<Rows> {
    use colony_tables::polars::prelude::DataType;
    let mut cols: Vec<String> = features.to_vec();
    let mut raw: Vec<Vec<f64>> = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    for (path, e) in files {
        let df = frame(repo, path, e)?;
        if cols.is_empty() {
            cols = df
                .columns()
                .iter()
                .filter(|c| c.name().as_str() != label && c.dtype().is_primitive_numeric())
                .map(|c| c.name().to_string())
                .collect();
            if cols.is_empty() {
                return Err(TrainError::Data(format!(
                    "{path}: no numeric feature columns besides `{label}`"
                )));
            }
        }
        let l = df
            .column(label)
            .map_err(|err| pl(path, err))?
            .cast(&DataType::String)
            .map_err(|err| pl(path, err))?;
        let l = l.str().map_err(|err| pl(path, err))?;
        labels.extend(l.iter().map(|v| v.unwrap_or("").to_string()));
        raw.resize(cols.len(), Vec::new());
        for (i, c) in cols.iter().enumerate() {
            let s = df
                .column(c)
                .map_err(|err| pl(path, err))?
                .cast(&DataType::Float64)
                .map_err(|err| pl(path, err))?;
            let s = s.f64().map_err(|err| pl(path, err))?;
            raw[i].extend(s.iter().map(|v| v.unwrap_or(f64::NAN)));
        }
    }
    let n = labels.len();
    if n == 0 {
        return Err(TrainError::Data("the tables have no rows".into()));
    }
    let mut classes: Vec<String> = labels.clone();
    classes.sort();
    classes.dedup();
    let y = labels
        .iter()
        .map(|l| classes.binary_search(l).expect("present") as u32)
        .collect();
    // Standardise each column (sequential f64 sums: the same on every machine); missing
    // values become the mean (0).
    let f = cols.len();
    let mut x = vec![0f32; n * f];
    for (j, col) in raw.iter().enumerate() {
        let vals: Vec<f64> = col.iter().copied().filter(|v| v.is_finite()).collect();
        let mean = vals.iter().sum::<f64>() / vals.len().max(1) as f64;
        let var =
            vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / vals.len().max(1) as f64;
        let sd = if var > 0.0 { var.sqrt() } else { 1.0 };
        for (i, v) in col.iter().enumerate() {
            x[i * f + j] = if v.is_finite() {
                ((v - mean) / sd) as f32
            } else {
                0.0
            };
        }
    }
    Ok(Rows {
        x,
        y,
        features: cols,
        classes,
    })
}

/// The text of column `col` of a table, one row per line.
#[cfg(feature = "tables")]
pub fn load_text(repo: &Repo, path: &str, e: &FileEntry, col: &str) -> Result<Vec<u8>> {
    use colony_tables::polars::prelude::DataType;
    let df = frame(repo, path, e)?;
    let s = df
        .column(col)
        .map_err(|err| pl(path, err))?
        .cast(&DataType::String)
        .map_err(|err| pl(path, err))?;
    let mut out = Vec::new();
    for v in s.str().map_err(|err| pl(path, err))?.iter().flatten() {
        out.extend_from_slice(v.as_bytes());
        out.push(b'\n');
    }
    Ok(out)
}

#[cfg(not(feature = "tables"))]
fn no_tables() -> TrainError {
    TrainError::Config("this colony was built without the table engine (feature `tables`)".into())
}

/// Tables need the `tables` feature.
#[cfg(not(feature = "tables"))]
pub fn load_rows(_: &Repo, _: &[(&String, &FileEntry)], _: &str, _: &[String]) -> Result<Rows> {
    Err(no_tables())
}

/// Tables need the `tables` feature.
#[cfg(not(feature = "tables"))]
pub fn load_text(_: &Repo, _: &str, _: &FileEntry, _: &str) -> Result<Vec<u8>> {
    Err(no_tables())
}
