//! Symlinks checked as a set: a snapshot's links resolved through each other.
//!
//! [`super::check_link_target`] looks at one target as text. That is not enough: with
//! `a/b/up → ../..` (the root, harmless) and `leak → a/b/up/../x`, each target stays
//! inside when read alone, but the kernel follows `up` first and `leak` lands on `../x`,
//! outside the work tree. So every link of a snapshot is resolved the way the kernel
//! would resolve it in a work tree holding exactly that snapshot: component by component
//! from the link's folder, following every symlink of the same snapshot met on the way
//! (the last component too), with `..` taken from where the walk really is. A snapshot
//! is refused when any link
//!
//! - resolves outside the work tree (at any step, not only at the end),
//! - passes through a link that is itself refused,
//! - belongs to a loop of links, or nests more than [`MAX_LINK_HOPS`] links deep,
//!
//! and when an entry lies below a symlink (the path would have to be both a link and a
//! folder). Paths the snapshot does not hold are taken as plain folders: only colony's
//! own links can redirect a walk, and a folder the snapshot does not name cannot hold one.
//!
//! The work is linear in the total length of the targets: each link is resolved once
//! (results are memoised), and a walk's position is a node of a trie of the link paths
//! plus a count of plain folders below it, so no path is ever rebuilt or rehashed whole.

use std::collections::HashMap;

use super::{HostileEntry, check_link_target};
use crate::error::{Result, StoreError};
use crate::snapshot::{Mode, Snapshot};

/// How many links one resolution may nest (Linux's `MAXSYMLINKS`); deeper chains are
/// refused, as the kernel would refuse to follow them.
pub const MAX_LINK_HOPS: usize = 40;

/// Where a walk is: `below` plain folders under trie node `node` (0 is the root).
#[derive(Clone, Copy, Debug)]
struct Pos {
    node: usize,
    below: usize,
}

/// Why a link's resolution failed.
#[derive(Clone, Debug)]
enum Refusal {
    /// The walk went above the root; `via` is the last link followed before that.
    Leaves { via: Option<String> },
    /// It went through the link `via`, itself refused.
    Through { via: String },
    /// A loop of links.
    Loop,
    /// More than [`MAX_LINK_HOPS`] links nested.
    TooDeep,
    /// The target fails the text check.
    Text(&'static str),
}

impl Refusal {
    fn why(&self) -> String {
        match self {
            Refusal::Leaves { via: None } => "points outside the work tree".into(),
            Refusal::Leaves { via: Some(v) } => {
                format!("points outside the work tree once the symlink `{v}` is followed")
            }
            Refusal::Through { via } => {
                format!("passes through the symlink `{via}`, which is refused")
            }
            Refusal::Loop => "is part of a loop of symlinks".into(),
            Refusal::TooDeep => format!("nests more than {MAX_LINK_HOPS} symlinks"),
            Refusal::Text(why) => format!("is refused: {why}"),
        }
    }
}

/// The link paths as a trie, each link node with its target.
struct Resolver<'a> {
    parent: Vec<usize>,
    children: HashMap<(usize, &'a str), usize>,
    /// For each node: the link's (path, target), if the node is a link.
    link: Vec<Option<(&'a str, &'a str)>>,
    memo: Vec<Option<Result<Pos, Refusal>>>,
    active: Vec<bool>,
}

impl<'a> Resolver<'a> {
    fn new() -> Self {
        Resolver {
            parent: vec![0],
            children: HashMap::new(),
            link: vec![None],
            memo: vec![None],
            active: vec![false],
        }
    }

    fn insert(&mut self, path: &'a str, target: &'a str) {
        let mut node = 0;
        for part in path.split('/') {
            node = match self.children.get(&(node, part)) {
                Some(&n) => n,
                None => {
                    let n = self.parent.len();
                    self.parent.push(node);
                    self.link.push(None);
                    self.memo.push(None);
                    self.active.push(false);
                    self.children.insert((node, part), n);
                    n
                }
            };
        }
        self.link[node] = Some((path, target));
    }

