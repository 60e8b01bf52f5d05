//! Pointers: the small git blobs that stand for data files in the history.
//!
//! ```text
//! colony-pointer v1
//! blake3 <64 hex>
//! size <decimal>
//! manifest <64 hex>        (only for files of more than one chunk)
//! ```
//! Symlinks are stored as real git symlinks (the blob is the target), so `git` shows them
//! as they are.

use crate::Hash;
use crate::snapshot::{FileEntry, Mode};

const HEADER: &str = "colony-pointer v1\n";

/// The pointer blob for a regular or executable file.
pub fn encode(e: &FileEntry) -> Vec<u8> {
    let mut s = format!("{HEADER}blake3 {}\nsize {}\n", e.hash, e.size);
    if let Some(m) = &e.manifest {
        s.push_str(&format!("manifest {m}\n"));
    }
    s.into_bytes()
}

/// Parses a pointer blob into an entry of the given mode.
pub fn decode(bytes: &[u8], mode: Mode) -> Result<FileEntry, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "pointer is not UTF-8".to_string())?;
    let body = text.strip_prefix(HEADER).ok_or("not a colony pointer")?;
    let (mut hash, mut size, mut manifest) = (None, None, None);
    for line in body.lines() {
        let (k, v) = line
            .split_once(' ')
            .ok_or_else(|| format!("bad pointer line `{line}`"))?;
        match k {
            "blake3" => hash = Some(v.parse::<Hash>().map_err(|e| e.to_string())?),
            "size" => size = Some(v.parse::<u64>().map_err(|_| format!("bad size `{v}`"))?),
            "manifest" => manifest = Some(v.parse::<Hash>().map_err(|e| e.to_string())?),
            _ => return Err(format!("unknown pointer field `{k}`")),
        }
    }
    Ok(FileEntry {
        mode,
        size: size.ok_or("pointer has no size")?,
        hash: hash.ok_or("pointer has no blake3")?,
        manifest,
        target: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let e = FileEntry {
            mode: Mode::Exec,
            size: 3,
            hash: Hash::of(b"abc"),
            manifest: Some(Hash::of(b"m")),
            target: None,
        };
        assert_eq!(decode(&encode(&e), Mode::Exec).unwrap(), e);
        assert!(decode(b"hello", Mode::File).is_err());
        assert!(decode(b"colony-pointer v1\nsize 1\n", Mode::File).is_err());
    }
}
