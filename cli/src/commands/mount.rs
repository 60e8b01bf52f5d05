use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use colony_mount::{Mount, MountOptions};
use colony_store::{Access, ReaderOptions};

use crate::{CliError, Ctx};

/// Mount a revision read-only at an empty folder (FUSE), until Ctrl-C.
///
/// Any program reads the revision there with plain `open`, `read` and `mmap`, without a
/// copy: folders, files (with their executable bit) and symlinks appear as REV holds
/// them. Every byte is verified against its BLAKE3 before a program sees it; a damaged
/// chunk makes that read fail with EIO, and colony prints which file and shard it was.
/// Nothing can be written.
///
/// Stays in the foreground until Ctrl-C (or SIGTERM), then unmounts; `colony unmount DIR`
/// from another terminal ends it too. While mounted the revision is kept from `gc`, and
/// the dataset stays usable (the store is not locked). With `--json`, one line of JSON
/// (`mounted`, `revision`, `commit`, `root`, `files`) is printed once the mount is ready,
/// and one (`unmounted`) when it is gone.
///
/// Needs FUSE: /dev/fuse, and root (or the `fusermount3` helper of the fuse3 package).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The revision: a branch, tag, pin, commit id or snapshot root.
    pub rev: String,
    /// An empty folder to mount on.
    pub dir: PathBuf,
    /// Let other users read the mount too (FUSE's `allow_other`).
    #[arg(long)]
    pub allow_other: bool,
    /// Memory for verified, decompressed chunks, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub cache_mib: u64,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let root = ctx.open(Access::Read)?.root().to_path_buf();
    let dir = ctx.cwd.join(&args.dir);
    // Registered before mounting, so a Ctrl-C at any time ends in a clean unmount.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| CliError::new(format!("could not handle signals: {e}")))?;
    }
    let opts = MountOptions {
        reader: ReaderOptions {
            cache_bytes: args.cache_mib.max(8) << 20,
            readahead_bytes: 16 << 20,
            ..ReaderOptions::default()
        },
        allow_other: args.allow_other,
        ..MountOptions::default()
    };
    let mount = Mount::start(&root, &args.rev, &dir, opts)?;
    let shown = dir.display().to_string();
    {
        let r = mount.reader();
        let mut out = std::io::stdout().lock();
        if ctx.json {
            let v = serde_json::json!({
                "mounted": shown,
                "revision": r.revision(),
                "commit": r.commit().to_string(),
                "root": r.root().to_string(),
                "files": r.files().len(),
            });
            let _ = writeln!(out, "{v}");
        } else if !ctx.quiet {
            let _ = writeln!(
                out,
                "mounted {} ({}) read-only at {shown}",
                r.revision(),
                crate::output::short(&r.commit().to_string())
            );
            let _ = writeln!(
                out,
                "press Ctrl-C or run `colony unmount {shown}` to unmount"
            );
        }
        let _ = out.flush();
    }
    while !stop.load(Ordering::Relaxed) && mount.is_serving() {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Programs still reading it keep their open files; the folder is free at once.
    mount.detach()?;
    // Whoever started the mount may have stopped listening (a closed pipe): the unmount
    // has happened all the same, so that is no failure.
    let mut out = std::io::stdout().lock();
    if ctx.json {
        let _ = writeln!(out, "{}", serde_json::json!({ "unmounted": shown }));
    } else if !ctx.quiet {
        let _ = writeln!(out, "unmounted {shown}");
    }
    Ok(0)
}
