use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Show a commit: its metadata, snapshot root, and every file with its BLAKE3 and size.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The revision (default: HEAD).
    #[arg(default_value = "HEAD")]
    pub rev: String,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Read)?;
    let r = repo.show(&args.rev)?;
    if ctx.json {
        output::json(&r);
        return Ok(0);
    }
    println!("commit {}", r.info.commit);
    println!("Author: {} <{}>", r.info.author, r.info.email);
    println!("Date:   {}", output::time(r.info.time));
    if let Some(root) = &r.info.root {
        println!("Root:   {root}");
    }
    println!();
    for line in r.info.message.lines() {
        println!("    {line}");
    }
    println!();
    for f in &r.files {
        println!("{}  {:>12}  {}", f.hash, f.size, f.path);
    }
    println!("{} files, {}", r.files.len(), output::bytes(r.bytes));
    Ok(0)
}
