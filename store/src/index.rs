//! The work-tree index: for every path, what the next commit records (`staged`), what the
//! base commit records (`base`), and the file's stat when it was last known to match
//! `staged`, so `status` rehashes only files whose stat changed.
//!
//! Stored as one binary file, checked with a BLAKE3 trailer and replaced atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gix::ObjectId;

use crate::Hash;
use crate::durable;
use crate::error::{Result, StoreError};
use crate::snapshot::{FileEntry, Mode, Snapshot};

const MAGIC: &[u8; 8] = b"CLNYIDX1";

/// What `stat` said about a work-tree file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Status-change time, nanoseconds since the epoch.
    pub ctime_ns: i64,
    /// Inode number.
    pub ino: u64,
    /// Unix mode bits.
    pub mode: u32,
}

impl Stat {
    /// From file metadata (not following symlinks).
    pub fn of(m: &std::fs::Metadata) -> Stat {
        use std::os::unix::fs::MetadataExt;
        Stat {
            size: m.len(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
            ino: m.ino(),
            mode: m.mode(),
        }
    }

    /// The colony mode of the file this stat describes.
    pub fn colony_mode(&self) -> Mode {
        match self.mode & 0o170000 {
            0o120000 => Mode::Link,
            _ if self.mode & 0o111 != 0 => Mode::Exec,
            _ => Mode::File,
        }
    }
}

/// One path's state.
#[derive(Clone, Debug, Default)]
pub struct IndexEntry {
    /// What the next commit records; `None` = staged for removal.
    pub staged: Option<FileEntry>,
    /// What the base commit records; `None` = new in the index.
    pub base: Option<FileEntry>,
    /// Stat of the work-tree file when it was last known to equal `staged`.
    pub stat: Option<Stat>,
}

impl IndexEntry {
    /// Whether the entry differs between base and staged.
    pub fn is_staged_change(&self) -> bool {
        match (&self.staged, &self.base) {
            (Some(s), Some(b)) => !s.same_content(b),
            (None, None) => false,
            _ => true,
        }
    }
}

/// The whole index.
#[derive(Clone, Debug, Default)]
pub struct Index {
    /// The commit `base` entries come from.
    pub base_commit: Option<ObjectId>,
    /// Shard bytes written by `add` since the last commit (reported by `commit`).
    pub pending_new_bytes: u64,
    /// When this index was last written (ns); stats at or after it are not trusted.
    pub written_at_ns: i64,
    /// Entries by path.
    pub entries: BTreeMap<String, IndexEntry>,
}

impl Index {
    /// An index whose base and staged state both equal `snapshot` of `commit`.
    pub fn from_snapshot(commit: Option<ObjectId>, snapshot: &Snapshot) -> Index {
        let entries = snapshot
            .iter()
            .map(|(p, e)| {
                (
                    p.clone(),
                    IndexEntry {
                        staged: Some(e.clone()),
                        base: Some(e.clone()),
                        stat: None,
                    },
                )
            })
            .collect();
        Index {
            base_commit: commit,
            pending_new_bytes: 0,
            written_at_ns: 0,
            entries,
        }
    }

    /// The snapshot the next commit records.
    pub fn staged_snapshot(&self) -> Snapshot {
        self.entries
            .iter()
            .filter_map(|(p, e)| e.staged.clone().map(|s| (p.clone(), s)))
            .collect()
    }

    /// Whether any entry differs from the base.
    pub fn has_staged_changes(&self) -> bool {
        self.entries.values().any(IndexEntry::is_staged_change)
    }

    /// After a commit of the staged state: base := staged, removed entries dropped.
    pub fn rebase_on_commit(&mut self, commit: ObjectId) {
        self.entries.retain(|_, e| e.staged.is_some());
        for e in self.entries.values_mut() {
            e.base = e.staged.clone();
        }
        self.base_commit = Some(commit);
        self.pending_new_bytes = 0;
    }

    /// Loads the index at `path`; a missing file is an empty index.
    pub fn load(path: &Path) -> Result<Index> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Index::default()),
            Err(e) => return Err(StoreError::io(format!("read {}", path.display()), e)),
        };
        decode(&bytes).map_err(|why| StoreError::CorruptIndex {
            path: path.to_path_buf(),
            why,
        })
    }

    /// Writes the index atomically and durably.
    pub fn save(&mut self, path: &Path) -> Result<()> {
        self.written_at_ns = now_ns();
        durable::write_atomic(path, &encode(self))
    }
}

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn put_entry(out: &mut Vec<u8>, e: &FileEntry) {
    out.push(e.mode.code());
    out.extend_from_slice(&e.size.to_le_bytes());
    out.extend_from_slice(&e.hash.0);
    match &e.manifest {
        Some(m) => {
            out.push(1);
            out.extend_from_slice(&m.0);
        }
        None => out.push(0),
    }
    if e.mode == Mode::Link {
        let t = e.target.as_deref().unwrap_or_default().as_bytes();
        out.extend_from_slice(&(t.len() as u32).to_le_bytes());
        out.extend_from_slice(t);
    }
}

