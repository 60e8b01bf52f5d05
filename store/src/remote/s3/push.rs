//! Pushing to an S3 remote: missing shards (resumable), one history bundle, then the
//! branch with a conditional PUT.

use std::collections::HashSet;
use std::io::Read;

use gix::ObjectId;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

use super::layout;
use super::{MULTIPART_THRESHOLD, PART_SIZE, S3Remote};
use crate::Hash;
use crate::error::{Result, StoreError};
use crate::remote::{PushReport, non_fast_forward};
use crate::repo::Repo;
use crate::snapshot::shards::shards_to_push;

impl S3Remote {
    /// The objects reachable from `commit` that the remote's branches (`remote_tips`,
    /// those this dataset has) do not reach ([`crate::history::History::walk_missing`]).
    fn objects_to_send(
        &self,
        local: &Repo,
        commit: ObjectId,
        remote_tips: &[ObjectId],
    ) -> Result<Vec<(gix::objs::Kind, Vec<u8>)>> {
        let mut out = Vec::new();
        local
            .history()
            .walk_missing(&[commit], remote_tips, |_, kind, data| {
                out.push((kind, data));
                Ok(())
            })?;
        Ok(out)
    }

    /// Uploads one shard file, in parts when it is large.
    fn upload_shard(&self, local: &Repo, id: &Hash, progress: &dyn Fn(u64)) -> Result<u64> {
        let path = crate::shard_path(&local.colony_dir().join("shards"), id);
        let io = |e: std::io::Error| StoreError::io(format!("read {}", path.display()), e);
        let mut file = std::fs::File::open(&path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        let key = self.key(&layout::shard_key(id));
        let doing = format!("upload shard {id}");
        if size <= MULTIPART_THRESHOLD {
            let mut buf = Vec::with_capacity(size as usize);
            file.read_to_end(&mut buf).map_err(io)?;
            self.rt
                .block_on(self.store.put(&key, PutPayload::from(buf)))
                .map_err(|e| self.store_err(&doing, e))?;
            progress(size);
            return Ok(size);
        }
        self.rt.block_on(async {
            let mut upload = self
                .store
                .put_multipart(&key)
                .await
                .map_err(|e| self.store_err(&doing, e))?;
            let result: Result<()> = async {
                loop {
                    let mut part = Vec::with_capacity(PART_SIZE);
                    (&mut file)
                        .take(PART_SIZE as u64)
                        .read_to_end(&mut part)
                        .map_err(io)?;
                    if part.is_empty() {
                        break;
                    }
                    let n = part.len() as u64;
                    upload
                        .put_part(PutPayload::from(part))
                        .await
                        .map_err(|e| self.store_err(&doing, e))?;
                    progress(n);
                }
                upload
                    .complete()
                    .await
                    .map_err(|e| self.store_err(&doing, e))?;
                Ok(())
            }
            .await;
            if result.is_err() {
                let _ = upload.abort().await;
            }
            result
        })?;
        Ok(size)
    }

    /// The bucket's shards.
    pub(super) fn held_shards(&self) -> Result<HashSet<Hash>> {
        Ok(self.shards()?.into_iter().map(|(h, _)| h).collect())
    }

    /// Uploads `missing` (shards the bucket lacks, from [`shards_to_push`]; a
    /// rerun after a killed push plans again and skips what arrived); returns how many
    /// and their bytes.
    pub(super) fn send_shards(
        &self,
        local: &Repo,
        missing: &[(Hash, u64)],
    ) -> Result<(usize, u64)> {
        let progress = local.progress();
        progress.begin("pushing shards", Some(missing.iter().map(|(_, s)| s).sum()));
        let mut bytes = 0;
        for (id, _) in missing {
            bytes += self.upload_shard(local, id, &|n| progress.advance(n))?;
        }
        progress.end();
        Ok((missing.len(), bytes))
    }

    /// Uploads the bundle named after `commit`: the objects it reaches that `tips` (remote
    /// commits this dataset has) do not. Returns how many objects it holds (0: none sent).
    pub(super) fn send_bundle(
        &self,
        local: &Repo,
        commit: ObjectId,
        tips: &[ObjectId],
    ) -> Result<u64> {
        let objects = self.objects_to_send(local, commit, tips)?;
        if objects.is_empty() {
            return Ok(0);
        }
        let bundle = layout::encode_bundle(objects.iter().map(|(k, d)| (*k, d.as_slice())));
        let key = self.key(&layout::bundle_key(&commit));
        let put = self.rt.block_on(self.store.put_opts(
            &key,
            PutPayload::from(bundle),
            PutOptions::from(PutMode::Create),
        ));
        match put {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(objects.len() as u64),
            Err(e) => Err(self.store_err("upload history", e)),
        }
    }

    /// See [`crate::remote::Remote::push`].
    pub(super) fn push_branch(
        &self,
        local: &Repo,
        branch: &str,
        commit: ObjectId,
        force: bool,
    ) -> Result<PushReport> {
        crate::history::validate_ref_name(&format!("refs/heads/{branch}"))?;
        let refs = self.read_refs()?;
        let old = refs.iter().find(|r| r.branch == branch);
        let mut report = PushReport {
            remote: self.name.clone(),
            branch: branch.to_string(),
            old: old.map(|o| o.commit.to_string()),
            new: commit.to_string(),
            ..Default::default()
        };
        if old.is_some_and(|o| o.commit == commit) {
            report.up_to_date = true;
            return Ok(report);
        }
        let history = local.history();
        if let Some(o) = old
            && !force
            && (!history.repo().has_object(o.commit)
                || history.merge_base(o.commit, commit)? != Some(o.commit))
        {
            return Err(non_fast_forward(&self.name, branch, o.commit, commit));
        }

        // Shards first: those the pushed history needs that the bucket lacks.
        let tips: Vec<ObjectId> = refs
            .iter()
            .map(|r| r.commit)
            .filter(|c| history.repo().has_object(*c))
            .collect();
        let missing = shards_to_push(local, &[commit], &tips, &self.held_shards()?)?;
        let (shards, bytes) = self.send_shards(local, &missing)?;
        report.shards = shards;
        report.bytes = bytes;

        // History: one bundle of what the remote's branches do not reach.
        report.objects = self.send_bundle(local, commit, &tips)?;

        // The branch, last and conditionally.
        let mode = match old {
            None => PutMode::Create,
            Some(o) => PutMode::Update(UpdateVersion {
                e_tag: o.e_tag.clone(),
                version: o.version.clone(),
            }),
        };
        let key = self.key(&format!("{}/{branch}", layout::HEADS));
        let put = self.rt.block_on(self.store.put_opts(
            &key,
            PutPayload::from(format!("{commit}\n").into_bytes()),
            PutOptions::from(mode),
        ));
        match put {
            Ok(_) => Ok(report),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Err(self.err(format!(
                "branch `{branch}` moved while this push ran (another push won); \
                 run `colony pull {} {branch}` and push again",
                self.name
            ))),
            Err(e) => Err(self.store_err(&format!("move branch `{branch}`"), e)),
        }
    }
}
