use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Print this dataset's node id (the key `colony serve` runs as).
///
/// The id is the public half of `.colony/node.key`, made on first use and kept, so it
/// stays the same across runs. Give it to a peer's owner so that they can let this
/// node push or pin (`colony serve --allow NODE_ID`).
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(ctx: &Ctx, _args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Read)?;
    let id = colony_store::peer::node_id(repo.colony_dir())?.to_string();
    if ctx.json {
        output::json(&serde_json::json!({ "node_id": id }));
    } else {
        println!("{id}");
    }
    Ok(0)
}
