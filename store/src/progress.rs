//! Progress reporting hooks; the CLI renders them (indicatif), the library only counts.

/// Receives progress of long operations. All methods default to doing nothing.
pub trait Progress: Send + Sync {
    /// A phase starts; `total` is its size in bytes when known.
    fn begin(&self, _what: &str, _total: Option<u64>) {}
    /// `bytes` more of the current phase are done.
    fn advance(&self, _bytes: u64) {}
    /// The current phase is over.
    fn end(&self) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
