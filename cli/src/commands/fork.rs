use std::path::PathBuf;

use colony_store::{Access, Repo};

use crate::{CliError, Ctx, output};

/// Fork a dataset: a new dataset in DST that shares history and chunks with SRC.
///
/// Nothing is stored twice on one disk: shard files and history objects are hard-linked
/// (reflinked, or as a last resort copied, across file systems); the chunk index is
/// copied. The fork gets a dataset id of its own and records its lineage (the parent's
/// id, path, fork-point commit and snapshot root; see `colony lineage`), starts on
/// SRC's branch, has a remote `parent` pointing at SRC, and its work tree checked out.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset to fork (a folder inside it will do).
    pub src: PathBuf,
    /// Where to create the fork (must not exist, or be empty).
    pub dst: PathBuf,
    /// A name for the new dataset, recorded in its config and lineage.
    #[arg(long)]
    pub name: Option<String>,
    /// Do not check out the work tree (history and chunks only).
    #[arg(long)]
    pub no_checkout: bool,
    /// Also register the fork on chain with its parent and fork point and a governance of
    /// its own (its tokens go to you), recorded in the fork's `[dao]` (see `colony dao`).
    #[arg(long)]
    pub dao: bool,
    /// On-chain options (with --dao).
    #[command(flatten)]
    pub dao_opts: super::dao::onchain::ForkDaoArgs,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let mut src = Repo::discover(&ctx.cwd.join(&args.src), Access::Write, &|holder| {
        if !ctx.quiet && !ctx.json {
            eprintln!("waiting for another colony process to finish ({holder}) …");
        }
    })?;
    // With --dao, the parent's DAO and chain are checked before anything is forked.
    let plan = if args.dao {
        Some(super::dao::onchain::prepare(&src, &args.dao_opts)?)
    } else {
        None
    };
    let r = src.fork(
        &ctx.cwd.join(&args.dst),
        args.name.as_deref(),
        !args.no_checkout,
    )?;
    let dao = plan
        .map(|p| super::dao::onchain::register(p, &r))
        .transpose()?;
    if ctx.json {
        output::json(&super::dao::onchain::fork_json(&r, dao.as_ref()));
    } else if !ctx.quiet {
        println!(
            "Forked {} into {} (dataset {})",
            r.parent.path, r.path, r.id
        );
        println!(
            "  shards: {} linked, {} cloned, {} copied ({} shared, {} copied); {} history files; {} files checked out",
            r.shards_linked,
            r.shards_cloned,
            r.shards_copied,
            output::bytes(r.bytes_shared),
            output::bytes(r.bytes_copied),
            r.history_files,
            r.checked_out
        );
    }
    if let Some(d) = &dao
        && !ctx.json
        && !ctx.quiet
    {
        super::dao::onchain::print_fork(d);
    }
    Ok(0)
}
