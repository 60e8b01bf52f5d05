//! How the trainer reaches the store while a run goes on.
//!
//! A run can take hours. Holding the store for writing all that time would make every
//! other colony command on the dataset (`status`, `log`, a `serve` answering peers) wait
//! for it, so a run takes the store only for the short parts that need it: pinning and
//! loading the snapshot, and storing checkpoints, artifacts and the record at the end.
//! The pin keeps the snapshot alive in between, whatever else runs.

use std::ops::Deref;

use colony_store::Repo;

use crate::error::Result;

/// The store, either held by the caller for the whole run or opened for each short part.
#[derive(Clone, Copy)]
pub enum StoreAccess<'a> {
    /// A dataset the caller keeps open (and locked) throughout.
    Held(&'a Repo),
    /// Opens the dataset for writing, waiting for the store lock; each handle it returns
    /// is dropped (releasing the lock) before training goes on.
    Reopen(&'a dyn Fn() -> colony_store::Result<Repo>),
}

impl<'a> From<&'a Repo> for StoreAccess<'a> {
    fn from(r: &'a Repo) -> Self {
        StoreAccess::Held(r)
    }
}

impl<'a> StoreAccess<'a> {
    /// The dataset, for one short part of the run.
    pub fn take(&self) -> Result<RepoHandle<'a>> {
        Ok(match *self {
            StoreAccess::Held(r) => RepoHandle::Borrowed(r),
            StoreAccess::Reopen(open) => RepoHandle::Owned(Box::new(open()?)),
        })
    }
}

/// A dataset handle from [`StoreAccess::take`]; dropping it releases what it opened.
pub enum RepoHandle<'a> {
    /// The caller's handle.
    Borrowed(&'a Repo),
    /// A handle opened for this part of the run.
    Owned(Box<Repo>),
}

impl Deref for RepoHandle<'_> {
    type Target = Repo;
    fn deref(&self) -> &Repo {
        match self {
            RepoHandle::Borrowed(r) => r,
            RepoHandle::Owned(r) => r,
        }
    }
}
