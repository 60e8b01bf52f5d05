use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Compare two revisions, or a revision and the work tree.
///
/// Without arguments, HEAD against the work tree. Lists files added,
/// removed, modified (with sizes) and renamed (same content, new path).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The old side (default: HEAD).
    pub from: Option<String>,
    /// The new side (default: the work tree).
    pub to: Option<String>,
    /// Only a count per kind of change.
    #[arg(long)]
    pub stat: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Read)?;
    let from = args.from.as_deref().unwrap_or("HEAD");
    let r = repo.diff(from, args.to.as_deref())?;
    if ctx.json {
        output::json(&r);
        return Ok(0);
    }
    if !args.stat {
        for a in &r.added {
            println!("A  {:>12}  {}", a.size, a.path);
        }
        for d in &r.removed {
            println!("D  {:>12}  {}", d.size, d.path);
        }
        for m in &r.modified {
            println!("M  {:>12} -> {:<12}  {}", m.old_size, m.new_size, m.path);
        }
        for m in &r.renamed {
            println!("R  {:>12}  {} -> {}", m.size, m.from, m.to);
        }
    }
    println!(
        "{} added, {} removed, {} modified, {} renamed; {:+} bytes",
        r.added.len(),
        r.removed.len(),
        r.modified.len(),
        r.renamed.len(),
        r.bytes_delta
    );
    let _ = output::short;
    Ok(0)
}
