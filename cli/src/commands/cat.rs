use std::io::Write;

use colony_store::Access;

use crate::{CliError, Ctx};

/// Stream one file of a revision to stdout.
///
/// Every chunk is verified against its BLAKE3 before it is written: `colony cat REV:PATH`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `REV:PATH`, e.g. `HEAD~1:data/train.parquet`.
    pub spec: String,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let (rev, path) = args.spec.split_once(':').ok_or_else(|| {
        CliError::new(format!("`{}` is not REV:PATH", args.spec))
            .hint("e.g. colony cat HEAD:data/a.csv")
    })?;
    let repo = ctx.open(Access::Read)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    repo.cat(if rev.is_empty() { "HEAD" } else { rev }, path, &mut out)?;
    out.flush()?;
    Ok(0)
}
