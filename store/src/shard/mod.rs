//! Shards: immutable packs of compressed chunks, the unit that is stored and moved.
//!
//! A shard file is `MAGIC`, then the records (each chunk or manifest, zstd-compressed or
//! raw), then a table of [`ShardEntry`]s, then a fixed footer. Its identity is the BLAKE3
//! of the whole file, so a shard can be checked by anyone who has its name, and it can be
//! served with bao-tree outboards for verified range reads.

mod format;
mod reader;
mod writer;

pub use format::{EntryKind, FOOTER_LEN, MAGIC, ShardEntry, decode_table, encode_footer};
pub use reader::{ShardFile, read_record};
pub use writer::{SealedShard, ShardWriter, shard_path as writer_path};

/// Shards are sealed once they reach this many bytes.
pub const TARGET_SHARD_SIZE: u64 = 64 * 1024 * 1024;
