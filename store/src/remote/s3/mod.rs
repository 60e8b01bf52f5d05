//! S3-compatible remotes (`s3://BUCKET/PREFIX`), through the `object_store` crate.
//!
//! # Bucket layout
//!
//! ```text
//! PREFIX/shards/<blake3 hex>            one object per shard, its exact bytes
//! PREFIX/history/<commit hex>.bundle    the git objects one push added (see below)
//! PREFIX/refs/heads/<branch>            "<commit hex>\n"
//! PREFIX/refs/runs/<name>               "<commit hex>\n" of a run record
//! ```
//!
//! Shards and bundles are immutable: they are written whole (a single PUT, or a multipart
//! upload for shards over [`MULTIPART_THRESHOLD`], which S3 makes visible only when it
//! completes), never changed, and named by what they hold, so a reader can never see a
//! half-written one. A bundle ([`layout::encode_bundle`]) holds every object reachable
//! from the pushed commit that the remote's branches did not already reach; readers
//! recompute every object id from its bytes, so a bundle cannot smuggle in an object
//! under a false name. A bundle named after a commit the reader already has holds
//! nothing it lacks (colony writes objects referred-to first), so a fetch downloads only
//! the bundles of commits it does not have.
//!
//! A push sends the missing shards first, then the bundle, and moves the branch last,
//! with a conditional PUT (`If-None-Match: *` for a new branch, `If-Match: <ETag>` of
//! the ref it read otherwise): of two pushers racing on one branch only one wins, the
//! other is told the branch moved. Stores without conditional PUTs can disable them with
//! `AWS_CONDITIONAL_PUT=disabled` (the last writer then wins).
//!
//! Run records (`refs/runs/`, see `colony_store::ops::runs`) travel like branches: their checkpoint shards, a
//! bundle named after the run's commit, then the ref, created only where absent (a run's
//! name is the start of its record's hash, so an existing name is the same run).
//!
//! A push sends the shards the pushed history needs that the bucket lacks (the one rule
//! of every kind of remote, [`crate::snapshot::shards::shards_to_push`]), worked out from the bucket's
//! branches and shard listing.
//!
//! **Resuming.** A push killed halfway, run again, lists the shards already in the
//! bucket and sends only the others (an interrupted multipart upload is restarted; S3
//! removes abandoned parts by the bucket's lifecycle rules). A fetch killed halfway
//! leaves `shards/tmp/partial-<id>`; the next fetch asks for the rest with a ranged GET
//! from the partial's length, and the whole shard is then verified against its BLAKE3
//! name (on a mismatch the partial is deleted and the error names the shard).
//!
//! **Configuration** comes from the standard AWS variables (`AmazonS3Builder::from_env`):
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL` (S3-compatible servers) and `AWS_ALLOW_HTTP=true` (plain HTTP,
//! for local servers). colony never creates buckets.
//!
//! The store is synchronous; each remote runs a current-thread tokio runtime and blocks
//! on it.

mod fetch;
pub mod layout;
mod push;
mod runs;

use std::path::Path;
use std::sync::Arc;

use gix::ObjectId;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;

use crate::Hash;
use crate::error::{Result, StoreError};
use crate::files::Shared;
use crate::history::History;
use crate::remote::{PushReport, Remote};
use crate::repo::Repo;

/// Shards larger than this are uploaded in parts.
pub const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
/// The size of each part of a multipart upload.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// An S3-compatible bucket (and key prefix) as a remote.
pub struct S3Remote {
    name: String,
    bucket: String,
    prefix: String,
    store: Arc<dyn ObjectStore>,
    rt: tokio::runtime::Runtime,
}

impl S3Remote {
    /// Connects to `s3://bucket/prefix` as remote `name`, configured from the AWS
    /// environment variables. Nothing is sent until the first request.
    pub fn open(name: &str, bucket: &str, prefix: &str) -> Result<S3Remote> {
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| StoreError::Remote {
                remote: name.to_string(),
                why: format!("cannot configure S3 access to bucket `{bucket}`: {e}"),
            })?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::io("start the S3 client's runtime", e))?;
        Ok(S3Remote {
            name: name.to_string(),
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            store: Arc::new(store),
            rt,
        })
    }

    /// The object key for `rel` under this remote's prefix.
    fn key(&self, rel: &str) -> object_store::path::Path {
        if self.prefix.is_empty() {
            object_store::path::Path::from(rel)
        } else {
            object_store::path::Path::from(format!("{}/{rel}", self.prefix))
        }
    }

    /// An error of this remote.
    fn err(&self, why: impl std::fmt::Display) -> StoreError {
        StoreError::Remote {
            remote: self.name.clone(),
            why: why.to_string(),
        }
    }

    /// An object-store error, with what was being done.
    fn store_err(&self, doing: &str, e: object_store::Error) -> StoreError {
        let why = match &e {
            object_store::Error::NotFound { .. } => format!(
                "{doing}: not found in s3://{}/{} (does the bucket exist?): {e}",
                self.bucket, self.prefix
            ),
            _ => format!("{doing}: {e}"),
        };
        self.err(why)
    }
}

impl Remote for S3Remote {
    fn name(&self) -> &str {
        &self.name
    }

    fn list_refs(&self) -> Result<Vec<(String, ObjectId)>> {
        Ok(self
            .read_refs()?
            .into_iter()
            .map(|r| (r.branch, r.commit))
            .collect())
    }

    fn list_runs(&self) -> Result<Vec<(String, ObjectId)>> {
        self.read_runs()
    }

    fn push_runs(&self, local: &Repo, runs: &[(String, ObjectId)]) -> Result<Option<usize>> {
        self.push_run_records(local, runs).map(Some)
    }

    fn fetch_objects(&self, into: &History, tips: &[ObjectId], _haves: &[ObjectId]) -> Result<u64> {
        self.fetch_history(into, tips)
    }

    fn list_shards(&self) -> Result<Vec<(Hash, u64)>> {
        self.shards()
    }

    fn fetch_shard(&self, id: &Hash, dest: &Path, progress: &dyn Fn(u64)) -> Result<Shared> {
        self.download_shard(id, dest, progress)?;
        Ok(Shared::Copied)
    }

    fn push(
        &self,
        local: &Repo,
        branch: &str,
        commit: ObjectId,
        force: bool,
    ) -> Result<PushReport> {
        self.push_branch(local, branch, commit, force)
    }
}
