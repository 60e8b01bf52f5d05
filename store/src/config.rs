//! `.colony/config.toml`: settings of one dataset. Sections colony does not know (written
//! by newer versions or other parts, such as `[dao]`) are kept as they are.

use std::path::{Path, PathBuf};

use crate::durable;
use crate::error::{Result, StoreError};

/// zstd level used when `store.compression_level` is not set.
pub const DEFAULT_COMPRESSION_LEVEL: i32 = 1;

/// The parsed configuration file.
#[derive(Clone, Debug)]
pub struct Config {
    path: PathBuf,
    table: toml::Table,
}

impl Config {
    /// Loads `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(StoreError::io(format!("read {}", path.display()), e)),
        };
        let table = text
            .parse::<toml::Table>()
            .map_err(|e| StoreError::Config {
                path: path.to_path_buf(),
                why: e.to_string(),
            })?;
        Ok(Config {
            path: path.to_path_buf(),
            table,
        })
    }

    /// Writes the file atomically.
    pub fn save(&self) -> Result<()> {
        let text = toml::to_string_pretty(&self.table).map_err(|e| StoreError::Config {
            path: self.path.clone(),
            why: e.to_string(),
        })?;
        durable::write_atomic(&self.path, text.as_bytes())
    }

    /// The value at a dotted key such as `user.name`.
    pub fn get(&self, key: &str) -> Option<&toml::Value> {
        let mut parts = key.split('.');
        let mut v = self.table.get(parts.next()?)?;
        for p in parts {
            v = v.as_table()?.get(p)?;
        }
        Some(v)
    }

    /// A string value at a dotted key.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }

    /// Sets a dotted key, creating tables on the way.
    pub fn set(&mut self, key: &str, value: toml::Value) {
        let parts: Vec<&str> = key.split('.').collect();
        let mut t = &mut self.table;
        for p in &parts[..parts.len() - 1] {
            t = t
                .entry(p.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .expect("config path crosses a non-table value");
        }
        t.insert(parts[parts.len() - 1].to_string(), value);
    }

    /// Removes a dotted key; returns whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let parts: Vec<&str> = key.split('.').collect();
        let mut t = &mut self.table;
        for p in &parts[..parts.len() - 1] {
            match t.get_mut(*p).and_then(toml::Value::as_table_mut) {
                Some(next) => t = next,
                None => return false,
            }
        }
        t.remove(parts[parts.len() - 1]).is_some()
    }

    /// The whole table.
    pub fn table(&self) -> &toml::Table {
        &self.table
    }

    /// zstd level for new records (0 = store raw).
    pub fn compression_level(&self) -> Result<i32> {
        match self.get("store.compression_level") {
            None => Ok(DEFAULT_COMPRESSION_LEVEL),
            Some(v) => v
                .as_integer()
                .filter(|l| (0..=19).contains(l))
                .map(|l| l as i32)
                .ok_or_else(|| StoreError::Config {
                    path: self.path.clone(),
                    why: "store.compression_level must be an integer from 0 (off) to 19".into(),
                }),
        }
    }

    /// Author for new commits: config `user.name`/`user.email`, then the environment
    /// (`COLONY_AUTHOR_NAME`/`EMAIL`, `GIT_AUTHOR_NAME`/`EMAIL`), then a placeholder.
    pub fn author(&self) -> (String, String) {
        let env = |a: &str, b: &str| std::env::var(a).or_else(|_| std::env::var(b)).ok();
        let name = self
            .get_str("user.name")
            .map(str::to_string)
            .or_else(|| env("COLONY_AUTHOR_NAME", "GIT_AUTHOR_NAME"))
            .unwrap_or_else(|| "colony user".into());
        let email = self
            .get_str("user.email")
            .map(str::to_string)
            .or_else(|| env("COLONY_AUTHOR_EMAIL", "GIT_AUTHOR_EMAIL"))
            .unwrap_or_else(|| "colony@localhost".into());
        (name, email)
    }
}
