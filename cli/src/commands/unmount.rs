use std::path::PathBuf;

use crate::{CliError, Ctx};

/// Unmount a folder that `colony mount` serves.
///
/// Works from any terminal: the `colony mount` process serving DIR sees the mount end and
/// exits. Refused while a program still has files of it open, unless `--lazy` is given:
/// then the folder is freed at once and those programs keep reading until they close
/// their files. With `--json`, prints `{"unmounted": DIR}`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The mount point.
    pub dir: PathBuf,
    /// Detach now even if programs still have files of it open.
    #[arg(long)]
    pub lazy: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let dir = ctx.cwd.join(&args.dir);
    if args.lazy {
        colony_mount::detach(&dir)?;
    } else {
        colony_mount::unmount(&dir)?;
    }
    let shown = dir.display().to_string();
    if ctx.json {
        println!("{}", serde_json::json!({ "unmounted": shown }));
    } else if !ctx.quiet {
        println!("unmounted {shown}");
    }
    Ok(0)
}