    /// The nearest proper ancestor of `path` that is a link, if any.
    fn link_above(&self, path: &str) -> Option<&'a str> {
        let mut node = 0;
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            parts.peek()?;
            node = *self.children.get(&(node, part))?;
            if let Some((p, _)) = self.link[node] {
                return Some(p);
            }
        }
        None
    }

    /// Where link `node` leads, following links; `depth` links are being resolved above.
    fn resolve(&mut self, node: usize, depth: usize) -> Result<Pos, Refusal> {
        if let Some(r) = &self.memo[node] {
            return r.clone();
        }
        if self.active[node] {
            return Err(Refusal::Loop);
        }
        if depth >= MAX_LINK_HOPS {
            return Err(Refusal::TooDeep);
        }
        let (path, target) = self.link[node].expect("resolve is called on links");
        let r = match check_link_target(path, target) {
            Some(why) => Err(Refusal::Text(why)),
            None => {
                self.active[node] = true;
                let start = Pos {
                    node: self.parent[node],
                    below: 0,
                };
                let r = self.walk(start, target, depth + 1);
                self.active[node] = false;
                r
            }
        };
        self.memo[node] = Some(r.clone());
        r
    }

    /// Walks `target` from `pos`, following links.
    fn walk(&mut self, mut pos: Pos, target: &'a str, depth: usize) -> Result<Pos, Refusal> {
        let mut via: Option<&'a str> = None;
        for part in target.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if pos.below > 0 {
                        pos.below -= 1;
                    } else if pos.node != 0 {
                        pos.node = self.parent[pos.node];
                    } else {
                        return Err(Refusal::Leaves {
                            via: via.map(str::to_string),
                        });
                    }
                }
                _ if pos.below > 0 => pos.below += 1,
                name => match self.children.get(&(pos.node, name)).copied() {
                    None => pos.below = 1,
                    Some(child) => match self.link[child] {
                        None => pos.node = child,
                        Some((link_path, _)) => {
                            pos = match self.resolve(child, depth) {
                                Ok(p) => p,
                                Err(e @ (Refusal::Loop | Refusal::TooDeep)) => return Err(e),
                                Err(_) => {
                                    return Err(Refusal::Through {
                                        via: link_path.to_string(),
                                    });
                                }
                            };
                            via = Some(link_path);
                        }
                    },
                },
            }
        }
        Ok(pos)
    }
}

/// One entry a snapshot's links make hostile: its path, why (a clause that follows
/// "the symlink" or "the entry"), and whether it is a link itself.
struct Problem {
    path: String,
    why: String,
    is_link: bool,
}

