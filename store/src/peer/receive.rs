//! Taking a commit from a peer over the connection it opened: what a serving node does
//! for a push or a pin request from an allowed peer, and what a remote uses to fetch
//! only the shards a snapshot needs.

use std::collections::HashSet;

use gix::ObjectId;

use super::link::Link;
use super::protocol::Request;
use crate::Hash;
use crate::error::{Result, StoreError};
use crate::ops::fetch::partial_shard_path;
pub use crate::remote::peer::Target;
use crate::repo::Repo;
use crate::shard::accept_transfer;

/// What taking shards moved.
#[derive(Debug, Default, Clone, Copy)]
pub struct Took {
    /// Shards verified and indexed.
    pub shards: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Bytes that crossed the wire (less than `bytes` when resuming).
    pub moved: u64,
}

/// Brings the shards in `wanted` that `repo` lacks from `link`, each verified in 16 KiB
/// groups as it streams, then as a whole and record by record
/// ([`verify_shard_file`]) before it is renamed into place and indexed. A shard that
/// fails is deleted and the error ([`StoreError::ShardRefused`]) names it and the peer.
pub fn take_shards(repo: &Repo, link: &Link, wanted: &[(Hash, u64)]) -> Result<Took> {
    let store = repo.chunks()?;
    let mut have: HashSet<Hash> = store.shard_files()?.into_iter().collect();
    have.extend(store.indexed_shards()?.into_iter().map(|(h, _)| h));
    let tmp_dir = store.dir().join("tmp");
    std::fs::create_dir_all(&tmp_dir)
        .map_err(|e| StoreError::io(format!("create {}", tmp_dir.display()), e))?;
    let progress = repo.progress();
    let todo: Vec<&(Hash, u64)> = wanted.iter().filter(|(h, _)| !have.contains(h)).collect();
    progress.begin("receiving shards", Some(todo.iter().map(|(_, s)| s).sum()));
    let mut took = Took::default();
    for (id, _) in todo {
        let tmp = partial_shard_path(store.dir(), id);
        let got = link.shard(id, &tmp, &|n| progress.advance(n))?;
        took.moved += got.moved;
        let from = format!("{} (peer {})", link.name, link.peer());
        let sealed = accept_transfer(&from, *id, &tmp, got.whole)?;
        crate::durable::rename_into(&tmp, &crate::shard_path(store.dir(), id))?;
        store.index_shard(&sealed)?;
        took.shards += 1;
        took.bytes += sealed.size;
    }
    progress.end();
    Ok(took)
}

/// What [`take_commit`] did.
#[derive(Debug, Default)]
pub struct Taken {
    /// Where the branch pointed before.
    pub old: Option<ObjectId>,
    /// History objects written.
    pub objects: u64,
    /// Shards taken.
    pub took: Took,
    /// Whether everything was already here.
    pub up_to_date: bool,
    /// Run records added (0 or 1).
    pub runs_new: usize,
}

/// Takes `commit` from the peer behind `link` (its snapshot's shards, then its history),
/// then moves `branch` (fast-forward only unless `force`) and/or creates pin `pin`.
pub fn take_commit(repo: &Repo, link: &Link, commit: ObjectId, to: Target<'_>) -> Result<Taken> {
    let Target {
        branch,
        force,
        pin,
        run,
    } = to;
    let mut out = Taken::default();
    let full = branch.map(|b| format!("refs/heads/{b}"));
    if let Some(f) = &full {
        crate::history::validate_ref_name(f)?;
        out.old = repo.history().ref_target(f)?;
    }
    if let Some(p) = pin {
        crate::history::validate_ref_name(&format!("refs/pins/{p}"))?;
    }
    if let Some(r) = run {
        crate::history::validate_ref_name(&format!("{}{r}", crate::ops::runs::RUNS_PREFIX))?;
    }
    let have_commit = repo.history().repo().has_object(commit);
    if out.old == Some(commit) && pin.is_none() {
        out.up_to_date = true;
        return Ok(out);
    }
    // A branch checked out here moves only with its work tree (as git's
    // `receive.denyCurrentBranch`): see [`check_checked_out`].
    let update_work_tree = match branch {
        Some(b) => check_checked_out(repo, b)?,
        None => false,
    };
    // Shards first, then history, then refs: what a ref reaches is here before it moves.
    let wanted = link.shards(&Request::SnapshotShards {
        commit: commit.to_string(),
        paths: None,
    })?;
    out.took = take_shards(repo, link, &wanted)?;
    if !have_commit {
        let haves = repo.local_tips()?;
        out.objects = link.objects(repo.history(), &[commit], &haves)?;
        repo.history().sync()?;
    }
    // No ref moves to a commit that is not here.
    crate::ops::fetch::check_tips(
        repo.history(),
        &format!("{} (peer {})", link.name, link.peer()),
        [(format!("commit {commit}"), commit)],
    )?;
    if let Some(b) = branch {
        repo.accept_branch(b, out.old, commit, force, update_work_tree, |old| {
            StoreError::Refused(format!(
                "branch `{b}` here is at {old}, which {commit} does not contain: not a fast-forward (pull and merge first, or push with --force)"
            ))
        })?;
    }
    if let Some(p) = pin {
        repo.history().set_ref(&format!("refs/pins/{p}"), commit)?;
    }
    if let Some(r) = run {
        out.runs_new = crate::ops::runs::adopt_runs(repo.history(), &[(r.to_string(), commit)])?;
    }
    Ok(out)
}

