use std::io::Write;

use colony_store::{Access, SnapshotReader};

use crate::{CliError, Ctx};

/// Stream one file of a revision to stdout.
///
/// Every chunk is verified against its BLAKE3 before it is written, and the whole file
/// against the hash its revision records: `colony cat REV:PATH`. Memory stays bounded
/// whatever the file's size. In a sparse clone, a file outside the clone's paths is first
/// fetched from the dataset's remotes (its shards, verified, then kept here).
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
    // Only to find the dataset: the reader takes the store's lock when it needs it (and
    // read-through needs it exclusively), so the handle must not stay open.
    let root = ctx.open(Access::Read)?.root().to_path_buf();
    let reader = SnapshotReader::open(&root, if rev.is_empty() { "HEAD" } else { rev })?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    reader.write_to(path, &mut out)?;
    out.flush()?;
    Ok(0)
}
