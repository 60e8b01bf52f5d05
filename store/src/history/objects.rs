//! Walking git objects: the one traversal behind every transfer of history (a copy
//! between datasets on this machine, an S3 bundle sent or read, a peer's answer, a
//! peer's object stream checked as it arrives).
//!
//! A walk visits each object only after every object it refers to (blobs and subtrees
//! before their tree, a commit's tree and parents before the commit). That is the order
//! colony writes history in, so a writer stopped halfway never leaves an object whose
//! references are missing, and "an object present comes with everything it reaches"
//! holds in every store.

use std::collections::HashSet;

use gix::ObjectId;
use gix::objs::Kind;
use gix::objs::Write as _;

use super::History;
use crate::error::{Result, StoreError};

/// An object another object refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reference {
    /// Its id.
    pub id: ObjectId,
    /// Whether it is a tree entry that refers to nothing itself (a blob or a symlink),
    /// so a walk that only wants ids need not read it.
    pub leaf: bool,
}

/// The objects that `data`, an object of `kind`, refers to: a commit's tree and, when
/// `parents`, its parents; a tree's entries (submodule commits excepted: colony never
/// writes them and they are never followed); a tag's target. Blobs refer to nothing.
/// Bytes that do not parse as their kind are refused with what the parser said.
pub fn references(
    kind: Kind,
    data: &[u8],
    parents: bool,
) -> std::result::Result<Vec<Reference>, String> {
    let sha1 = gix::hash::Kind::Sha1;
    let bad = |e: &dyn std::fmt::Display| e.to_string();
    let node = |id| Reference { id, leaf: false };
    Ok(match kind {
        Kind::Commit => {
            let c = gix::objs::CommitRef::from_bytes(data, sha1).map_err(|e| bad(&e))?;
            let mut out = vec![node(c.tree())];
            if parents {
                out.extend(c.parents().map(node));
            }
            out
        }
        Kind::Tree => gix::objs::TreeRef::from_bytes(data, sha1)
            .map_err(|e| bad(&e))?
            .entries
            .iter()
            .filter(|e| !e.mode.is_commit())
            .map(|e| Reference {
                id: e.oid.to_owned(),
                leaf: !e.mode.is_tree(),
            })
            .collect(),
        Kind::Tag => vec![node(
            gix::objs::TagRef::from_bytes(data, sha1)
                .map_err(|e| bad(&e))?
                .target(),
        )],
        Kind::Blob => Vec::new(),
    })
}

/// What a walk follows and reads.
#[derive(Clone, Copy, Debug)]
pub struct Follow {
    /// Follow commits' parents (their whole history), or only their trees (the
    /// snapshots of exactly the commits walked).
    pub parents: bool,
    /// Read blobs and symlinks (to copy or send them). When false they are visited,
    /// unread, as blobs with no bytes.
    pub leaf_bytes: bool,
}

impl Follow {
    /// Everything reachable, read whole: what a copy or a transfer of history needs.
    pub const HISTORY: Follow = Follow {
        parents: true,
        leaf_bytes: true,
    };
}

/// Walks the objects reachable from `tips`, visiting each once, after every object it
/// refers to (see the module docs). `skip` prunes an object and everything it reaches
/// (one the other side holds): it is neither read nor visited. `load` reads an object's
/// kind and bytes. A walk holds the bytes of the objects on its current path only.
pub fn walk_objects(
    tips: &[ObjectId],
    follow: Follow,
    mut skip: impl FnMut(&ObjectId) -> bool,
    mut load: impl FnMut(&ObjectId) -> Result<(Kind, Vec<u8>)>,
    mut visit: impl FnMut(ObjectId, Kind, Vec<u8>) -> Result<()>,
) -> Result<()> {
    enum Step {
        Enter(Reference),
        Leave(ObjectId, Kind, Vec<u8>),
    }
    let mut entered: HashSet<ObjectId> = HashSet::new();
    let mut stack: Vec<Step> = tips
        .iter()
        .rev()
        .map(|&id| Step::Enter(Reference { id, leaf: false }))
        .collect();
    while let Some(step) = stack.pop() {
        let r = match step {
            Step::Leave(id, kind, data) => {
                visit(id, kind, data)?;
                continue;
            }
            Step::Enter(r) => r,
        };
        if entered.contains(&r.id) || skip(&r.id) {
            continue;
        }
        entered.insert(r.id);
        if r.leaf && !follow.leaf_bytes {
            visit(r.id, Kind::Blob, Vec::new())?;
            continue;
        }
        let (kind, data) = load(&r.id)?;
        let refs = references(kind, &data, follow.parents).map_err(StoreError::git)?;
        stack.push(Step::Leave(r.id, kind, data));
        stack.extend(refs.into_iter().map(Step::Enter));
    }
    Ok(())
}