fn encode(ix: &Index) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + ix.entries.len() * 128);
    out.extend_from_slice(MAGIC);
    match ix.base_commit {
        Some(c) => {
            out.push(1);
            out.extend_from_slice(c.as_bytes());
        }
        None => out.push(0),
    }
    out.extend_from_slice(&ix.pending_new_bytes.to_le_bytes());
    out.extend_from_slice(&ix.written_at_ns.to_le_bytes());
    out.extend_from_slice(&(ix.entries.len() as u64).to_le_bytes());
    for (path, e) in &ix.entries {
        out.extend_from_slice(&(path.len() as u32).to_le_bytes());
        out.extend_from_slice(path.as_bytes());
        let flags = u8::from(e.staged.is_some())
            | u8::from(e.base.is_some()) << 1
            | u8::from(e.stat.is_some()) << 2;
        out.push(flags);
        if let Some(s) = &e.staged {
            put_entry(&mut out, s);
        }
        if let Some(b) = &e.base {
            put_entry(&mut out, b);
        }
        if let Some(st) = &e.stat {
            for v in [
                st.size,
                st.mtime_ns as u64,
                st.ctime_ns as u64,
                st.ino,
                st.mode as u64,
            ] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn hash(&mut self) -> Result<Hash, String> {
        Ok(Hash(self.take(32)?.try_into().unwrap()))
    }
    fn entry(&mut self) -> Result<FileEntry, String> {
        let mode = match self.u8()? {
            0 => Mode::File,
            1 => Mode::Exec,
            2 => Mode::Link,
            m => return Err(format!("unknown mode {m}")),
        };
        let size = self.u64()?;
        let hash = self.hash()?;
        let manifest = if self.u8()? == 1 {
            Some(self.hash()?)
        } else {
            None
        };
        let target = if mode == Mode::Link {
            let n = self.u32()? as usize;
            Some(String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "link target not UTF-8")?)
        } else {
            None
        };
        Ok(FileEntry {
            mode,
            size,
            hash,
            manifest,
            target,
        })
    }
}

fn decode(bytes: &[u8]) -> Result<Index, String> {
    if bytes.len() < MAGIC.len() + 32 || &bytes[..8] != MAGIC {
        return Err("not a colony index".into());
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if blake3::hash(body).as_bytes() != sum {
        return Err("checksum mismatch".into());
    }
    let mut r = Reader(&body[8..]);
    let base_commit = if r.u8()? == 1 {
        Some(ObjectId::try_from(r.take(20)?).map_err(|e| e.to_string())?)
    } else {
        None
    };
    let pending_new_bytes = r.u64()?;
    let written_at_ns = r.u64()? as i64;
    let n = r.u64()?;
    let mut entries = BTreeMap::new();
    for _ in 0..n {
        let len = r.u32()? as usize;
        let path = String::from_utf8(r.take(len)?.to_vec()).map_err(|_| "path not UTF-8")?;
        let flags = r.u8()?;
        let staged = if flags & 1 != 0 {
            Some(r.entry()?)
        } else {
            None
        };
        let base = if flags & 2 != 0 {
            Some(r.entry()?)
        } else {
            None
        };
        let stat = if flags & 4 != 0 {
            Some(Stat {
                size: r.u64()?,
                mtime_ns: r.u64()? as i64,
                ctime_ns: r.u64()? as i64,
                ino: r.u64()?,
                mode: r.u64()? as u32,
            })
        } else {
            None
        };
        entries.insert(path, IndexEntry { staged, base, stat });
    }
    Ok(Index {
        base_commit,
        pending_new_bytes,
        written_at_ns,
        entries,
    })
}

/// Where the index lives inside `.colony`.
pub fn index_path(colony_dir: &Path) -> PathBuf {
    colony_dir.join("index")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checksum() {
        let mut ix = Index {
            pending_new_bytes: 5,
            ..Default::default()
        };
        let e = FileEntry {
            mode: Mode::Link,
            size: 3,
            hash: Hash::of(b"abc"),
            manifest: None,
            target: Some("abc".into()),
        };
        let f = FileEntry {
            mode: Mode::File,
            size: 9,
            hash: Hash::of(b"x"),
            manifest: Some(Hash::of(b"m")),
            target: None,
        };
        ix.entries.insert(
            "l".into(),
            IndexEntry {
                staged: Some(e),
                base: None,
                stat: None,
            },
        );
        ix.entries.insert(
            "d/f".into(),
            IndexEntry {
                staged: None,
                base: Some(f),
                stat: Some(Stat {
                    size: 1,
                    mtime_ns: -2,
                    ctime_ns: 3,
                    ino: 4,
                    mode: 0o100644,
                }),
            },
        );
        let bytes = encode(&ix);
        let back = decode(&bytes).unwrap();
        assert_eq!(back.entries.len(), 2);
        assert_eq!(back.pending_new_bytes, 5);
        assert_eq!(back.entries["d/f"].stat.unwrap().mtime_ns, -2);
        assert_eq!(
            back.entries["l"].staged.as_ref().unwrap().target.as_deref(),
            Some("abc")
        );
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(decode(&bad).unwrap_err().contains("checksum"));
    }
}
