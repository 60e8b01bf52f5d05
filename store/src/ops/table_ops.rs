//! Row-level `diff` of a table between two revisions, and SQL `query` over the tables of
//! a revision, both read straight from the store (verified), without a checkout.

use crate::error::{Result, StoreError};
use crate::ops::table_keys::is_table;
use crate::repo::Repo;
use crate::tables;

impl Repo {
    /// Row-level diff of the table at `path` between `from` and `to`, as JSON (`added`,
    /// `removed`, `modified`, `unchanged` counts, `columns`, `schema`, and `rows` when
    /// `rows` is set). The key is `key`, else the recorded one.
    pub fn diff_table(
        &self,
        from: &str,
        to: &str,
        path: &str,
        key: &[String],
        rows: bool,
    ) -> Result<serde_json::Value> {
        let key = self.key_for(path, key)?;
        let read = |rev: &str| -> Result<Vec<u8>> {
            let snap = self.snapshot_of(self.resolve(rev)?)?;
            let e = snap.get(path).ok_or_else(|| StoreError::NoSuchPath {
                path: path.to_string(),
                rev: rev.to_string(),
            })?;
            self.file_bytes(path, e)
        };
        let mut v =
            tables::diff_table(path, read(from)?, read(to)?, &key, rows).map_err(|e| e.at(path))?;
        if let Some(o) = v.as_object_mut() {
            o.insert("path".into(), path.into());
            o.insert("from".into(), from.into());
            o.insert("to".into(), to.into());
        }
        Ok(v)
    }

    /// Runs `sql` over the tables of `rev`, each named by its path (and, where unique, by
    /// its file stem); only tables the query mentions are read. `format` is `table`,
    /// `csv` or `json`. Returns the rendered result.
    pub fn query(&self, rev: &str, sql: &str, format: &str) -> Result<String> {
        Ok(self.query_capped(rev, sql, format, None)?.text)
    }

    /// Like [`Repo::query`], rendering at most `max_rows` rows (all with `None`); the
    /// output says how many rows the query returned. The SQL is checked to be read-only
    /// before any table is read.
    pub fn query_capped(
        &self,
        rev: &str,
        sql: &str,
        format: &str,
        max_rows: Option<usize>,
    ) -> Result<tables::QueryOutput> {
        tables::check_read_only(sql)?;
        let snap = self.snapshot_of(self.resolve(rev)?)?;
        let mut chosen = Vec::new();
        let mut all = Vec::new();
        for (p, e) in &snap {
            if !is_table(p) {
                continue;
            }
            all.push(p.clone());
            let name = p.rsplit('/').next().unwrap_or(p);
            let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
            if sql.contains(p.as_str()) || sql.contains(stem) {
                chosen.push((p.clone(), self.file_bytes(p, e)?));
            }
        }
        if chosen.is_empty() {
            return Err(StoreError::Table(format!(
                "the query names no table of {rev}; its tables are: {}",
                if all.is_empty() {
                    "(none)".to_string()
                } else {
                    all.iter()
                        .map(|p| format!("\"{p}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )));
        }
        tables::query_tables(chosen, sql, format, max_rows)
    }
}
