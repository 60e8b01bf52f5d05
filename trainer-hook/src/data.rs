//! Training data read from a snapshot in the store, and the batch of every step as a pure
//! function of the seed and the step number.
//!
//! Files are read chunk by chunk from the store (each chunk verified against its BLAKE3);
//! text stops at [`DataSpec::max_bytes`], so memory is bounded by that cap.
//!
//! Tables (the MLP) are **not** memory-bounded: every row's standardised features stay in
//! memory as f32 (4 × rows × features bytes), and while they load, one file at a time is
//! held as bytes and as a decoded frame, next to the f64 columns and labels of every file
//! read so far. Two things the run's determinism rests on need the whole table: the
//! standardisation (each column's mean and deviation, summed in order, are fixed before
//! the first step) and the data order (each epoch visits all rows in one seeded
//! Fisher-Yates permutation, so any step may need any row). Streaming batches would mean
//! random reads of row groups from the store per step, or a windowed shuffle that changes
//! what records mean; neither is done yet. For tables larger than memory, train through
//! `--exec` with a trainer that streams.

use candle_core::{Device, Tensor};
use colony_store::{FileEntry, Repo, Snapshot};

use crate::error::{Result, TrainError};
use crate::model::{Batch, ModelKind};
use crate::rng::{SplitMix64, stream};

/// Which data of the snapshot to train on (recorded in the run config).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataSpec {
    /// Glob over dataset paths (`*` any run of characters, `?` one); default: tables for
    /// the MLP (`.csv`, `.parquet`, `.jsonl`), text (`.txt`, `.md`) for the char model.
    pub path: Option<String>,
    /// The label column (MLP).
    pub label: Option<String>,
    /// Feature columns (MLP; default: every numeric column but the label), or for the
    /// char model the one text column to read from tables.
    pub features: Vec<String>,
    /// At most this many bytes of text are read (char model).
    pub max_bytes: u64,
}

/// A file the run read.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataFile {
    /// Dataset path.
    pub path: String,
    /// BLAKE3 of its content.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
}

/// What the run trained on (recorded).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataInfo {
    /// Files read, in path order.
    pub files: Vec<DataFile>,
    /// Examples (rows, or text bytes).
    pub examples: u64,
    /// Feature columns used (MLP).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// Class values in index order (MLP).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// How the order is fixed.
    pub order: String,
}

/// Loaded training data.
pub enum Data {
    /// Standardised features, row-major, and labels.
    Rows {
        /// `n × f` features.
        x: Vec<f32>,
        /// `n` labels.
        y: Vec<u32>,
        /// Feature count.
        f: usize,
        /// Cached permutation `(epoch, order)`.
        perm: Option<(u64, Vec<u32>)>,
    },
    /// Text bytes.
    Text(Vec<u8>),
}

/// Whether `path` matches `glob` (`*` any run of characters, `?` one character).
pub fn glob_match(glob: &str, path: &str) -> bool {
    fn m(g: &[u8], p: &[u8]) -> bool {
        match g.split_first() {
            None => p.is_empty(),
            Some((b'*', rest)) => (0..=p.len()).any(|i| m(rest, &p[i..])),
            Some((b'?', rest)) => !p.is_empty() && m(rest, &p[1..]),
            Some((c, rest)) => p.first() == Some(c) && m(rest, &p[1..]),
        }
    }
    m(glob.as_bytes(), path.as_bytes())
}

fn is_table(p: &str) -> bool {
    [".csv", ".parquet", ".jsonl", ".ndjson"]
        .iter()
        .any(|e| p.ends_with(e))
}

fn is_text(p: &str) -> bool {
    [".txt", ".md", ".text"].iter().any(|e| p.ends_with(e))
}

/// Reads a whole file, verified.
pub fn read_all(repo: &Repo, path: &str, e: &FileEntry) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(e.size as usize);
    colony_store::content::write_content(repo.chunks()?, path, e, &mut out)?;
    Ok(out)
}

/// Reads up to `cap` bytes of a file, chunk by chunk, each chunk verified.
fn read_file(repo: &Repo, path: &str, e: &FileEntry, cap: u64) -> Result<Vec<u8>> {
    let store = repo.chunks()?;
    let mut out = Vec::new();
    for (chunk, _) in colony_store::content::chunk_list(store, e).map_err(|err| err.at(path))? {
        if out.len() as u64 >= cap {
            break;
        }
        let bytes = store.read(&chunk, "chunk").map_err(|err| err.at(path))?;
        out.extend_from_slice(&bytes);
    }
    out.truncate(cap.min(out.len() as u64) as usize);
    Ok(out)
}

