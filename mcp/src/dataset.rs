//! What each tool answers, as JSON: one library call each (the same the `colony` CLI
//! makes for the matching command, so the JSON is the one `colony … --json` prints).
//!
//! Everything here only reads. Each call opens the store for reading and lets it go when
//! it returns, so the server never keeps `commit` or `gc` waiting between calls.

use std::path::{Path, PathBuf};

use base64::Engine;
use colony_dao_bridge::{Chain, DaoSettings, Deployment, check_anchor, registry};
use colony_store::{Access, Repo, SnapshotReader};
use colony_trainer_hook::record::list_runs;
use serde_json::{Value, json};

use crate::error::ToolError;

/// The most bytes one `read` (or resource read) returns.
pub const MAX_READ_BYTES: u64 = 1 << 20;
/// Rows a `query` returns unless asked for fewer.
pub const DEFAULT_ROWS: usize = 100;
/// The most rows a `query` returns.
pub const MAX_ROWS: usize = 10_000;
/// Entries an `ls` page holds unless asked for fewer.
pub const DEFAULT_PAGE: usize = 1_000;
/// The most entries of an `ls` page (and of a resource listing page).
pub const MAX_PAGE: usize = 10_000;

type Result<T> = std::result::Result<T, ToolError>;

/// One dataset, answered read-only.
#[derive(Clone, Debug)]
pub struct Dataset {
    root: PathBuf,
}

/// A byte range of a file, as `read` returns it.
#[derive(Clone, Debug)]
pub struct ReadOut {
    /// The file's bytes from the offset.
    pub bytes: Vec<u8>,
    /// Whether they are returned as text (valid UTF-8 without NUL).
    pub is_text: bool,
    /// The answer's JSON (without the bytes).
    pub meta: Value,
}

impl Dataset {
    /// The dataset rooted at `root` (the folder holding `.colony`, or any folder in it).
    /// Errors: [`colony_store::StoreError::NotADataset`].
    pub fn open(start: &Path) -> std::result::Result<Dataset, colony_store::StoreError> {
        let repo = Repo::discover(start, Access::Read, &|_| {})?;
        Ok(Dataset {
            root: repo.root().to_path_buf(),
        })
    }