impl History {
    /// Reads object `id`: its kind and bytes.
    pub fn load_object(&self, id: &ObjectId) -> Result<(Kind, Vec<u8>)> {
        let o = self
            .repo
            .find_object(*id)
            .map_err(StoreError::git)?
            .detach();
        Ok((o.kind, o.data))
    }

    /// Writes an object that arrived from elsewhere under the id `id`, refused with
    /// [`StoreError::MalformedHistory`] when its bytes hash to another id.
    pub fn write_object_as(&self, id: ObjectId, kind: Kind, data: &[u8]) -> Result<()> {
        let got = self
            .repo
            .objects
            .write_buf(kind, data)
            .map_err(StoreError::git)?;
        if got != id {
            return Err(StoreError::MalformedHistory {
                object: id.to_string(),
                why: format!("its bytes hash to {got}"),
            });
        }
        Ok(())
    }

    /// Copies into `into` the objects reachable from `tips` that it lacks, written
    /// referred-to first, each id recomputed from the bytes written; returns how many.
    pub fn copy_objects_into(&self, into: &History, tips: &[ObjectId]) -> Result<u64> {
        let mut n = 0;
        walk_objects(
            tips,
            Follow::HISTORY,
            |id| into.repo.has_object(id),
            |id| self.load_object(id),
            |id, kind, data| {
                n += 1;
                into.write_object_as(id, kind, &data)
            },
        )?;
        Ok(n)
    }

    /// Visits, referred-to first, the objects reachable from `tips` that a store holding
    /// the commits `haves` (and so everything they reach) lacks. Haves this history does
    /// not hold are ignored. As git does, the snapshots of the held commits that the new
    /// commits grew from (their held parents) are taken as held, tree by tree, so an
    /// unchanged file or folder is not sent again.
    pub fn walk_missing(
        &self,
        tips: &[ObjectId],
        haves: &[ObjectId],
        visit: impl FnMut(ObjectId, Kind, Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let present: Vec<ObjectId> = haves
            .iter()
            .copied()
            .filter(|id| self.repo.has_object(id))
            .collect();
        let mut held: HashSet<ObjectId> = HashSet::new();
        if !present.is_empty() {
            held.extend(self.walk(&present)?);
            let mut boundary = Vec::new();
            for c in self.walk(tips)? {
                if held.contains(&c) {
                    continue;
                }
                for p in self.find_commit(c)?.parent_ids() {
                    if held.contains(&p.detach()) {
                        boundary.push(self.commit_tree(p.detach())?);
                    }
                }
            }
            let mut trees_held = Vec::new();
            walk_objects(
                &boundary,
                Follow {
                    parents: false,
                    leaf_bytes: false,
                },
                |_| false,
                |id| self.load_object(id),
                |id, _, _| {
                    trees_held.push(id);
                    Ok(())
                },
            )?;
            held.extend(trees_held);
        }
        walk_objects(
            tips,
            Follow::HISTORY,
            |id| held.contains(id),
            |id| self.load_object(id),
            visit,
        )
    }

    /// The ids of [`History::walk_missing`], in its order.
    pub fn missing_objects(&self, tips: &[ObjectId], haves: &[ObjectId]) -> Result<Vec<ObjectId>> {
        let mut out = Vec::new();
        self.walk_missing(tips, haves, |id, _, _| {
            out.push(id);
            Ok(())
        })?;
        Ok(out)
    }
}
