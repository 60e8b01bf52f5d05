//! Key names and the bundle format of an S3 remote.
//!
//! A bundle is `CLNYBDL1` followed by, per object, its kind (`u8`: 1 commit, 2 tree,
//! 3 blob, 4 tag), its length (`u64` little-endian) and its bytes. Object ids are not
//! stored: the reader recomputes them.

use std::collections::HashMap;

use gix::ObjectId;

use crate::Hash;
use crate::error::{Result, StoreError};

/// The first bytes of every bundle.
pub const BUNDLE_MAGIC: &[u8; 8] = b"CLNYBDL1";

/// Folder of the shards.
pub const SHARDS: &str = "shards";
/// Folder of the history bundles.
pub const HISTORY: &str = "history";
/// Folder of the branches.
pub const HEADS: &str = "refs/heads";
/// Folder of the run records.
pub const RUNS: &str = "refs/runs";

/// The key (under the prefix) of shard `id`.
pub fn shard_key(id: &Hash) -> String {
    format!("{SHARDS}/{id}")
}

/// The key (under the prefix) of the bundle pushed with `commit`.
pub fn bundle_key(commit: &ObjectId) -> String {
    format!("{HISTORY}/{commit}.bundle")
}

/// The commit a bundle's file name names, if it is one.
pub fn bundle_commit(file_name: &str) -> Option<ObjectId> {
    ObjectId::from_hex(file_name.strip_suffix(".bundle")?.as_bytes()).ok()
}

use crate::history::object_kind_code as kind_code;

/// Encodes objects (kind, bytes) as a bundle.
pub fn encode_bundle<'a>(
    objects: impl IntoIterator<Item = (gix::objs::Kind, &'a [u8])>,
) -> Vec<u8> {
    let mut out = BUNDLE_MAGIC.to_vec();
    for (kind, data) in objects {
        out.push(kind_code(kind));
        out.extend_from_slice(&(data.len() as u64).to_le_bytes());
        out.extend_from_slice(data);
    }
    out
}

/// Bytes before each object of a bundle: its kind code and its length.
pub const FRAME_HEADER: usize = 9;

/// The object kind of a bundle's kind code, if it is one.
pub use crate::history::object_kind_of as kind_from_code;

/// Decodes a bundle into its objects by their recomputed ids.
pub fn decode_bundle(
    name: &str,
    bytes: &[u8],
) -> Result<HashMap<ObjectId, (gix::objs::Kind, Vec<u8>)>> {
    let bad = |why: &str| StoreError::MalformedHistory {
        object: name.to_string(),
        why: why.to_string(),
    };
    let mut rest = bytes
        .strip_prefix(BUNDLE_MAGIC.as_slice())
        .ok_or_else(|| bad("not a colony history bundle"))?;
    let mut out = HashMap::new();
    while !rest.is_empty() {
        if rest.len() < FRAME_HEADER {
            return Err(bad("truncated"));
        }
        let kind = kind_from_code(rest[0]).ok_or_else(|| bad("unknown object kind"))?;
        let len = u64::from_le_bytes(rest[1..9].try_into().expect("8 bytes")) as usize;
        rest = &rest[FRAME_HEADER..];
        if rest.len() < len {
            return Err(bad("truncated"));
        }
        let data = rest[..len].to_vec();
        rest = &rest[len..];
        let id = gix::objs::compute_hash(gix::hash::Kind::Sha1, kind, &data)
            .map_err(|e| bad(&e.to_string()))?;
        out.insert(id, (kind, data));
    }
    Ok(out)
}

/// Reads a ref object's text: a commit id.
pub fn parse_ref(branch: &str, text: &[u8]) -> Result<ObjectId> {
    parse_ref_at(HEADS, branch, text)
}

/// The commit a ref object `folder/name` holds.
pub fn parse_ref_at(folder: &str, name: &str, text: &[u8]) -> Result<ObjectId> {
    let t = std::str::from_utf8(text).unwrap_or("").trim();
    ObjectId::from_hex(t.as_bytes()).map_err(|_| StoreError::MalformedHistory {
        object: format!("{folder}/{name}"),
        why: "does not hold a commit id".into(),
    })
}