    /// The dataset's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn repo(&self) -> Result<Repo> {
        // Waits like any reader while a writer holds the store; never prints.
        Ok(Repo::open(&self.root, Access::Read, &|_| {})?)
    }

    /// Opens `rev` for reading in place.
    pub fn reader(&self, rev: &str) -> Result<SnapshotReader> {
        Ok(SnapshotReader::open(&self.root, rev)?)
    }

    /// `colony log [-n N] [REV] --json`, as `{"commits": [...]}`.
    pub fn log(&self, rev: Option<&str>, max_count: Option<usize>) -> Result<Value> {
        let commits = self.repo()?.log(rev, max_count)?;
        Ok(json!({ "commits": commits }))
    }

    /// One page of the folder `path` of `rev`: its children (or, with `recursive`, every
    /// file beneath it), from entry `cursor` on.
    pub fn ls(
        &self,
        rev: &str,
        path: &str,
        recursive: bool,
        cursor: usize,
        limit: usize,
    ) -> Result<Value> {
        let limit = check_page(limit)?;
        let r = self.reader(rev)?;
        let all = r.list(path, recursive)?;
        let total = all.len();
        let entries: Vec<_> = all.into_iter().skip(cursor).take(limit).collect();
        let next = cursor + entries.len();
        Ok(json!({
            "rev": rev,
            "commit": r.commit().to_string(),
            "path": path,
            "recursive": recursive,
            "total": total,
            "entries": entries,
            "next_cursor": (next < total).then_some(next),
        }))
    }

    /// What `path` is in `rev` (file, folder or symlink; size, BLAKE3, mode).
    pub fn stat(&self, rev: &str, path: &str) -> Result<Value> {
        let r = self.reader(rev)?;
        let info = r.stat(path)?;
        let mut v = as_printed(&info);
        if let Some(o) = v.as_object_mut() {
            o.insert("rev".into(), rev.into());
            o.insert("commit".into(), r.commit().to_string().into());
        }
        Ok(v)
    }

    /// Up to `length` bytes (default: to the end, at most [`MAX_READ_BYTES`]) of file
    /// `path` of `rev` from `offset`, verified.
    pub fn read(&self, rev: &str, path: &str, offset: u64, length: Option<u64>) -> Result<ReadOut> {
        if let Some(n) = length
            && n > MAX_READ_BYTES
        {
            return Err(ToolError::ReadTooLarge {
                asked: n,
                cap: MAX_READ_BYTES,
            });
        }
        let r = self.reader(rev)?;
        let info = r.stat(path)?;
        if offset > 0 && offset >= info.size {
            return Err(ToolError::RangePastEnd {
                path: info.path,
                offset,
                size: info.size,
            });
        }
        let want = length.unwrap_or(MAX_READ_BYTES);
        let mut bytes = r.read_at(path, offset, want as usize)?;
        let is_text = text_prefix(&mut bytes);
        let end = offset + bytes.len() as u64;
        let meta = json!({
            "rev": rev,
            "commit": r.commit().to_string(),
            "path": info.path,
            "size": info.size,
            "hash": info.hash,
            "offset": offset,
            "length": bytes.len(),
            "encoding": if is_text { "utf-8" } else { "base64" },
            "eof": end >= info.size,
            "next_offset": (end < info.size).then_some(end),
            "max_read_bytes": MAX_READ_BYTES,
        });
        Ok(ReadOut {
            bytes,
            is_text,
            meta,
        })
    }

    /// `colony query REV SQL --json`, at most `max_rows` rows, as `{"rows": [...], …}`.
    pub fn query(&self, rev: &str, sql: &str, max_rows: usize) -> Result<Value> {
        if max_rows == 0 || max_rows > MAX_ROWS {
            return Err(ToolError::Invalid {
                name: "max_rows",
                why: format!("{max_rows} is not between 1 and {MAX_ROWS}"),
            });
        }
        let out = self
            .repo()?
            .query_capped(rev, sql, "json", Some(max_rows))?;
        let rows: Value = serde_json::from_str(out.text.trim()).unwrap_or(Value::Null);
        Ok(json!({
            "rev": rev,
            "rows": rows,
            "row_count": out.rows,
            "returned": out.shown,
            "truncated": out.shown < out.rows,
            "max_rows": max_rows,
        }))
    }

    /// `colony diff FROM TO --json` (files), or with `table`, `colony diff FROM TO --json
    /// [--key K] [--rows] -- TABLE` (rows matched by key).
    pub fn diff(
        &self,
        from: &str,
        to: &str,
        table: Option<&str>,
        key: &[String],
        rows: bool,
    ) -> Result<Value> {
        let repo = self.repo()?;
        match table {
            Some(t) => Ok(repo.diff_table(from, to, t, key, rows)?),
            None => {
                // Both sides must be revisions: the work tree is not something to serve.
                repo.resolve(to)?;
                let r = repo.diff(from, Some(to))?;
                Ok(as_printed(&r))
            }
        }
    }

    /// `colony lineage --json`; with a DAO configured, `colony lineage --dao --json`
    /// (the local chain of forks plus `chain`, the lineage the registry records).
    pub async fn lineage(&self) -> Result<Value> {
        let (local, dao) = {
            let repo = self.repo()?;
            (repo.lineage()?, self.dao_settings(&repo)?)
        };
        let mut v = as_printed(&local);
        if dao.deployment.is_some() {
            let (chain, dep) = connect(&dao).await?;
            let l = registry::lineage(&chain, dep.registry, dep.dataset_id).await?;
            if let Some(o) = v.as_object_mut() {
                o.insert("chain".into(), as_printed(l));
            }
        }
        Ok(v)
    }

    /// `colony dao head --json`: the head the DAO anchored.
    pub async fn anchored_head(&self) -> Result<Value> {
        let dao = self.dao_settings(&self.repo()?)?;
        let (chain, dep) = connect(&dao).await?;
        let h = registry::head(&chain, dep.registry, dep.dataset_id).await?;
        Ok(as_printed(h))
    }

    /// `colony dao verify REV --json`: reads every byte of `rev` back, recomputes its
    /// snapshot root and compares it with the root anchored on chain.
    pub async fn verify(&self, rev: &str) -> Result<Value> {
        let (report, dao) = {
            let this = self.clone();
            let rev = rev.to_owned();
            tokio::task::spawn_blocking(move || -> Result<_> {
                let repo = this.repo()?;
                Ok((repo.verify(Some(&rev))?, this.dao_settings(&repo)?))
            })
            .await
            .map_err(|e| ToolError::Invalid {
                name: "rev",
                why: format!("verification stopped: {e}"),
            })??
        };
        if !report.ok {
            return Err(ToolError::NotVerified {
                rev: rev.to_owned(),
                commit: report.commit,
                problems: if report.problems.is_empty() {
                    format!(
                        "its bytes give root {}, the commit records {}",
                        report.computed_root,
                        report
                            .recorded_root
                            .map_or_else(|| "none".to_owned(), |h| h.to_string())
                    )
                } else {
                    report.problems.join("; ")
                },
            });
        }
        let (chain, dep) = connect(&dao).await?;
        let check = check_anchor(
            &chain,
            &dep,
            rev,
            &report.commit,
            *report.computed_root.as_bytes(),
        )
        .await?;
        Ok(as_printed(check))
    }

    /// The training runs recorded on `rev` (`colony run list --json`, those whose
    /// snapshot is `rev`'s commit), each with the values a claim on it posts.
    pub fn runs(&self, rev: &str) -> Result<Value> {
        let repo = self.repo()?;
        let commit = repo.resolve(rev)?.to_string();
        let mut out = Vec::new();
        for r in list_runs(&repo)? {
            if r.snapshot != commit {
                continue;
            }
            let mut v = as_printed(&r);
            if r.refused.is_none() {
                let c = colony_trainer_hook::claim_values(&repo, &r.id)?;
                if let Some(o) = v.as_object_mut() {
                    o.insert(
                        "claim".into(),
                        json!({
                            "record_hash": hex(&c.record_hash),
                            "final_weights": hex(&c.final_weights),
                            "chain_root": hex(&c.chain_root),
                        }),
                    );
                }
            }
            out.push(v);
        }
        Ok(json!({ "rev": rev, "commit": commit, "runs": out }))
    }

    fn dao_settings(&self, repo: &Repo) -> Result<DaoSettings> {
        Ok(DaoSettings::from_toml(repo.config().get("dao"))?)
    }
}

