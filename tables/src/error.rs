//! Errors of the table engine. Every message names the table and says what to do.

use crate::format::TableFormat;

/// Result type of every fallible call in this crate.
pub type Result<T, E = TableError> = std::result::Result<T, E>;

/// What went wrong in the table engine.
///
/// Each variant's message names the table it concerns (by the name given to
/// [`crate::TableSource`], usually its path) and tells the user how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// Neither the name nor the first bytes say which format a table is in.
    #[error(
        "cannot tell the format of table `{name}`: name it with a .parquet, .csv, .jsonl or .ndjson extension"
    )]
    UnknownFormat {
        /// Name (path) of the table.
        name: String,
    },
    /// The table could not be read: bad magic bytes, truncated file, ragged CSV row, bad JSON line.
    #[error("malformed {format} table `{name}`: {reason}")]
    Malformed {
        /// Name (path) of the table.
        name: String,
        /// Format the table was read as.
        format: TableFormat,
        /// What the reader found wrong.
        reason: String,
    },
    /// No key was given and none is recorded for the table.
    #[error(
        "table `{name}` has no key to match rows by: pass `--key COL[,COL...]` or record one with `colony table key {name} COL...`"
    )]
    NoKey {
        /// Name (path) of the table.
        name: String,
    },
    /// A key column is not in one of the versions.
    #[error(
        "key column `{column}` is not in table `{name}` (its columns: {available}); choose key columns present in every version"
    )]
    MissingKeyColumn {
        /// Name (path) of the table version lacking the column.
        name: String,
        /// The key column asked for.
        column: String,
        /// Comma-separated columns the table does have.
        available: String,
    },
    /// A key value identifies more than one row.
    #[error(
        "key {key} identifies {count} rows in table `{name}`; a key must identify one row: add key columns (`--key A,B`) or remove the duplicates"
    )]
    DuplicateKey {
        /// Name (path) of the table version with the duplicate.
        name: String,
        /// The duplicated key, rendered as `(col=value, ...)`.
        key: String,
        /// How many rows carry it.
        count: u64,
    },
    /// A key column has types that cannot be matched between versions.
    #[error(
        "key column `{column}` is {left} in `{left_name}` but {right} in `{right_name}`; key columns must keep their type across versions"
    )]
    KeyTypeMismatch {
        /// The key column.
        column: String,
        /// One table's name.
        left_name: String,
        /// Its type.
        left: String,
        /// The other table's name.
        right_name: String,
        /// Its type.
        right: String,
    },
    /// The merge still has conflicts, so no merged table can be produced yet.
    #[error(
        "merge of `{name}` has {rows} conflicting row(s) and {schema} schema conflict(s): resolve them row by row (`colony resolve {name} --ours|--theirs`) or merge with `--strategy ours|theirs`"
    )]
    Unresolved {
        /// Name (path) of the merged table.
        name: String,
        /// Unresolved row conflicts.
        rows: usize,
        /// Unresolved schema conflicts.
        schema: usize,
    },
    /// A row given to resolve a conflict does not fit the merged schema.
    #[error(
        "the row given to resolve key {key} of `{name}` does not fit the merged table: {reason}"
    )]
    BadResolution {
        /// Name (path) of the merged table.
        name: String,
        /// The conflict's key.
        key: String,
        /// What does not fit.
        reason: String,
    },
    /// A SQL query could not be planned or run.
    #[error("SQL query failed: {reason} (tables: {tables})")]
    Query {
        /// Reason given by the SQL engine.
        reason: String,
        /// Comma-separated names the query may use.
        tables: String,
    },
    /// SQL that would do more than read the given tables.
    #[error(
        "refused: queries are read-only, and {what} is not a read of the revision's tables; \
         run one SELECT over the tables named by their paths"
    )]
    NotReadOnly {
        /// What was refused.
        what: String,
    },
    /// Reading or writing a file failed.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What was being done ("read", "write", ...).
        action: &'static str,
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Any other failure of the underlying engine (polars), with its message.
    #[error("table engine error: {0}")]
    Engine(#[from] polars::prelude::PolarsError),
}

impl TableError {
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        TableError::Io {
            action,
            path: path.display().to_string(),
            source,
        }
    }
}
