use colony_store::Access;
use colony_store::ops::refs::RefKind;

use crate::{CliError, Ctx, output};

/// List branches, create one at a revision, or delete one.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Branch to create (omit to list).
    pub name: Option<String>,
    /// Where it starts (default: HEAD).
    pub rev: Option<String>,
    /// Delete the branch instead.
    #[arg(short, long, requires = "name")]
    pub delete: bool,
    /// Move an existing branch.
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    refs(
        ctx,
        RefKind::Branch,
        args.name,
        args.rev,
        args.delete,
        args.force,
    )
}

/// Shared by `branch` and `tag`.
pub fn refs(
    ctx: &Ctx,
    kind: RefKind,
    name: Option<String>,
    rev: Option<String>,
    delete: bool,
    force: bool,
) -> Result<i32, CliError> {
    let access = if name.is_some() {
        Access::Write
    } else {
        Access::Read
    };
    let repo = ctx.open(access)?;
    match name {
        None => {
            let list = repo.list_refs(kind)?;
            if ctx.json {
                output::json(&list);
            } else {
                for r in list {
                    println!(
                        "{} {:<24} {}",
                        if r.current { "*" } else { " " },
                        r.name,
                        output::short(&r.commit)
                    );
                }
            }
        }
        Some(n) if delete => {
            repo.delete_ref(kind, &n)?;
            if ctx.json {
                output::json(&serde_json::json!({ "deleted": n }));
            } else if !ctx.quiet {
                println!("deleted {n}");
            }
        }
        Some(n) => {
            let r = repo.create_ref(kind, &n, rev.as_deref(), force)?;
            if ctx.json {
                output::json(&r);
            } else if !ctx.quiet {
                println!("{} -> {}", r.name, output::short(&r.commit));
            }
        }
    }
    Ok(0)
}
