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
/// DIR must not exist or be empty. A clone that fails removes what it created; a clone
/// killed halfway (kill -9, power loss) leaves DIR with `.colony/cloning`, and running the
/// same command again resumes it without fetching again what already arrived.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to clone from: a folder, s3://BUCKET/PREFIX or a peer ticket.
    pub url: String,
    /// Where to create the clone (default: the URL's last component).
    pub dir: Option<PathBuf>,
    /// The branch to check out.
    #[arg(long, short)]
    pub branch: Option<String>,
    /// Do not check out a work tree (history and shards only).
    #[arg(long)]
    pub no_checkout: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let url = RemoteUrl::parse(&args.url, &ctx.cwd)?;
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
            "  {} objects and {} shards ({}); {}",
            r.fetch.objects,
            r.fetch.shards,
            output::bytes(r.fetch.bytes),
            match (&r.branch, &r.commit) {
                (Some(b), Some(c)) =>
                    format!("on {b} at {} ({} files)", output::short(c), r.checked_out),
                _ => "the remote has no branches yet".into(),
            }
        );
    }
    Ok(0)
}