impl Data {
    /// Loads the data a model trains on from `snapshot`.
    pub fn load(
        repo: &Repo,
        snapshot: &Snapshot,
        model: ModelKind,
        spec: &DataSpec,
    ) -> Result<(Data, DataInfo)> {
        let want_tables = model == ModelKind::Mlp || !spec.features.is_empty();
        let picked: Vec<(&String, &FileEntry)> = snapshot
            .iter()
            .filter(|(_, e)| e.mode != colony_store::Mode::Link && e.size > 0)
            .filter(|(p, _)| match &spec.path {
                Some(g) => glob_match(g, p),
                None if want_tables => is_table(p),
                None => is_text(p),
            })
            .collect();
        if picked.is_empty() {
            return Err(TrainError::Data(format!(
                "no {} in the snapshot{}",
                if want_tables { "tables" } else { "text files" },
                spec.path
                    .as_deref()
                    .map(|g| format!(" match `{g}`"))
                    .unwrap_or_default()
            )));
        }
        let files = picked
            .iter()
            .map(|(p, e)| DataFile {
                path: (*p).clone(),
                hash: e.hash.to_string(),
                size: e.size,
            })
            .collect();
        if model == ModelKind::Mlp {
            let label = spec.label.as_deref().ok_or_else(|| {
                TrainError::Config("the MLP needs `--label COLUMN` (the class column)".into())
            })?;
            let t = crate::data_tables::load_rows(repo, &picked, label, &spec.features)?;
            let info = DataInfo {
                files,
                examples: t.y.len() as u64,
                features: t.features,
                classes: t.classes,
                order: "each epoch e visits rows in the Fisher-Yates order drawn by SplitMix64(seed, 2^32 + e)".into(),
            };
            return Ok((
                Data::Rows {
                    x: t.x,
                    y: t.y,
                    f: info.features.len(),
                    perm: None,
                },
                info,
            ));
        }
        let mut text = Vec::new();
        for (p, e) in &picked {
            let left = spec.max_bytes.saturating_sub(text.len() as u64);
            if left == 0 {
                break;
            }
            if spec.features.is_empty() {
                text.extend(read_file(repo, p, e, left)?);
            } else {
                let col = crate::data_tables::load_text(repo, p, e, &spec.features[0])?;
                text.extend_from_slice(&col[..col.len().min(left as usize)]);
            }
            text.push(b'\n');
        }
        let info = DataInfo {
            files,
            examples: text.len() as u64,
            features: spec.features.clone(),
            classes: Vec::new(),
            order: "step s reads windows at offsets drawn by SplitMix64(seed, 2^32 + s)".into(),
        };
        Ok((Data::Text(text), info))
    }

    /// The batch of step `step` (1-based): a pure function of the data, `seed` and `step`.
    pub fn batch(
        &mut self,
        step: u64,
        size: usize,
        context: usize,
        seed: u64,
        dev: &Device,
    ) -> Result<Batch> {
        match self {
            Data::Rows { x, y, f, perm } => {
                let n = y.len() as u64;
                let mut bx = Vec::with_capacity(size * *f);
                let mut by = Vec::with_capacity(size);
                for j in 0..size as u64 {
                    let pos = (step - 1) * size as u64 + j;
                    let epoch = pos / n;
                    if perm.as_ref().is_none_or(|(e, _)| *e != epoch) {
                        let mut order: Vec<u32> = (0..n as u32).collect();
                        SplitMix64::new(seed, stream::ORDER + epoch).shuffle(&mut order);
                        *perm = Some((epoch, order));
                    }
                    let i = perm.as_ref().expect("set above").1[(pos % n) as usize] as usize;
                    bx.extend_from_slice(&x[i * *f..(i + 1) * *f]);
                    by.push(y[i]);
                }
                Ok(Batch::Rows {
                    x: Tensor::from_vec(bx, (size, *f), dev)?,
                    y: Tensor::from_vec(by, size, dev)?,
                })
            }
            Data::Text(bytes) => {
                if bytes.len() <= context + 1 {
                    return Err(TrainError::Data(format!(
                        "{} bytes of text is too little for a context of {context}",
                        bytes.len()
                    )));
                }
                let mut rng = SplitMix64::new(seed, stream::ORDER + step);
                let span = (bytes.len() - context - 1) as u64;
                let mut bx = Vec::with_capacity(size * context);
                let mut by = Vec::with_capacity(size * context);
                for _ in 0..size {
                    let s = rng.below(span) as usize;
                    bx.extend(bytes[s..s + context].iter().map(|&b| b as u32));
                    by.extend(bytes[s + 1..s + context + 1].iter().map(|&b| b as u32));
                }
                Ok(Batch::Tokens {
                    x: Tensor::from_vec(bx, (size, context), dev)?,
                    y: Tensor::from_vec(by, (size, context), dev)?,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("*.csv", "data/a.csv"));
        assert!(glob_match("data/?.csv", "data/a.csv"));
        assert!(!glob_match("*.csv", "data/a.parquet"));
        assert!(glob_match("*", "x"));
    }
}
