use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Show the chain of forks from this dataset back to its origin.
///
/// Each step names the parent dataset (id, name, path when forked) and the commit and
/// snapshot root it was forked at. The chain is recorded in `.colony/config.toml`, so it
/// reads back even when the ancestors have moved or are gone.
///
/// With --dao, also the lineage the DAO registry records on chain (`colony fork --dao`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also read the lineage recorded on chain for the dataset's `[dao]` deployment.
    #[arg(long)]
    pub dao: bool,
    /// Chain options (with --dao).
    #[command(flatten)]
    pub chain: super::dao::ChainArgs,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Read)?;
    let r = repo.lineage()?;
    drop(repo);
    let on_chain = if args.dao {
        Some(super::dao::onchain::lineage(ctx, &args.chain)?)
    } else {
        None
    };
    if ctx.json {
        match &on_chain {
            Some(c) => output::json(&super::dao::onchain::lineage_json(&r, c)),
            None => output::json(&r),
        }
        return Ok(0);
    }
    let label = |id: &str, name: &Option<String>| match name {
        Some(n) => format!("{n} ({id})"),
        None => id.to_string(),
    };
    println!("{}  {}", label(&r.id, &r.name), r.path);
    for a in &r.parents {
        println!(
            "  forked from {}  {}\n    at {} root {}",
            label(&a.id, &a.name),
            a.path,
            a.fork_commit
                .as_deref()
                .map_or("(no commit)", output::short),
            a.fork_root.map_or_else(|| "-".to_string(), |h| h.to_hex()),
        );
    }
    if r.parents.is_empty() {
        println!("  (an origin: not forked from another dataset)");
    }
    if let Some(c) = &on_chain {
        super::dao::onchain::print_lineage(c);
    }
    Ok(0)
}
