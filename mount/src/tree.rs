//! The inode table of a mounted revision: every folder, file and symlink of the snapshot,
//! numbered once at mount time. A revision never changes, so neither does the table:
//! inode numbers are stable for the life of the mount and nothing is ever forgotten.

use std::collections::HashMap;

use colony_store::snapshot::{Mode, Snapshot};

/// The root folder's inode (FUSE's fixed root number).
pub(crate) const ROOT: u64 = 1;

/// What an inode is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A folder; its children are sorted by name.
    Dir(Vec<(String, u64)>),
    /// A regular file, executable or not.
    File {
        /// Whether it has the executable bit.
        exec: bool,
    },
    /// A symbolic link to this target.
    Link(String),
}

/// One inode.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The folder holding it (the root is its own parent).
    pub parent: u64,
    /// Its path in the snapshot (`""` for the root), as the reader takes it.
    pub path: String,
    /// Bytes (a symlink: its target's length; a folder: 0).
    pub size: u64,
    /// Folder, file or link.
    pub kind: Kind,
}

/// Every inode of one snapshot; inode `n` is `nodes[n - 1]`.
#[derive(Debug)]
pub(crate) struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    /// Numbers the folders, files and links of `files`. A path that would need a file to
    /// be a folder too is left out (the reader refuses such trees already).
    pub(crate) fn build(files: &Snapshot) -> Tree {
        let mut nodes = vec![Node {
            parent: ROOT,
            path: String::new(),
            size: 0,
            kind: Kind::Dir(Vec::new()),
        }];
        let mut dirs: HashMap<String, u64> = HashMap::from([(String::new(), ROOT)]);
        'files: for (path, e) in files {
            let mut parent = ROOT;
            let mut at = 0;
            while let Some(slash) = path[at..].find('/') {
                let dir = &path[..at + slash];
                parent = match dirs.get(dir) {
                    Some(&ino) => ino,
                    None => {
                        let ino = nodes.len() as u64 + 1;
                        let Kind::Dir(children) = &mut nodes[parent as usize - 1].kind else {
                            continue 'files;
                        };
                        children.push((path[at..at + slash].to_string(), ino));
                        nodes.push(Node {
                            parent,
                            path: dir.to_string(),
                            size: 0,
                            kind: Kind::Dir(Vec::new()),
                        });
                        dirs.insert(dir.to_string(), ino);
                        ino
                    }
                };
                at += slash + 1;
            }
            let ino = nodes.len() as u64 + 1;
            let Kind::Dir(children) = &mut nodes[parent as usize - 1].kind else {
                continue;
            };
            children.push((path[at..].to_string(), ino));
            nodes.push(Node {
                parent,
                path: path.clone(),
                size: e.size,
                kind: match e.mode {
                    Mode::Link => Kind::Link(e.target.clone().unwrap_or_default()),
                    Mode::File => Kind::File { exec: false },
                    Mode::Exec => Kind::File { exec: true },
                },
            });
        }
        for n in &mut nodes {
            if let Kind::Dir(children) = &mut n.kind {
                children.sort_unstable();
                // A name both a file and a folder (refused upstream): keep the first.
                children.dedup_by(|a, b| a.0 == b.0);
            }
        }
        Tree { nodes }
    }

    /// Inode `ino`, if it exists.
    pub(crate) fn get(&self, ino: u64) -> Option<&Node> {
        ino.checked_sub(1).and_then(|i| self.nodes.get(i as usize))
    }

    /// The child `name` of folder `parent`.
    pub(crate) fn lookup(&self, parent: u64, name: &str) -> Option<u64> {
        let Kind::Dir(children) = &self.get(parent)?.kind else {
            return None;
        };
        children
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| children[i].1)
    }

    /// How many inodes there are.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Bytes of all files and links (what `df` shows as used).
    pub(crate) fn bytes(&self) -> u64 {
        self.nodes.iter().map(|n| n.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use colony_store::Hash;
    use colony_store::snapshot::FileEntry;

    fn entry(mode: Mode, size: u64, target: Option<&str>) -> FileEntry {
        FileEntry {
            mode,
            size,
            hash: Hash::of(b"x"),
            manifest: None,
            target: target.map(str::to_string),
        }
    }

    #[test]
    fn numbers_folders_files_and_links() {
        let mut s = Snapshot::new();
        s.insert("a.txt".into(), entry(Mode::File, 3, None));
        s.insert("a/b/c.bin".into(), entry(Mode::Exec, 5, None));
        s.insert("a/link".into(), entry(Mode::Link, 7, Some("b/c.bin")));
        s.insert("z".into(), entry(Mode::File, 0, None));
        let t = Tree::build(&s);
        assert_eq!(t.len(), 7);
        let a = t.lookup(ROOT, "a").unwrap();
        assert!(matches!(t.get(a).unwrap().kind, Kind::Dir(_)));
        let b = t.lookup(a, "b").unwrap();
        let c = t.lookup(b, "c.bin").unwrap();
        let n = t.get(c).unwrap();
        assert_eq!((n.path.as_str(), n.size, n.parent), ("a/b/c.bin", 5, b));
        assert_eq!(n.kind, Kind::File { exec: true });
        let l = t.get(t.lookup(a, "link").unwrap()).unwrap();
        assert_eq!(l.kind, Kind::Link("b/c.bin".into()));
        assert!(t.lookup(ROOT, "a.txt").is_some());
        assert!(t.lookup(ROOT, "nope").is_none());
        assert!(t.lookup(c, "x").is_none());
        let Kind::Dir(root) = &t.get(ROOT).unwrap().kind else {
            panic!()
        };
        let names: Vec<&str> = root.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "a.txt", "z"]);
        assert_eq!(t.bytes(), 15);
        assert!(t.get(0).is_none() && t.get(99).is_none());
    }
}
