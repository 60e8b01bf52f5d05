use std::path::PathBuf;

use colony_store::ops::clone::{CloneOptions, default_clone_dir};
use colony_store::ops::remote::RemoteUrl;

use crate::{CliError, Ctx, output};

/// Clone a dataset from a remote into a new folder.
///
/// URL is another dataset's folder, `s3://BUCKET/PREFIX` or a peer ticket (as `colony
/// serve` prints it). The new dataset gets a remote `origin` at URL, every branch of it
/// as `origin/BRANCH`, and BRANCH (default: the remote's default branch, else `main`,
/// else its first branch) checked out. Every shard is verified against its BLAKE3 name
/// before it is stored.
///
/// With `--paths GLOB` the clone is sparse: only the shards that the matching files of
/// the checked-out commit need are fetched (from a dataset folder or a peer; an S3
/// remote cannot tell, so every shard comes and the output says so), and only those
/// files are written. The other files stay in the history and in every commit made
/// here, but not in the work tree; `status` does not call them removed. `checkout REV
/// -- PATH` adds PATH to the work tree once its shards are here: `colony fetch origin`
/// brings the rest (until then, checking those files out fails and says so, while `colony
/// cat` fetches the shards one file needs from the remotes, verified, and keeps them).
///
/// DIR must not exist or be empty. A clone that fails removes what it created; a clone
/// killed halfway (kill -9, power loss) leaves DIR with `.colony/cloning`, and running the
/// same command again resumes it without fetching again what already arrived.
///
/// With `--from-chain ID --registry ADDR`, the source is the head dataset ID's DAO
/// anchored in that `DatasetRegistry` (on `--rpc-url`, default the local devnet): the
/// data is fetched from the locator the chain records, the anchored commit is checked out,
/// and the clone is refused (and removed) unless the snapshot root recomputed from the
/// fetched bytes equals the anchored root. The clone's config then names the dataset's
/// DAO, so `colony dao verify` and `colony dao vote` work in it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to clone from: a folder, s3://BUCKET/PREFIX or a peer ticket (with
    /// --from-chain: the folder to clone into).
    #[arg(required_unless_present = "from_chain")]
    pub url: Option<String>,
    /// Where to create the clone (default: the URL's last component).
    pub dir: Option<PathBuf>,
    /// The branch to check out.
    #[arg(long, short, conflicts_with = "rev")]
    pub branch: Option<String>,
    /// The revision to check out instead: a branch, a peer's pin, or a full commit id
    /// the remote holds (HEAD is detached unless it is a branch).
    #[arg(long)]
    pub rev: Option<String>,
    /// Fetch and check out only the files matching GLOB (`*` within a path component,
    /// `**` across; a folder means everything under it).
    #[arg(long, value_name = "GLOB", conflicts_with = "from_chain")]
    pub paths: Option<String>,
    /// Do not check out a work tree (history and shards only).
    #[arg(long)]
    pub no_checkout: bool,
    /// Clone the head anchored on chain for this dataset id (the positional argument is
    /// then DIR).
    #[arg(long, value_name = "DATASET_ID", requires = "registry")]
    pub from_chain: Option<u64>,
    /// The DatasetRegistry to read the head from (with --from-chain).
    #[arg(long, value_name = "ADDR")]
    pub registry: Option<String>,
    /// JSON-RPC endpoint (with --from-chain; default the local devnet).
    #[arg(long, value_name = "URL")]
    pub rpc_url: Option<String>,
    /// Chain id the endpoint must serve (with --from-chain; default 31337).
    #[arg(long, value_name = "ID")]
    pub chain_id: Option<u64>,
}

fn from_chain(ctx: &Ctx, id: u64, args: Args) -> Result<i32, CliError> {
    let dir = match args.dir.or(args.url.map(PathBuf::from)) {
        Some(d) => ctx.cwd.join(d),
        None => {
            return Err(colony_store::StoreError::Refused(
                "name the folder to clone into: colony clone --from-chain ID DIR".into(),
            )
            .into());
        }
    };
    let mut opts = CloneOptions {
        branch: args.branch,
        ..Default::default()
    };
    if !ctx.quiet && !ctx.json {
        opts.progress = std::sync::Arc::new(crate::progress::Bars::new());
    }
    let r = super::dao::from_chain::clone_from_chain(
        ctx,
        id,
        args.registry.as_deref().unwrap_or_default(),
        args.rpc_url.as_deref(),
        args.chain_id,
        &dir,
        &opts,
    )?;
    if ctx.json {
        output::json(&r);
    } else if !ctx.quiet {
        println!(
            "Cloned dataset {} from {} into {}",
            r.dataset_id, r.locator, r.clone.path
        );
        println!(
            "  anchored commit {} checked out; its bytes give the anchored root {}",
            output::short(&r.anchored_commit),
            r.root
        );
    }
    Ok(0)
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    if let Some(id) = args.from_chain {
        return from_chain(ctx, id, args);
    }
    let url = RemoteUrl::parse(args.url.as_deref().unwrap_or_default(), &ctx.cwd)?;
    let dir = match args.dir.or_else(|| default_clone_dir(&url)) {
        Some(d) => ctx.cwd.join(d),
        None => {
            return Err(colony_store::StoreError::Refused(
                "name the folder to clone into: colony clone URL DIR".into(),
            )
            .into());
        }
    };
    let mut opts = CloneOptions {
        branch: args.branch,
        rev: args.rev,
        paths: args.paths,
        no_checkout: args.no_checkout,
        ..Default::default()
    };
    if !ctx.quiet && !ctx.json {
        opts.progress = std::sync::Arc::new(crate::progress::Bars::new());
    }
    let r = colony_store::Repo::clone_from(&url, &dir, &opts)?;
    if ctx.json {
        output::json(&r);
    } else if !ctx.quiet {
        println!(
            "{} {} into {}",
            if r.resumed {
                "Resumed cloning"
            } else {
                "Cloned"
            },
            r.url,
            r.path
        );
        println!(
            "  {} objects and {} shards ({}, {} sent); {}",
            r.fetch.objects,
            r.fetch.shards,
            output::bytes(r.fetch.bytes),
            output::bytes(r.fetch.moved),
            match (&r.branch, &r.commit) {
                (Some(b), Some(c)) =>
                    format!("on {b} at {} ({} files)", output::short(c), r.checked_out),
                (None, Some(c)) => format!(
                    "HEAD detached at {} ({} files)",
                    output::short(c),
                    r.checked_out
                ),
                _ => "the remote has no branches yet".into(),
            }
        );
        if let Some(glob) = &r.paths {
            println!(
                "  sparse: only `{glob}` is checked out; {} other files are in the history but not in the work tree{}",
                r.outside_paths,
                if r.all_shards {
                    " (this remote cannot tell which shards they need, so every shard was fetched)"
                } else {
                    "; `colony fetch origin` brings their shards"
                }
            );
        }
    }
    Ok(0)
}
