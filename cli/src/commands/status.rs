use colony_store::Access;
use colony_store::ops::status::{Change, ChangeKind};

use crate::{CliError, Ctx, output};

/// Show staged, unstaged and untracked changes.
///
/// Staged: what the next commit will record. Unstaged: what changed in the work tree
/// since. Untracked: files colony does not track. Only files whose size, mtime or inode
/// changed are read.
#[derive(Debug, clap::Args)]
pub struct Args {}

fn word(c: &Change) -> &'static str {
    match c.change {
        ChangeKind::Added => "added:   ",
        ChangeKind::Modified => "modified:",
        ChangeKind::Removed => "removed: ",
    }
}

pub fn run(ctx: &Ctx, _args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Read)?;
    let r = repo.status()?;
    if ctx.json {
        output::json(&r);
        return Ok(0);
    }
    match (&r.branch, &r.head) {
        (Some(b), _) => println!("On branch {b}"),
        (None, Some(h)) => println!("HEAD detached at {}", output::short(h)),
        _ => {}
    }
    if r.head.is_none() {
        println!("No commits yet");
    }
    if let Some(p) = &r.sparse {
        println!(
            "Sparse work tree: only `{}` (`colony checkout REV -- PATH` adds a path)",
            p.join("`, `")
        );
    }
    if !r.staged.is_empty() {
        println!("\nChanges to be committed:");
        for c in &r.staged {
            println!("  {} {}", word(c), c.path);
        }
    }
    if !r.unstaged.is_empty() {
        println!("\nChanges not staged for commit (use `colony add`):");
        for c in &r.unstaged {
            println!("  {} {}", word(c), c.path);
        }
    }
    if !r.untracked.is_empty() {
        println!("\nUntracked files (use `colony add`):");
        for p in &r.untracked {
            println!("  {p}");
        }
    }
    if let Some(m) = &r.merging {
        println!(
            "\nMerging {} (`colony merge --continue` / `--abort`)",
            output::short(m)
        );
        if !r.conflicts.is_empty() {
            println!("Unmerged paths (`colony conflicts PATH`, `colony resolve PATH`):");
            for p in &r.conflicts {
                println!("  conflict: {p}");
            }
        }
    }
    if r.is_clean() {
        println!("nothing to commit, working tree clean");
    }
    Ok(0)
}
