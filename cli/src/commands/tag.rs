use colony_store::ops::refs::RefKind;

use crate::{CliError, Ctx};

/// List tags, create one at a revision, or delete one.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tag to create (omit to list).
    pub name: Option<String>,
    /// What it names (default: HEAD).
    pub rev: Option<String>,
    /// Delete the tag instead.
    #[arg(short, long, requires = "name")]
    pub delete: bool,
    /// Move an existing tag.
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    super::branch::refs(
        ctx,
        RefKind::Tag,
        args.name,
        args.rev,
        args.delete,
        args.force,
    )
}
