//! `branch`, `tag`, `pin` and `unpin`: names for commits. Pins are refs under
//! `refs/pins/`, so `gc` keeps what they reach and they travel with the history.

use crate::error::{Result, StoreError};
use crate::history::Head;
use crate::repo::Repo;

/// A named ref.
#[derive(Debug, serde::Serialize)]
pub struct RefInfo {
    /// Short name.
    pub name: String,
    /// Commit it points to.
    pub commit: String,
    /// Whether HEAD is on it (branches only).
    pub current: bool,
}

/// The kind of name.
#[derive(Clone, Copy, Debug)]
pub enum RefKind {
    /// `refs/heads/`.
    Branch,
    /// `refs/tags/`.
    Tag,
    /// `refs/pins/`.
    Pin,
}

impl RefKind {
    fn prefix(self) -> &'static str {
        match self {
            RefKind::Branch => "refs/heads/",
            RefKind::Tag => "refs/tags/",
            RefKind::Pin => "refs/pins/",
        }
    }
    fn noun(self) -> &'static str {
        match self {
            RefKind::Branch => "branch",
            RefKind::Tag => "tag",
            RefKind::Pin => "pin",
        }
    }
}

impl Repo {
    /// Lists refs of a kind.
    pub fn list_refs(&self, kind: RefKind) -> Result<Vec<RefInfo>> {
        let current = match self.head()? {
            Head::Branch { name, .. } => Some(name),
            Head::Detached(_) => None,
        };
        Ok(self
            .history()
            .list_refs(kind.prefix())?
            .into_iter()
            .map(|(name, id)| RefInfo {
                current: matches!(kind, RefKind::Branch)
                    && current.as_deref() == Some(name.as_str()),
                name,
                commit: id.to_string(),
            })
            .collect())
    }

    /// Creates (or with `force` moves) a ref to `rev` (default HEAD).
    pub fn create_ref(
        &self,
        kind: RefKind,
        name: &str,
        rev: Option<&str>,
        force: bool,
    ) -> Result<RefInfo> {
        let full = format!("{}{name}", kind.prefix());
        crate::history::validate_ref_name(&full)?;
        if !force && self.history().ref_target(&full)?.is_some() {
            return Err(StoreError::Ref(format!(
                "{} `{name}` already exists (use --force to move it)",
                kind.noun()
            )));
        }
        let id = match rev {
            Some(r) => self.resolve(r)?,
            None => self
                .head()?
                .commit()
                .ok_or_else(|| StoreError::Ref("HEAD has no commit yet; commit first".into()))?,
        };
        self.history().set_ref(&full, id)?;
        Ok(RefInfo {
            name: name.into(),
            commit: id.to_string(),
            current: false,
        })
    }

    /// Deletes a ref; deleting the current branch is refused.
    pub fn delete_ref(&self, kind: RefKind, name: &str) -> Result<()> {
        if matches!(kind, RefKind::Branch)
            && let Head::Branch { name: cur, .. } = self.head()?
            && cur == name
        {
            return Err(StoreError::Ref(format!(
                "cannot delete the current branch `{name}`; switch away first"
            )));
        }
        if !self
            .history()
            .delete_ref(&format!("{}{name}", kind.prefix()))?
        {
            return Err(StoreError::Ref(format!("no {} `{name}`", kind.noun())));
        }
        Ok(())
    }

    /// Pins `rev`: its snapshot's shards stay local and `gc` keeps them. The pin is named
    /// `name`, or after the commit id.
    pub fn pin(&self, rev: &str, name: Option<&str>) -> Result<RefInfo> {
        let id = self.resolve(rev)?;
        let name = name.map_or_else(|| id.to_string(), str::to_string);
        // Make sure every byte is here before promising to keep it.
        let report = self.verify(Some(&id.to_string()))?;
        let mut problems = report.problems;
        if let Some(recorded) = report.recorded_root
            && recorded != report.computed_root
        {
            problems.push(format!(
                "its snapshot root is {} but the commit records {recorded}",
                report.computed_root
            ));
        }
        if !problems.is_empty() {
            return Err(StoreError::PinUnverified {
                commit: id.to_string(),
                problems,
            });
        }
        self.create_ref(RefKind::Pin, &name, Some(&id.to_string()), true)
    }

    /// Removes the pins on `rev` (a pin name or any revision); returns the names removed.
    pub fn unpin(&self, rev: &str) -> Result<Vec<String>> {
        let pins = self.history().list_refs(RefKind::Pin.prefix())?;
        let mut removed: Vec<String> = pins
            .iter()
            .filter(|(n, _)| n == rev)
            .map(|(n, _)| n.clone())
            .collect();
        if removed.is_empty() {
            let id = self.resolve(rev)?;
            removed = pins
                .iter()
                .filter(|(_, c)| *c == id)
                .map(|(n, _)| n.clone())
                .collect();
        }
        if removed.is_empty() {
            return Err(StoreError::Ref(format!("`{rev}` is not pinned")));
        }
        for n in &removed {
            self.history().delete_ref(&format!("refs/pins/{n}"))?;
        }
        Ok(removed)
    }
}
