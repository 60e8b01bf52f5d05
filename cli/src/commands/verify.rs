use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Recompute a revision's snapshot root from the stored bytes.
///
/// Compares it with the root the commit records. Reads every byte; exits 1 unless all of them check out.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The revision (default: HEAD).
    pub rev: Option<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Read)?;
    let r = repo.verify(args.rev.as_deref())?;
    if ctx.json {
        output::json(&r);
    } else {
        for p in &r.problems {
            eprintln!("error: {p}");
        }
        let recorded = r
            .recorded_root
            .map_or_else(|| "none".into(), |h| h.to_string());
        if r.ok {
            if !ctx.quiet {
                println!(
                    "ok {} root {} ({} files, {})",
                    output::short(&r.commit),
                    r.computed_root,
                    r.files,
                    output::bytes(r.bytes)
                );
            }
        } else {
            eprintln!(
                "verification FAILED for {}: recorded root {recorded}, bytes give {}",
                r.commit, r.computed_root
            );
        }
    }
    Ok(if r.ok { 0 } else { 1 })
}
