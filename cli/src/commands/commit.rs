use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Record the staged snapshot as a commit.
///
/// Shards and history objects are made durable before the branch moves, so a commit that
/// is interrupted leaves the previous one intact. With `--json`, prints `commit`, `root`
/// (the 64-hex BLAKE3 snapshot root), `files`, `bytes` and `new_bytes`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The commit message.
    #[arg(short, long)]
    pub message: String,
    /// Stage every change first (like `colony add .`).
    #[arg(short, long)]
    pub all: bool,
    /// Commit even when nothing changed.
    #[arg(long)]
    pub allow_empty: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Write)?;
    if args.all {
        repo.add(&[String::new()])?;
    }
    let r = repo.commit(&args.message, args.allow_empty)?;
    if ctx.json {
        output::json(&r);
    } else if !ctx.quiet {
        println!(
            "[{} {}] {}\n {} files, {}, {} new; root {}",
            r.branch.as_deref().unwrap_or("detached"),
            output::short(&r.commit),
            args.message.lines().next().unwrap_or_default(),
            r.files,
            output::bytes(r.bytes),
            output::bytes(r.new_bytes),
            r.root
        );
    }
    Ok(0)
}
