//! `table key`: the columns that identify a row of a table, recorded per path so that
//! `merge` and `diff` can match rows without `--key`.
//!
//! Kept in `.colony/table-keys.toml` (`[keys]` with one `"path" = ["col", ...]` per
//! table) rather than in `config.toml`, whose dotted keys cannot hold paths with dots.
//! Forks inherit the file.

use std::collections::BTreeMap;

use crate::durable;
use crate::error::{Result, StoreError};
use crate::repo::Repo;

/// File name, inside `.colony/`.
pub const KEYS_FILE: &str = "table-keys.toml";

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct KeysFile {
    #[serde(default)]
    keys: BTreeMap<String, Vec<String>>,
}

/// The file extensions merged and diffed row by row.
pub const TABLE_EXTENSIONS: [&str; 4] = ["parquet", "csv", "jsonl", "ndjson"];

/// Whether `path` names a table (by extension, case-insensitive).
pub fn is_table(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && TABLE_EXTENSIONS.iter().any(|t| ext.eq_ignore_ascii_case(t))
    })
}

impl Repo {
    fn read_keys(&self) -> Result<KeysFile> {
        let p = self.colony_dir().join(KEYS_FILE);
        match std::fs::read_to_string(&p) {
            Ok(text) => toml::from_str(&text).map_err(|e| StoreError::Config {
                path: p,
                why: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KeysFile::default()),
            Err(e) => Err(StoreError::io(format!("read {}", p.display()), e)),
        }
    }

    /// Every recorded table key, by path.
    pub fn table_keys(&self) -> Result<BTreeMap<String, Vec<String>>> {
        Ok(self.read_keys()?.keys)
    }

    /// The key recorded for `path`, if any.
    pub fn table_key(&self, path: &str) -> Result<Option<Vec<String>>> {
        Ok(self.read_keys()?.keys.remove(path))
    }

    /// Records (or, with no columns, forgets) the key of the table at `path`.
    pub fn set_table_key(&self, path: &str, columns: &[String]) -> Result<()> {
        if !is_table(path) {
            return Err(StoreError::Refused(format!(
                "`{path}` is not a table: keys apply to .parquet, .csv, .jsonl and .ndjson files"
            )));
        }
        if columns.iter().any(|c| c.is_empty()) {
            return Err(StoreError::Refused(
                "key column names cannot be empty".into(),
            ));
        }
        let mut f = self.read_keys()?;
        if columns.is_empty() {
            f.keys.remove(path);
        } else {
            f.keys.insert(path.to_string(), columns.to_vec());
        }
        let text = toml::to_string_pretty(&f)
            .map_err(|e| StoreError::Refused(format!("encode table keys: {e}")))?;
        durable::write_atomic(&self.colony_dir().join(KEYS_FILE), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tables_by_extension() {
        assert!(super::is_table("a/b.Parquet"));
        assert!(super::is_table("x.ndjson"));
        assert!(!super::is_table("x.json"));
        assert!(!super::is_table(".csv"));
    }
}