/// Connects read-only to the chain `[dao]` names (no key is ever loaded).
async fn connect(dao: &DaoSettings) -> Result<(Chain, Deployment)> {
    let cfg = dao.chain(None, None);
    let dep = dao.deployment(&cfg)?;
    Ok((Chain::connect(&cfg).await?, dep))
}

/// `value` as JSON the way `colony --json` prints it: through text, so that an `f32`
/// reads back as the number printed (0.29972577), not its widened `f64`.
fn as_printed<T: serde::Serialize>(value: T) -> Value {
    serde_json::to_string(&value)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

fn check_page(limit: usize) -> Result<usize> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(ToolError::Invalid {
            name: "limit",
            why: format!("{limit} is not between 1 and {MAX_PAGE}"),
        });
    }
    Ok(limit)
}

fn hex(b: &[u8; 32]) -> String {
    format!(
        "0x{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

/// Whether `bytes` are text; a UTF-8 character cut by the end of the range is dropped
/// (the next read starts at it), so a text file read in ranges stays text.
fn text_prefix(bytes: &mut Vec<u8>) -> bool {
    if bytes.contains(&0) {
        return false;
    }
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e)
            if e.error_len().is_none()
                && e.valid_up_to() + 4 > bytes.len()
                && e.valid_up_to() > 0 =>
        {
            bytes.truncate(e.valid_up_to());
            true
        }
        Err(_) => false,
    }
}

/// `bytes` as `read` returns them: the text itself, or base64.
pub fn encode(bytes: &[u8], is_text: bool) -> String {
    if is_text {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_cut_at_the_end_stays_text() {
        let mut b = "aé".as_bytes()[..2].to_vec();
        assert!(text_prefix(&mut b));
        assert_eq!(b, b"a");
        let mut bin = vec![0xff, 0xfe, b'a'];
        assert!(!text_prefix(&mut bin));
        let mut nul = b"a\0b".to_vec();
        assert!(!text_prefix(&mut nul));
    }
}
