//! Shards: immutable packs of compressed chunks, the unit that is stored and moved.
//!
//! A shard file is `MAGIC`, then the records (each chunk or manifest, zstd-compressed or
//! raw), then a table of [`ShardEntry`]s, then a fixed footer. Its identity is the BLAKE3
//! of the whole file, so a shard can be checked by anyone who has its name, and it can be
//! served with bao-tree outboards for verified range reads. A good name does not make
//! its records honest: [`verify_shard_file`] checks each one before a received shard is
//! indexed.

mod format;
mod reader;
mod verify;
mod writer;

pub use format::{
    EntryKind, FOOTER_LEN, MAGIC, MAX_CHUNK_RECORD, MAX_MANIFEST_RECORD, ShardEntry, check_layout,
    decode_table, encode_footer, max_raw_len,
};
pub use reader::{ShardFile, check_claims, read_record, verify_record};
pub use verify::{accept_transfer, verify_records, verify_shard_file};
pub use writer::{SealedShard, ShardWriter, shard_path as writer_path};

/// Shards are sealed once they reach this many bytes.
pub const TARGET_SHARD_SIZE: u64 = 64 * 1024 * 1024;
