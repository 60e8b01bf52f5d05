use std::path::PathBuf;

use colony_store::{InitOptions, Repo};

use crate::{CliError, Ctx, output};

/// Create a dataset: a `.colony/` folder holding history, shards, index and config.
///
/// The folder may already contain files; nothing is tracked until `colony add`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to create it (default: the current directory).
    pub dir: Option<PathBuf>,
    /// Name of the first branch.
    #[arg(long, short = 'b', default_value = "main")]
    pub branch: String,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let dir = args
        .dir
        .map_or_else(|| ctx.cwd.clone(), |d| ctx.cwd.join(d));
    let repo = Repo::init(
        &dir,
        &InitOptions {
            branch: args.branch.clone(),
        },
    )?;
    if ctx.json {
        output::json(&serde_json::json!({ "root": repo.root(), "branch": args.branch }));
    } else if !ctx.quiet {
        println!(
            "Initialised empty colony dataset in {}",
            repo.colony_dir().display()
        );
    }
    Ok(0)
}
