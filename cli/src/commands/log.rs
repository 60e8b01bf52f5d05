use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Show the commits reachable from a revision, newest first, with their snapshot roots.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to start (default: HEAD).
    pub rev: Option<String>,
    /// Show at most N commits.
    #[arg(short = 'n', long)]
    pub max_count: Option<usize>,
    /// One line per commit.
    #[arg(long)]
    pub oneline: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Read)?;
    let commits = repo.log(args.rev.as_deref(), args.max_count)?;
    if ctx.json {
        output::json(&commits);
        return Ok(0);
    }
    for c in &commits {
        let subject = c.message.lines().next().unwrap_or_default();
        if args.oneline {
            println!("{} {subject}", output::short(&c.commit));
            continue;
        }
        println!("commit {}", c.commit);
        if c.parents.len() > 1 {
            println!(
                "Merge:  {}",
                c.parents
                    .iter()
                    .map(|p| output::short(p))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        println!("Author: {} <{}>", c.author, c.email);
        println!("Date:   {}", output::time(c.time));
        if let Some(r) = &c.root {
            println!("Root:   {r}");
        }
        println!();
        for line in c.message.lines() {
            println!("    {line}");
        }
        println!();
    }
    Ok(0)
}
