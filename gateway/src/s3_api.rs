//! The S3-compatible read API, on the `s3s` crate (which parses requests, checks SigV4
//! signatures and writes the XML).
//!
//! Path-style only: `http://HOST:PORT/<bucket>/<rev>/<path>`, bucket = the gateway's
//! (see [`crate::Gateway::bucket`]), key = `<rev>/<path>` with `<rev>` as for plain
//! HTTP (a revision whose name holds `/` is reachable by its commit id or a tag).
//!
//! - `GetObject` (with `Range`; 206, `InvalidRange` when unsatisfiable), `HeadObject`: the
//!   file's bytes, `ETag` = its BLAKE3 (quoted hex), `LastModified` = the commit's time.
//!   A file that fails verification answers `InternalError` naming the file and shard,
//!   before any byte; a failure after the first piece aborts the connection.
//! - `ListObjectsV2`: `prefix`, `delimiter` (any string) with `CommonPrefixes`,
//!   `max-keys` (at most 1000), `continuation-token` (opaque), `start-after`,
//!   `encoding-type=url`. A prefix that does not yet name a revision (no `/`) lists the
//!   branches, tags and pins whose names fit it, as common prefixes `<rev>/`, whatever the
//!   delimiter (listing every file of every revision is not offered). An unknown
//!   revision lists nothing.
//! - `ListBuckets`, `HeadBucket`, `GetBucketLocation` (us-east-1).
//! - Writes (`PutObject`, `DeleteObject(s)`, `CopyObject`, multipart, bucket creation
//!   and deletion) answer `AccessDenied` ("read-only"); every other operation
//!   `NotImplemented`.

use std::ops::Bound;
use std::sync::Arc;
use std::time::SystemTime;

use colony_store::{FileEntry, NodeKind, Snapshot, StoreError};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::body::Pieces;
use crate::revisions::{Opened, Revisions};

/// Most keys one listing answers.
const MAX_KEYS: usize = 1000;

/// The S3 face of one dataset.
pub struct ColonyS3 {
    bucket: String,
    revisions: Arc<Revisions>,
    started: SystemTime,
}

impl ColonyS3 {
    /// Serves `revisions` as bucket `bucket`.
    pub fn new(bucket: &str, revisions: Arc<Revisions>) -> ColonyS3 {
        ColonyS3 {
            bucket: bucket.to_string(),
            revisions,
            started: SystemTime::now(),
        }
    }

    fn check_bucket(&self, bucket: &str) -> S3Result<()> {
        if bucket == self.bucket {
            Ok(())
        } else {
            Err(S3Error::with_message(
                S3ErrorCode::NoSuchBucket,
                format!("this gateway serves bucket `{}` only", self.bucket),
            ))
        }
    }

    /// The file at `key` (`<rev>/<path>`): its revision, normalised path and entry facts.
    async fn object(&self, bucket: &str, key: &str) -> S3Result<(Arc<Opened>, Meta)> {
        self.check_bucket(bucket)?;
        let no_such = || S3Error::with_message(S3ErrorCode::NoSuchKey, format!("no key `{key}`"));
        let Some((rev, path)) = key.split_once('/') else {
            return Err(no_such());
        };
        let (rev, path) = (rev.to_string(), path.to_string());
        let revisions = self.revisions.clone();
        let looked = tokio::task::spawn_blocking(move || {
            let opened = revisions.open(&rev)?;
            let node = opened.reader.stat(&path)?;
            Ok::<_, StoreError>((opened, node))
        })
        .await
        .map_err(S3Error::internal_error)?;
        match looked {
            Ok((_, node)) if node.kind == NodeKind::Dir => Err(no_such()),
            Ok((opened, node)) => {
                let meta = Meta {
                    path: node.path,
                    size: node.size,
                    etag: ETag::Strong(node.hash.map(|h| h.to_string()).unwrap_or_default()),
                    time: Timestamp::from(opened.time),
                };
                Ok((opened, meta))
            }
            Err(e) => Err(s3_error(&e)),
        }
    }
}

/// What a `GetObject`/`HeadObject` tells of a file.
struct Meta {
    path: String,
    size: u64,
    etag: ETag,
    time: Timestamp,
}

/// The S3 error for a store error.
fn s3_error(e: &StoreError) -> S3Error {
    let code = match e {
        StoreError::AtPath { source, .. } => return s3_error(source),
        StoreError::UnknownRevision { .. }
        | StoreError::NoSuchPath { .. }
        | StoreError::IsAFolder { .. }
        | StoreError::NotAFolder { .. } => S3ErrorCode::NoSuchKey,
        StoreError::InvalidPath { .. } | StoreError::HostilePath { .. } => {
            S3ErrorCode::InvalidArgument
        }
        StoreError::LockTimeout { .. } => S3ErrorCode::SlowDown,
        _ => {
            eprintln!("colony gateway: {e}");
            S3ErrorCode::InternalError
        }
    };
    S3Error::with_message(code, e.to_string())
}

