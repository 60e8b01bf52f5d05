use colony_store::Access;
use colony_store::ops::remote::RemoteUrl;

use crate::{CliError, Ctx, output};

/// Manage remotes: other copies of the dataset to fetch from and push to.
///
/// Without a subcommand, lists them. A remote is another dataset on this machine (a
/// path, for instance a fork in another folder), a peer over iroh (the ticket `colony
/// serve` prints) or an S3-compatible object store (`s3://BUCKET/PREFIX`). `colony fetch
/// NAME` brings its branches to `refs/remotes/NAME/BRANCH`, to merge with `colony merge
/// NAME/BRANCH`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
}

/// What to do with remotes.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Add a remote NAME at URL.
    Add {
        /// Its name (letters, digits, `-`, `_`).
        name: String,
        /// A dataset's folder, a peer ticket, or s3://BUCKET/PREFIX.
        url: String,
    },
    /// List the remotes.
    List,
    /// Remove a remote and its remote-tracking refs.
    Remove {
        /// Its name.
        name: String,
    },
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    match args.action.unwrap_or(Action::List) {
        Action::List => {
            let repo = ctx.open(Access::Read)?;
            let remotes = repo.remotes();
            if ctx.json {
                output::json(&remotes);
            } else {
                for r in remotes {
                    println!("{:<16} {}", r.name, r.url);
                }
            }
        }
        Action::Add { name, url } => {
            let mut repo = ctx.open(Access::Write)?;
            let r = repo.add_remote(&name, &RemoteUrl::parse(&url, &ctx.cwd)?)?;
            if ctx.json {
                output::json(&r);
            } else if !ctx.quiet {
                println!("added remote {} → {}", r.name, r.url);
            }
        }
        Action::Remove { name } => {
            let mut repo = ctx.open(Access::Write)?;
            repo.remove_remote(&name)?;
            if ctx.json {
                output::json(&serde_json::json!({ "removed": name }));
            } else if !ctx.quiet {
                println!("removed remote {name}");
            }
        }
    }
    Ok(0)
}
