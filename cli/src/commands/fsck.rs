use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Check every shard, chunk, manifest, pointer and ref.
///
/// Shards are checked whole (BLAKE3 of the file) and record by record; commits' roots are
/// recomputed from their pointers. Each damaged object is named with the files and commits
/// it affects. Exits 1 on any error; `--json` prints `{"ok": bool, "errors": [...]}`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(ctx: &Ctx, _args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Read)?;
    let r = repo.fsck()?;
    if ctx.json {
        output::json(&r);
    } else {
        for w in &r.warnings {
            eprintln!("warning: {w}");
        }
        for e in &r.errors {
            eprintln!("error: {}: {}", e.object, e.problem);
            for f in &e.files {
                eprintln!("  affects file {f}");
            }
            for c in &e.commits {
                eprintln!("  in commit {c}");
            }
        }
        if !ctx.quiet {
            println!(
                "{}: {} shards, {} records, {} commits checked, {} errors",
                if r.ok { "ok" } else { "DAMAGED" },
                r.shards,
                r.records,
                r.commits,
                r.errors.len()
            );
        }
    }
    Ok(if r.ok { 0 } else { 1 })
}
