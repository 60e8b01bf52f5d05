//! The table engine of colony: row-level diff, three-way merge with conflicts, and SQL
//! over Parquet, CSV and JSON Lines tables, built on polars.
//!
//! The store hands this crate the contents of a table at some revisions as
//! [`TableSource`]s (from a path, from bytes, or from a frame); the engine never touches
//! the store itself.
//!
//! - [`diff`] matches rows of two versions by key and counts rows added, removed and
//!   modified, changes per column and schema changes; it can list the rows.
//! - [`merge3`] merges two versions against their common base, row by row and cell by
//!   cell (see its docs for the rules), returning a [`MergeOutcome`] whose conflicts can
//!   be settled by [`Strategy`] or row by row with [`MergeOutcome::resolve`].
//! - [`query`] runs SQL over tables, each named by its path; [`render`] shows the result
//!   as an aligned table, CSV or JSON.
//! - [`write_table`] / [`write_table_to_path`] write a frame back as a valid file of its
//!   format; [`MergeOutcome::write_to`] writes a merged table, copying the Parquet row
//!   groups it keeps.
//!
//! Rows of a merged table come in a fixed order: base rows in base order, then rows new
//! in ours in ours' order, then rows new only in theirs in theirs' order. CSV cells are
//! compared and merged as the text they are written as, so untouched rows round-trip.
//!
//! Parquet versions that share row groups byte for byte (versions written by the same
//! tool with fixed-size row groups, as [`write_table`] writes them, differing by edits
//! and appends) are diffed and merged a row group at a time (`row_groups.rs`,
//! `splice.rs`): a shared row group holds rows one side left alone, so only the row
//! groups that changed are decoded, and a merge written as Parquet copies the row
//! groups it keeps, still compressed, instead of re-encoding them
//! ([`MergeOutcome::write_to`]). Memory is then the files' bytes plus the key columns,
//! not the decoded tables.
//!
//! Otherwise diff and merge read every version into memory and match rows by key.
//! Versions sorted by a single key column (the common case of ids handed out in order)
//! are lined up by one linear merge over the keys (`sorted.rs`), with no join and no
//! copy of runs of matching rows; other versions by polars hash joins on the key (diff
//! counts on the in-memory engine, merges on the streaming engine). Every way gives the
//! same results. Queries and key checks run on the streaming engine. Such a merged table
//! is materialised in memory before it is written, so peak memory is about the
//! in-memory size of the versions plus the merged table (see bench/RESULTS.md).
//! `COLONY_TABLES_ENGINE=streaming|in-memory` overrides the engine choice and
//! `COLONY_TABLES_JOIN=hash` forces the hash joins (and turns the row-group paths off);
//! `COLONY_TABLES_ROW_GROUPS=off` turns only the row-group paths off.

mod diff;
mod error;
mod format;
mod json;
mod keys;
mod merge;
mod query;
mod row_groups;
mod sorted;
mod splice;

pub use diff::{
    ColumnChanges, ColumnType, DiffOptions, DiffRows, ModifiedRow, SchemaDiff, TableDiff,
    TypeChange, diff,
};
pub use error::{Result, TableError};
pub use format::{TableFormat, TableSource, table_to_bytes, write_table, write_table_to_path};
pub use json::JsonRow;
pub use merge::{
    MergeOptions, MergeOutcome, MergeStats, Resolution, RowConflict, RowConflictKind,
    SchemaConflict, SchemaConflictKind, Strategy, merge3, merge3_with,
};
pub use polars;
pub use polars::prelude::DataFrame;
pub use query::{OutputFormat, check_read_only, query, render, render_to};

#[cfg(test)]
mod fast_path_tests;