fn problems(snapshot: &Snapshot) -> Vec<Problem> {
    let mut r = Resolver::new();
    let mut links = Vec::new();
    for (path, e) in snapshot {
        if e.mode == Mode::Link {
            r.insert(path, e.target.as_deref().unwrap_or_default());
            links.push(path.as_str());
        }
    }
    if links.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut below_links = std::collections::HashSet::new();
    for path in snapshot.keys() {
        if let Some(above) = r.link_above(path) {
            below_links.insert(path.as_str());
            out.push(Problem {
                path: path.clone(),
                why: format!("lies below the symlink `{above}`"),
                is_link: snapshot[path].mode == Mode::Link,
            });
        }
    }
    for path in links {
        if below_links.contains(path) {
            continue;
        }
        let mut node = 0;
        for part in path.split('/') {
            node = r.children[&(node, part)];
        }
        if let Err(e) = r.resolve(node, 0) {
            out.push(Problem {
                path: path.to_string(),
                why: e.why(),
                is_link: true,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Every entry of `snapshot` that the set of its symlinks makes hostile: links that,
/// resolved through the snapshot's other links, leave the work tree, loop or nest too
/// deep (or fail [`super::check_link_target`]), and entries lying below a symlink.
/// Sorted by path; empty for a snapshot without links, at no cost.
pub fn link_problems(snapshot: &Snapshot) -> Vec<HostileEntry> {
    problems(snapshot)
        .into_iter()
        .map(|p| {
            let why = match snapshot[&p.path].target.as_deref() {
                Some(t) if p.is_link => format!("symlink {} (`{t}`)", p.why),
                _ => p.why,
            };
            HostileEntry { path: p.path, why }
        })
        .collect()
}

/// Refuses `snapshot` if its symlinks, taken together, would let a path leave the work
/// tree (see [`link_problems`]): a link with [`StoreError::HostileLink`], an entry below
/// a link with [`StoreError::HostilePath`]. Called before a tree is written and before
/// a mix of revisions is materialised.
pub fn check_snapshot_links(snapshot: &Snapshot) -> Result<()> {
    let Some(p) = problems(snapshot).into_iter().next() else {
        return Ok(());
    };
    Err(if p.is_link {
        StoreError::HostileLink {
            target: snapshot[&p.path].target.clone().unwrap_or_default(),
            path: p.path,
            why: p.why,
        }
    } else {
        StoreError::HostilePath {
            path: p.path,
            why: p.why,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Hash;
    use crate::snapshot::FileEntry;

    fn snap(entries: &[(&str, Option<&str>)]) -> Snapshot {
        entries
            .iter()
            .map(|(p, t)| {
                let e = match t {
                    Some(t) => FileEntry {
                        mode: Mode::Link,
                        size: t.len() as u64,
                        hash: Hash::of(t.as_bytes()),
                        manifest: None,
                        target: Some(t.to_string()),
                    },
                    None => FileEntry {
                        mode: Mode::File,
                        size: 1,
                        hash: Hash::of(b"x"),
                        manifest: None,
                        target: None,
                    },
                };
                (p.to_string(), e)
            })
            .collect()
    }

    fn refused(s: &Snapshot) -> Vec<String> {
        link_problems(s).into_iter().map(|h| h.path).collect()
    }

    #[test]
    fn the_chain_from_issue_21_is_refused() {
        // Each passes the text check alone.
        let up = "../../../../../../../..";
        let leak = "a/b/c/d/e/f/g/h/up/../../../etc/passwd";
        assert!(check_link_target("a/b/c/d/e/f/g/h/up", up).is_none());
        assert!(check_link_target("leak", leak).is_none());
        let s = snap(&[("a/b/c/d/e/f/g/h/up", Some(up)), ("leak", Some(leak))]);
        let problems = link_problems(&s);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, "leak");
        assert!(
            problems[0].why.contains("a/b/c/d/e/f/g/h/up"),
            "{:?}",
            problems[0]
        );
        assert!(matches!(
            check_snapshot_links(&s),
            Err(StoreError::HostileLink { ref path, .. }) if path == "leak"
        ));
        // Without the `up` link, `leak` is lexical and stays inside.
        let alone = snap(&[("leak", Some(leak))]);
        assert!(link_problems(&alone).is_empty());
        assert!(check_snapshot_links(&alone).is_ok());
    }

    #[test]
    fn links_through_links_that_stay_inside_are_fine() {
        let s = snap(&[
            ("v2/data.csv", None),
            ("current", Some("v2")),
            ("latest.csv", Some("current/data.csv")),
            ("deep/x/back", Some("../../current/../v2")),
            ("deep/x/self", Some(".")),
            ("deep/root", Some("..")),
            ("deep/via-root", Some("root/current/data.csv")),
        ]);
        assert!(link_problems(&s).is_empty(), "{:?}", link_problems(&s));
    }

    #[test]
    fn dotdot_after_a_link_is_taken_from_its_target() {
        // `d/l → ../x/y` lands in x/y; `l/../..` from there is the root, not above it.
        let s = snap(&[("d/l", Some("../x/y")), ("m", Some("d/l/../.."))]);
        assert!(link_problems(&s).is_empty(), "{:?}", link_problems(&s));
        // With `d/l → ../x`, `d/l/../..` leaves, although the text alone looks inside.
        let s = snap(&[("d/l", Some("../x")), ("m", Some("d/l/../../d"))]);
        assert_eq!(refused(&s), ["m"]);
        assert!(check_link_target("m", "d/l/../../d").is_none());
    }

    #[test]
    fn loops_deep_chains_and_entries_below_links_are_refused() {
        let s = snap(&[("a", Some("b")), ("b", Some("a")), ("c", Some("a/x"))]);
        assert_eq!(refused(&s), ["a", "b", "c"]);
        let mut chain: Vec<(String, Option<String>)> = (0..MAX_LINK_HOPS + 5)
            .map(|i| (format!("l{i}"), Some(format!("l{}", i + 1))))
            .collect();
        chain.push((format!("l{}", MAX_LINK_HOPS + 5), None));
        let entries: Vec<(&str, Option<&str>)> = chain
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_deref()))
            .collect();
        assert!(!refused(&snap(&entries)).is_empty());
        let short: Vec<(&str, Option<&str>)> = entries[entries.len() - 10..].to_vec();
        assert!(refused(&snap(&short)).is_empty());
        let s = snap(&[("a", Some("real")), ("a/x", None), ("real/y", None)]);
        let p = link_problems(&s);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, "a/x");
        assert!(matches!(
            check_snapshot_links(&s),
            Err(StoreError::HostilePath { .. })
        ));
    }

    #[test]
    fn text_refusals_still_apply_and_taint_links_through_them() {
        let s = snap(&[("abs", Some("/etc")), ("via", Some("abs/passwd"))]);
        assert_eq!(refused(&s), ["abs", "via"]);
        let s = snap(&[("c", Some(".colony/config.toml"))]);
        assert_eq!(refused(&s), ["c"]);
    }

    #[test]
    fn a_long_chain_of_links_is_resolved_in_linear_work() {
        // 20 000 links, each through the next (twice): every link is resolved once and
        // then remembered, and the hop limit refuses the chain.
        let n = 20_000;
        let entries: Vec<(String, Option<String>)> = (0..n)
            .map(|i| {
                (
                    format!("d/l{i}"),
                    Some(if i + 1 < n {
                        format!("l{}/../l{}", i + 1, i + 1)
                    } else {
                        "..".to_string()
                    }),
                )
            })
            .collect();
        let refs: Vec<(&str, Option<&str>)> = entries
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_deref()))
            .collect();
        assert!(!refused(&snap(&refs)).is_empty());
    }
}
