//! A read-only FUSE mount of any revision of a colony dataset.
//!
//! [`Mount::start`] opens the revision with [`SnapshotReader`] and serves it at a folder
//! until [`Mount::unmount`] (or drop). Any program reads it with plain `open`, `read` and
//! `mmap`; every byte goes through the reader, so it is verified against BLAKE3 before the
//! kernel sees it, and a chunk that fails verification makes the read fail with `EIO`
//! (reported through [`MountOptions::on_read_error`], naming the file and the shard)
//! instead of returning wrong bytes. Folders, files (with their executable bit) and
//! symlinks (with their targets) appear as the snapshot holds them; nothing can be
//! written (`EROFS`).
//!
//! The mount uses fuser's own mount code, no libfuse: as root (or with `CAP_SYS_ADMIN`)
//! it calls `mount(2)` directly, otherwise it needs the setuid `fusermount3` helper
//! (Debian's `fuse3` package). Several threads answer the kernel, so concurrent readers
//! do not wait for each other, and the kernel caches pages, attributes and listings
//! (the revision never changes).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use colony_store::StoreError;
use colony_store::snapshot::{ReaderOptions, SnapshotReader};

mod fs;
mod mounts;
mod tree;

pub use mounts::{detach, is_mounted, unmount};

/// A read that failed verification (or could not find its bytes), as reported by
/// [`MountOptions::on_read_error`]. The program that read got `EIO`.
#[derive(Debug)]
pub struct ReadFailure<'a> {
    /// The revision mounted, as given to [`Mount::start`].
    pub revision: &'a str,
    /// The file read.
    pub path: &'a str,
    /// Why (a corrupt chunk names its shard).
    pub error: &'a StoreError,
}

impl std::fmt::Display for ReadFailure<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "reading `{}` of {} failed, the program got EIO: {}",
            self.path, self.revision, self.error
        )
    }
}

/// Where read failures go; called once per file, from the mount's threads.
pub type ReportFn = Arc<dyn Fn(&ReadFailure<'_>) + Send + Sync>;

/// Settings of a [`Mount`].
#[derive(Clone)]
pub struct MountOptions {
    /// The reader's cache, readahead and read-through settings.
    pub reader: ReaderOptions,
    /// Threads answering the kernel (default 4; at least 1).
    pub threads: usize,
    /// Kernel readahead on sequential reads, in bytes (default 4 MiB; the kernel may
    /// allow less).
    pub kernel_readahead: u32,
    /// Let every user read the mount, not only the one who mounted it (`allow_other`;
    /// other users need `user_allow_other` in /etc/fuse.conf unless root mounts).
    pub allow_other: bool,
    /// Called once per file whose read failed; `None` prints the failure to stderr.
    pub on_read_error: Option<ReportFn>,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            reader: ReaderOptions::default(),
            threads: 4,
            kernel_readahead: 4 << 20,
            allow_other: false,
            on_read_error: None,
        }
    }
}

impl std::fmt::Debug for MountOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MountOptions")
            .field("reader", &self.reader)
            .field("threads", &self.threads)
            .field("kernel_readahead", &self.kernel_readahead)
            .field("allow_other", &self.allow_other)
            .field("on_read_error", &self.on_read_error.is_some())
            .finish()
    }
}

/// Why a mount or unmount failed.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The mount point does not exist.
    #[error("{0} does not exist; create an empty folder to mount on")]
    NoSuchFolder(PathBuf),
    /// The mount point is a file or something else.
    #[error("{0} is not a folder")]
    NotAFolder(PathBuf),
    /// The mount point has something in it (it would be hidden while mounted).
    #[error("{0} is not empty; mount on an empty folder")]
    NotEmpty(PathBuf),
    /// FUSE cannot be used on this machine.
    #[error("FUSE is not available here: {0}")]
    Unavailable(String),
    /// The revision could not be opened (unknown revision, not a dataset, …).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The kernel refused the mount.
    #[error("could not mount {dir}: {source}")]
    Mount {
        /// The mount point.
        dir: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// Nothing (or nothing colony mounted) is mounted there.
    #[error("{0} is not a colony mount")]
    NotMounted(PathBuf),
    /// Programs still have files of the mount open.
    #[error("{0} is busy: a program still has files or folders of it open")]
    Busy(PathBuf),
    /// The kernel refused the unmount.
    #[error("could not unmount {dir}: {source}")]
    Unmount {
        /// The mount point.
        dir: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
}

/// Whether FUSE looks usable here: `/dev/fuse` opens for reading and writing, and either
/// this process may call `mount(2)` itself (root) or `fusermount3`/`fusermount` is on
/// `PATH`. A mount can still be refused (a container without `CAP_SYS_ADMIN`, say);
/// [`Mount::start`] then says why.
pub fn available() -> bool {
    unavailable_reason().is_none()
}

/// Why FUSE is not usable here, or `None` when it looks usable (see [`available`]).
pub fn unavailable_reason() -> Option<String> {
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
    {
        return Some(if e.kind() == io::ErrorKind::NotFound {
            "/dev/fuse does not exist: load the fuse kernel module (`modprobe fuse`), or give the container the device (`--device /dev/fuse`)".into()
        } else {
            format!("/dev/fuse cannot be opened: {e}")
        });
    }
    let helper = ["fusermount3", "fusermount"].iter().any(|h| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(h).is_file()))
    });
    if !nix::unistd::geteuid().is_root() && !helper {
        return Some(
            "mounting as a user needs the fusermount3 helper: install the fuse3 package (`apt-get install fuse3`)"
                .into(),
        );
    }
    None
}