fn read_only() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::AccessDenied,
        "colony's gateway is read-only: commit with colony instead",
    )
}

#[async_trait::async_trait]
impl S3 for ColonyS3 {
    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(vec![Bucket {
                name: Some(self.bucket.clone()),
                creation_date: Some(Timestamp::from(self.started)),
                ..Default::default()
            }]),
            ..Default::default()
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.check_bucket(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.check_bucket(&req.input.bucket)?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let (_, m) = self.object(&req.input.bucket, &req.input.key).await?;
        Ok(S3Response::new(HeadObjectOutput {
            accept_ranges: Some("bytes".into()),
            content_length: Some(m.size as i64),
            content_type: Some("application/octet-stream".into()),
            e_tag: Some(m.etag),
            last_modified: Some(m.time),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let (opened, m) = self.object(&req.input.bucket, &req.input.key).await?;
        let (part, content_range) = match req.input.range {
            None => (0..m.size, None),
            Some(r) => {
                let part = r.check(m.size)?;
                let cr = format!("bytes {}-{}/{}", part.start, part.end - 1, m.size);
                (part, Some(cr))
            }
        };
        let len = part.end - part.start;
        let pieces = Pieces::start(opened, m.path, part)
            .await
            .map_err(|e| s3_error(&e))?;
        Ok(S3Response::new(GetObjectOutput {
            accept_ranges: Some("bytes".into()),
            body: Some(StreamingBlob::wrap(pieces)),
            content_length: Some(len as i64),
            content_range,
            content_type: Some("application/octet-stream".into()),
            e_tag: Some(m.etag),
            last_modified: Some(m.time),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        self.check_bucket(&input.bucket)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let max = input
            .max_keys
            .map_or(MAX_KEYS, |m| usize::try_from(m).unwrap_or(0).min(MAX_KEYS));
        let resume = match &input.continuation_token {
            Some(t) => Some(decode_token(t)?),
            None => input.start_after.clone().map(|k| (k, false)),
        };
        let revisions = self.revisions.clone();
        let (prefix2, delimiter2) = (prefix.clone(), delimiter.clone());
        let page = tokio::task::spawn_blocking(move || {
            list_page(
                &revisions,
                &prefix2,
                delimiter2.as_deref(),
                resume.as_ref().map(|(k, cp)| (k.as_str(), *cp)),
                max,
            )
        })
        .await
        .map_err(S3Error::internal_error)?
        .map_err(|e| s3_error(&e))?;

        let url = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        let enc = |s: &str| -> String {
            if url {
                utf8_percent_encode(s, KEY_ENCODE).to_string()
            } else {
                s.to_string()
            }
        };
        let mut contents = Vec::new();
        let mut common = Vec::new();
        let next = if page.truncated {
            page.items.last().map(encode_token)
        } else {
            None
        };
        for item in page.items {
            match item {
                Item::Key { key, size, hash } => contents.push(Object {
                    key: Some(enc(&key)),
                    size: Some(size as i64),
                    e_tag: Some(ETag::Strong(hash)),
                    last_modified: page.time.map(Timestamp::from),
                    storage_class: Some(ObjectStorageClass::from_static(
                        ObjectStorageClass::STANDARD,
                    )),
                    ..Default::default()
                }),
                Item::Prefix(p) => common.push(CommonPrefix {
                    prefix: Some(enc(&p)),
                }),
            }
        }
        let key_count = (contents.len() + common.len()) as i32;
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(self.bucket.clone()),
            prefix: Some(enc(&prefix)),
            delimiter: delimiter.as_deref().map(enc),
            max_keys: Some(max as i32),
            key_count: Some(key_count),
            continuation_token: input.continuation_token,
            start_after: input.start_after.as_deref().map(enc),
            is_truncated: Some(next.is_some()),
            next_continuation_token: next,
            contents: (!contents.is_empty()).then_some(contents),
            common_prefixes: (!common.is_empty()).then_some(common),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn put_object(
        &self,
        _r: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        Err(read_only())
    }

    async fn delete_object(
        &self,
        _r: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        Err(read_only())
    }

    async fn delete_objects(
        &self,
        _r: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        Err(read_only())
    }

    async fn copy_object(
        &self,
        _r: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        Err(read_only())
    }

    async fn create_bucket(
        &self,
        _r: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        Err(read_only())
    }

    async fn delete_bucket(
        &self,
        _r: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        Err(read_only())
    }

    async fn create_multipart_upload(
        &self,
        _r: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        Err(read_only())
    }

    async fn upload_part(
        &self,
        _r: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        Err(read_only())
    }

    async fn complete_multipart_upload(
        &self,
        _r: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        Err(read_only())
    }
}

/// Characters escaped in keys of `encoding-type=url` listings.
const KEY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// One entry of a listing page.
#[derive(Debug, PartialEq, Eq)]
enum Item {
    /// A file (full key, size, BLAKE3 hex).
    Key {
        key: String,
        size: u64,
        hash: String,
    },
    /// A common prefix (full).
    Prefix(String),
}

/// One page of a listing.
struct Page {
    items: Vec<Item>,
    truncated: bool,
    /// The commit's time, when one revision was listed.
    time: Option<SystemTime>,
}

/// The continuation token after `item`: hex of a kind byte and the full key.
fn encode_token(item: &Item) -> String {
    let (kind, key) = match item {
        Item::Key { key, .. } => (b'k', key),
        Item::Prefix(p) => (b'p', p),
    };
    let mut raw = vec![kind];
    raw.extend_from_slice(key.as_bytes());
    hex::encode(raw)
}

/// (full key to resume after, whether it was a common prefix) from a token.
fn decode_token(t: &str) -> S3Result<(String, bool)> {
    let bad = || S3Error::with_message(S3ErrorCode::InvalidArgument, "invalid continuation token");
    let raw = hex::decode(t).map_err(|_| bad())?;
    let (&kind, key) = raw.split_first().ok_or_else(bad)?;
    let key = String::from_utf8(key.to_vec()).map_err(|_| bad())?;
    match kind {
        b'k' => Ok((key, false)),
        b'p' => Ok((key, true)),
        _ => Err(bad()),
    }
}

/// Lists up to `max` entries under `prefix` after `resume` (a full key, and whether it
/// was a common prefix whose keys are all passed over).
fn list_page(
    revisions: &Revisions,
    prefix: &str,
    delimiter: Option<&str>,
    resume: Option<(&str, bool)>,
    max: usize,
) -> Result<Page, StoreError> {
    let Some((rev, path_prefix)) = prefix.split_once('/') else {
        // No revision named yet: the revisions are the folders.
        let names: Vec<String> = revisions
            .names()?
            .into_iter()
            .filter(|n| !n.contains('/'))
            .map(|n| format!("{n}/"))
            .filter(|n| n.starts_with(prefix))
            .filter(|n| resume.is_none_or(|(after, _)| n.as_str() > after))
            .collect();
        let truncated = names.len() > max;
        let items = names.into_iter().take(max).map(Item::Prefix).collect();
        return Ok(Page {
            items,
            truncated,
            time: None,
        });
    };
    let opened = match revisions.open(rev) {
        Ok(o) => o,
        Err(StoreError::UnknownRevision { .. }) => {
            return Ok(Page {
                items: Vec::new(),
                truncated: false,
                time: None,
            });
        }
        Err(e) => return Err(e),
    };
    let base = format!("{rev}/");
    // Resuming inside this revision: the token's path part (keys of other revisions
    // before or after it are simply not under this prefix).
    let resume = resume.and_then(|(k, cp)| k.strip_prefix(&base).map(|p| (p, cp)));
    let (paths, truncated) = page_paths(opened.reader.files(), path_prefix, delimiter, resume, max);
    let items = paths
        .into_iter()
        .map(|p| match p {
            Entry::File(path, e) => Item::Key {
                key: format!("{base}{path}"),
                size: e.size,
                hash: e.hash.to_string(),
            },
            Entry::Group(p) => Item::Prefix(format!("{base}{p}")),
        })
        .collect();
    Ok(Page {
        items,
        truncated,
        time: Some(opened.time),
    })
}

/// A listed path of one snapshot.
enum Entry<'a> {
    File(&'a str, &'a FileEntry),
    Group(String),
}

/// The first string after every string that starts with `p` (its last character
/// incremented), if there is one.
fn past_prefix(p: &str) -> Option<String> {
    let mut chars: Vec<char> = p.chars().collect();
    while let Some(c) = chars.pop() {
        let next = (c as u32 + 1..=char::MAX as u32).find_map(char::from_u32);
        if let Some(n) = next {
            chars.push(n);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// S3 listing semantics over the paths of `files`: those starting with `prefix`, after
/// `resume`, grouped at the first `delimiter` after the prefix, at most `max` entries;
/// and whether more follow.
fn page_paths<'a>(
    files: &'a Snapshot,
    prefix: &str,
    delimiter: Option<&str>,
    resume: Option<(&str, bool)>,
    max: usize,
) -> (Vec<Entry<'a>>, bool) {
    let mut cursor: Bound<String> = Bound::Included(prefix.to_string());
    let mut skip: Option<String> = None;
    if let Some((after, was_group)) = resume
        && after >= prefix
    {
        cursor = Bound::Excluded(after.to_string());
        if was_group {
            skip = Some(after.to_string());
        }
    }
    let mut out = Vec::new();
    loop {
        let next = files
            .range::<str, _>((cursor.as_ref().map(String::as_str), Bound::Unbounded))
            .next();
        let Some((path, entry)) = next else {
            return (out, false);
        };
        if !path.starts_with(prefix) {
            return (out, false);
        }
        if let Some(s) = &skip
            && path.starts_with(s.as_str())
        {
            cursor = past_prefix(s).map_or(Bound::Excluded(path.clone()), Bound::Included);
            continue;
        }
        if out.len() >= max {
            return (out, true);
        }
        let group = delimiter.and_then(|d| {
            path[prefix.len()..]
                .find(d)
                .map(|i| path[..prefix.len() + i + d.len()].to_string())
        });
        match group {
            Some(g) => {
                cursor = past_prefix(&g).map_or(Bound::Excluded(path.clone()), Bound::Included);
                skip = Some(g.clone());
                out.push(Entry::Group(g));
            }
            None => {
                cursor = Bound::Excluded(path.clone());
                out.push(Entry::File(path, entry));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use colony_store::{Hash, Mode};

    fn snap(paths: &[&str]) -> Snapshot {
        paths
            .iter()
            .map(|p| {
                let e = FileEntry {
                    mode: Mode::File,
                    size: 1,
                    hash: Hash::of(p.as_bytes()),
                    manifest: None,
                    target: None,
                };
                (p.to_string(), e)
            })
            .collect()
    }

    fn names(v: &[Entry<'_>]) -> Vec<String> {
        v.iter()
            .map(|e| match e {
                Entry::File(p, _) => p.to_string(),
                Entry::Group(g) => format!("{g}*"),
            })
            .collect()
    }

    /// Every page of a listing, joined, following tokens the way a client does.
    fn all_pages(s: &Snapshot, prefix: &str, d: Option<&str>, max: usize) -> Vec<String> {
        let mut got = Vec::new();
        let mut resume: Option<(String, bool)> = None;
        loop {
            let (page, more) = page_paths(
                s,
                prefix,
                d,
                resume.as_ref().map(|(k, c)| (k.as_str(), *c)),
                max,
            );
            got.extend(names(&page));
            if !more {
                return got;
            }
            resume = Some(match page.last().unwrap() {
                Entry::File(p, _) => (p.to_string(), false),
                Entry::Group(g) => (g.clone(), true),
            });
        }
    }

    #[test]
    fn listing_pages_and_groups() {
        let s = snap(&[
            "a.txt",
            "data/p0.bin",
            "data/p1.bin",
            "data/sub/x",
            "data2/y",
            "notes/readme.txt",
            "z",
        ]);
        let want_root = vec!["a.txt", "data/*", "data2/*", "notes/*", "z"];
        for max in [1, 2, 3, 1000] {
            assert_eq!(all_pages(&s, "", Some("/"), max), want_root, "max {max}");
            assert_eq!(
                all_pages(&s, "data/", Some("/"), max),
                vec!["data/p0.bin", "data/p1.bin", "data/sub/*"]
            );
            assert_eq!(all_pages(&s, "data", None, max).len(), 4);
            assert_eq!(
                all_pages(&s, "data", Some("/"), max),
                vec!["data/*", "data2/*"]
            );
        }
        assert_eq!(all_pages(&s, "da", Some("a"), 1), vec!["data*"]);
        assert!(all_pages(&s, "nothing", Some("/"), 5).is_empty());
        let (first, more) = page_paths(&s, "", None, None, 0);
        assert!(first.is_empty() && more);
    }

    #[test]
    fn tokens_round_trip() {
        for item in [
            Item::Prefix("main/data/".into()),
            Item::Key {
                key: "v1/a b".into(),
                size: 0,
                hash: String::new(),
            },
        ] {
            let t = encode_token(&item);
            let (k, cp) = decode_token(&t).unwrap();
            assert_eq!(cp, matches!(item, Item::Prefix(_)));
            assert!(k == "main/data/" || k == "v1/a b");
        }
        assert!(decode_token("zz").is_err());
        assert!(decode_token("").is_err());
    }

    #[test]
    fn past_prefix_orders_after_every_extension() {
        assert_eq!(past_prefix("ab/").as_deref(), Some("ab0"));
        assert_eq!(past_prefix("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(past_prefix("\u{10FFFF}"), None);
    }
}
