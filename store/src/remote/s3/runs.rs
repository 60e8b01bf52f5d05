//! Run records on an S3 remote: `refs/runs/<name>` objects, created only where absent.

use gix::ObjectId;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::S3Remote;
use super::layout;
use crate::error::Result;
use crate::repo::Repo;
use crate::snapshot::shards::shards_to_push;

impl S3Remote {
    /// Every run record in the bucket, as (name, commit).
    pub(super) fn read_runs(&self) -> Result<Vec<(String, ObjectId)>> {
        let mut out = Vec::new();
        for (name, _) in self.list_under(layout::RUNS)? {
            let key = self.key(&format!("{}/{name}", layout::RUNS));
            let doing = format!("read run `{name}`");
            let bytes = self.rt.block_on(async {
                let got = self
                    .store
                    .get(&key)
                    .await
                    .map_err(|e| self.store_err(&doing, e))?;
                got.bytes().await.map_err(|e| self.store_err(&doing, e))
            })?;
            out.push((
                name.clone(),
                layout::parse_ref_at(layout::RUNS, &name, &bytes)?,
            ));
        }
        Ok(out)
    }

    /// Sends `runs`: the shards they need ([`shards_to_push`]; checkpoints live in shards), one bundle
    /// per run of what the bucket's branches and runs do not reach, then each run's ref,
    /// created only where absent. Returns how many runs were new.
    pub(super) fn push_run_records(
        &self,
        local: &Repo,
        runs: &[(String, ObjectId)],
    ) -> Result<usize> {
        for (name, _) in runs {
            crate::history::validate_ref_name(&format!("refs/runs/{name}"))?;
        }
        let there = self.read_runs()?;
        let todo: Vec<&(String, ObjectId)> = runs
            .iter()
            .filter(|(name, _)| !there.iter().any(|(n, _)| n == name))
            .collect();
        if todo.is_empty() {
            return Ok(0);
        }
        let repo = local.history().repo();
        let tips: Vec<ObjectId> = self
            .read_refs()?
            .into_iter()
            .map(|r| r.commit)
            .chain(there.iter().map(|(_, c)| *c))
            .filter(|c| repo.has_object(*c))
            .collect();
        let commits: Vec<ObjectId> = todo.iter().map(|(_, c)| *c).collect();
        let missing = shards_to_push(local, &commits, &tips, &self.held_shards()?)?;
        self.send_shards(local, &missing)?;
        let mut new = 0;
        for (name, commit) in todo {
            self.send_bundle(local, *commit, &tips)?;
            let key = self.key(&format!("{}/{name}", layout::RUNS));
            let put = self.rt.block_on(self.store.put_opts(
                &key,
                PutPayload::from(format!("{commit}\n").into_bytes()),
                PutOptions::from(PutMode::Create),
            ));
            match put {
                Ok(_) => new += 1,
                // Pushed meanwhile by someone else: same name, same record.
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(self.store_err(&format!("add run `{name}`"), e)),
            }
        }
        Ok(new)
    }
}