/// The config key that lets a push move the branch a serving node has checked out.
pub const UPDATE_WORK_TREE_KEY: &str = "serve.update_work_tree";

/// Whether a push to `branch` must also update this node's work tree (the branch is
/// the one checked out here), refusing it when that is not allowed: a push never moves
/// a checked-out branch under its work tree. An unborn current branch (a fresh dataset)
/// takes the push and the work tree is checked out, refusing only to overwrite files;
/// a born one only when `serve.update_work_tree = true` in the node's config and its
/// work tree has no uncommitted change and no merge in progress.
fn check_checked_out(repo: &Repo, branch: &str) -> Result<bool> {
    let commit = match repo.head()? {
        crate::history::Head::Branch { name, commit } if name == branch => commit,
        _ => return Ok(false),
    };
    if commit.is_none() {
        return Ok(true);
    }
    let allowed = repo
        .config()
        .get(UPDATE_WORK_TREE_KEY)
        .and_then(toml::Value::as_bool)
        .unwrap_or(false);
    if !allowed {
        return Err(StoreError::Refused(format!(
            "branch `{branch}` is checked out on this node, and a push would move it under its work tree; \
             push to another branch, or have the node's owner set `{UPDATE_WORK_TREE_KEY} = true` \
             (config.toml, [serve] update_work_tree) so that a push updates a clean work tree"
        )));
    }
    if crate::ops::merge_state::load(repo.colony_dir())?.is_some() {
        return Err(StoreError::Refused(format!(
            "branch `{branch}` is checked out on this node with a merge in progress; finish it there first"
        )));
    }
    let ix = repo.index_for_head()?;
    let dirty = repo.uncommitted_paths(&ix)?;
    if !dirty.is_empty() {
        return Err(StoreError::Refused(format!(
            "branch `{branch}` is checked out on this node and its work tree has uncommitted changes ({}); \
             commit or discard them there, or push to another branch",
            dirty
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use crate::ops::remote::Remote;
    use crate::peer::{PeerOptions, PeerRemote, ServeOptions, node, node_id, serve};
    use crate::repo::{Access, InitOptions, Repo};

    fn serve_in_thread(root: std::path::PathBuf, allow: Vec<iroh::EndpointId>) -> String {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let opts = ServeOptions {
                endpoint: node::EndpointOptions {
                    relay: false,
                    bind: Some("127.0.0.1:0".parse().unwrap()),
                    accept: true,
                },
                allow,
                ..Default::default()
            };
            let _ = serve(&root, &opts, &|s| tx.send(s.ticket.clone()).unwrap());
        });
        rx.recv().unwrap()
    }

    /// An allowed peer pushes a commit whose chunk its (poisoned) index places in a
    /// forged shard: validly named, so every 16 KiB group streams verified, but its
    /// record is garbage. The serving node refuses the shard by name before indexing
    /// it, and moves no branch. (One chunk, no manifest: the pusher never reads it.)
    #[test]
    fn a_pushed_forged_shard_is_refused_by_name() {
        let a_dir = tempfile::tempdir().unwrap();
        let p_dir = tempfile::tempdir().unwrap();
        let a = Repo::init(a_dir.path(), &InitOptions::default()).unwrap();
        let content: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(a_dir.path().join("x.bin"), &content).unwrap();
        a.add(&[String::new()]).unwrap();
        let c = a.commit("v1", false).unwrap();
        let commit = gix::ObjectId::from_hex(c.commit.as_bytes()).unwrap();
        let store = a.chunks().unwrap();
        let honest = store.shard_files().unwrap()[0];
        let forged = store.forge_copy_for_test(&honest);
        store.reindex_shard(&forged).unwrap();

        drop(Repo::init(p_dir.path(), &InitOptions::default()).unwrap());
        let me = node_id(a.colony_dir()).unwrap();
        let ticket = serve_in_thread(p_dir.path().to_path_buf(), vec![me]);
        let r = PeerRemote::open("p", &ticket, PeerOptions::default()).unwrap();
        let err = r.push(&a, "data", commit, false).unwrap_err().to_string();
        assert!(err.contains(&forged.id.to_hex()), "names the shard: {err}");
        assert!(err.contains("failed verification"), "{err}");

        let p = Repo::open(p_dir.path(), Access::Read, &|_| {}).unwrap();
        assert_eq!(p.history().ref_target("refs/heads/data").unwrap(), None);
        let ps = p.chunks().unwrap();
        assert!(!ps.shard_files().unwrap().contains(&forged.id));
        assert!(ps.indexed_shards().unwrap().is_empty());
    }
}