/// A revision mounted read-only at a folder, served by background threads until
/// [`Mount::unmount`] or drop.
pub struct Mount {
    dir: PathBuf,
    reader: SnapshotReader,
    session: Option<fuser::BackgroundSession>,
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mount")
            .field("dir", &self.dir)
            .field("revision", &self.reader.revision())
            .field("commit", &self.reader.commit())
            .finish()
    }
}

impl Mount {
    /// Mounts revision `rev` of the dataset at `dataset_root` (a branch, tag, pin, commit
    /// id or snapshot root; see [`SnapshotReader::open_with`]) at the empty folder `dir`.
    /// Returns once the kernel has accepted the mount: every path is readable from then
    /// on. Must not be called while this thread holds the store for writing.
    pub fn start(
        dataset_root: &Path,
        rev: &str,
        dir: &Path,
        opts: MountOptions,
    ) -> Result<Mount, MountError> {
        check_mount_point(dir)?;
        if let Some(why) = unavailable_reason() {
            return Err(MountError::Unavailable(why));
        }
        let reader = SnapshotReader::open_with(dataset_root, rev, opts.reader.clone())?;
        let report = opts.on_read_error.clone().unwrap_or_else(|| {
            Arc::new(|f: &ReadFailure<'_>| eprintln!("colony mount: {f}")) as ReportFn
        });
        let fs = fs::SnapshotFs {
            tree: tree::Tree::build(reader.files()),
            reader: reader.clone(),
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            time: SystemTime::now(),
            readahead: opts.kernel_readahead.max(4096),
            report,
            reported: Mutex::new(Default::default()),
        };
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            fuser::MountOption::FSName("colony".into()),
            fuser::MountOption::Subtype("colony".into()),
            fuser::MountOption::RO,
            fuser::MountOption::NoAtime,
            fuser::MountOption::NoDev,
            fuser::MountOption::NoSuid,
            // The kernel checks permissions from the modes we report (0444/0555).
            fuser::MountOption::DefaultPermissions,
        ];
        config.acl = if opts.allow_other {
            fuser::SessionACL::All
        } else {
            fuser::SessionACL::Owner
        };
        config.n_threads = Some(opts.threads.max(1));
        config.clone_fd = true;
        let session = fuser::Session::new(fs, dir, &config).map_err(|e| mount_error(dir, e))?;
        let session = session.spawn().map_err(|e| mount_error(dir, e))?;
        let mount = Mount {
            dir: dir.to_path_buf(),
            reader,
            session: Some(session),
        };
        mounts::raise_readahead(dir, opts.kernel_readahead);
        Ok(mount)
    }

    /// The mount point.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The reader serving the mount (its revision, commit and snapshot root).
    pub fn reader(&self) -> &SnapshotReader {
        &self.reader
    }

    /// Whether the mount still serves: false once something else unmounted it (`colony
    /// unmount`, `umount`) and the serving threads ended.
    pub fn is_serving(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| !s.guard.is_finished())
    }

    /// Unmounts and waits for the serving threads to end. Fails with
    /// [`MountError::Busy`] while a program has a file of it open; the mount is then
    /// detached lazily as on drop (see [`Mount::detach`]).
    pub fn unmount(mut self) -> Result<(), MountError> {
        self.stop(false)
    }

    /// Unmounts lazily: the folder is free at once; programs that still have files of
    /// the mount open keep reading them until they close them.
    pub fn detach(mut self) -> Result<(), MountError> {
        self.stop(true)
    }

    fn stop(&mut self, lazy: bool) -> Result<(), MountError> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        if session.guard.is_finished() {
            // Unmounted from outside already.
            let _ = session.join();
            return Ok(());
        }
        match mounts::umount_now(&self.dir) {
            Ok(()) => {
                // The kernel ends the connection; the threads see it and return.
                let _ = session.join();
                Ok(())
            }
            Err(MountError::Busy(_)) if lazy => {
                mounts::detach_now(&self.dir)?;
                // The threads serve the open files until they are closed, then end; they
                // are not waited for.
                drop(session);
                Ok(())
            }
            Err(e) => {
                self.session = Some(session);
                Err(e)
            }
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = self.stop(true);
    }
}

fn check_mount_point(dir: &Path) -> Result<(), MountError> {
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(MountError::NoSuchFolder(dir.to_path_buf()));
        }
        Err(source) => {
            return Err(MountError::Mount {
                dir: dir.to_path_buf(),
                source,
            });
        }
    };
    if !meta.is_dir() {
        return Err(MountError::NotAFolder(dir.to_path_buf()));
    }
    let mut entries = std::fs::read_dir(dir).map_err(|source| MountError::Mount {
        dir: dir.to_path_buf(),
        source,
    })?;
    if entries.next().is_some() {
        return Err(MountError::NotEmpty(dir.to_path_buf()));
    }
    Ok(())
}

fn mount_error(dir: &Path, e: io::Error) -> MountError {
    match e.kind() {
        // mount(2) was refused and fuser looked for the setuid helper instead.
        io::ErrorKind::NotFound if dir.exists() => MountError::Unavailable(format!(
            "mount(2) was refused and no fusermount3 helper was found ({e}); install the fuse3 package (`apt-get install fuse3`) or mount as root"
        )),
        io::ErrorKind::PermissionDenied => MountError::Unavailable(format!(
            "mounting is not permitted here ({e}); mount as root or install the fuse3 package (`apt-get install fuse3`)"
        )),
        _ => MountError::Mount {
            dir: dir.to_path_buf(),
            source: e,
        },
    }
}
