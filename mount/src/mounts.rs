//! Mounts as the kernel lists them: finding colony's, unmounting them (also those another
//! process owns), and tuning the kernel's readahead for one.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::MountError;

/// The source colony's mounts show in `/proc/self/mountinfo` (their file system type is
/// `fuse`, or `fuse.colony` when fusermount3 mounted them).
const SOURCE: &str = "colony";

/// Whether a colony mount is at `dir` (as `/proc/self/mountinfo` lists it).
pub fn is_mounted(dir: &Path) -> bool {
    let Ok(dir) = absolute(dir) else {
        return false;
    };
    mounted_colony_dirs().contains(&dir)
}

/// Unmounts the colony mount at `dir`, whichever process serves it (that process sees
/// the mount end and exits). Fails with [`MountError::NotMounted`] when no colony mount
/// is there and [`MountError::Busy`] while a program has a file of it open.
pub fn unmount(dir: &Path) -> Result<(), MountError> {
    let dir = checked(dir)?;
    umount_now(&dir)
}

/// Unmounts the colony mount at `dir` lazily: the folder is free at once, and programs
/// with files of it open keep reading until they close them.
pub fn detach(dir: &Path) -> Result<(), MountError> {
    let dir = checked(dir)?;
    detach_now(&dir)
}

fn checked(dir: &Path) -> Result<PathBuf, MountError> {
    let abs = absolute(dir).map_err(|_| MountError::NotMounted(dir.to_path_buf()))?;
    if !mounted_colony_dirs().contains(&abs) {
        return Err(MountError::NotMounted(dir.to_path_buf()));
    }
    Ok(abs)
}

/// `umount(2)` without flags.
pub(crate) fn umount_now(dir: &Path) -> Result<(), MountError> {
    match nix::mount::umount(dir) {
        Ok(()) => Ok(()),
        Err(Errno::EBUSY) => Err(MountError::Busy(dir.to_path_buf())),
        Err(Errno::EINVAL) => Err(MountError::NotMounted(dir.to_path_buf())),
        Err(e) => Err(MountError::Unmount {
            dir: dir.to_path_buf(),
            source: e.into(),
        }),
    }
}

/// `umount2(MNT_DETACH)`.
pub(crate) fn detach_now(dir: &Path) -> Result<(), MountError> {
    nix::mount::umount2(dir, nix::mount::MntFlags::MNT_DETACH).map_err(|e| match e {
        Errno::EINVAL => MountError::NotMounted(dir.to_path_buf()),
        e => MountError::Unmount {
            dir: dir.to_path_buf(),
            source: e.into(),
        },
    })
}

/// The mount points of colony mounts, from `/proc/self/mountinfo`.
fn mounted_colony_dirs() -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|line| {
            // `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [TAGS...] - FSTYPE SOURCE ...`
            let fields: Vec<&str> = line.split(' ').collect();
            let dash = fields.iter().position(|f| *f == "-")?;
            let fstype = *fields.get(dash + 1)?;
            let ours = (fstype == "fuse" || fstype.starts_with("fuse."))
                && fields.get(dash + 2) == Some(&SOURCE);
            ours.then(|| PathBuf::from(unescape(fields[4])))
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space, …).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `dir` made absolute and free of symlinks, as the kernel lists mount points.
fn absolute(dir: &Path) -> std::io::Result<PathBuf> {
    // A mount point's parent resolves without touching the mount itself.
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    let name = dir.file_name();
    match (parent, name) {
        (Some(p), Some(n)) => Ok(p.canonicalize()?.join(n)),
        (None, Some(n)) => Ok(std::env::current_dir()?.join(n)),
        _ => dir.canonicalize(),
    }
}

/// Best effort: lets the kernel read ahead up to `bytes` on the mount's device (the
/// default is 128 KiB). Needs root and a writable /sys; without them nothing changes.
pub(crate) fn raise_readahead(dir: &Path, bytes: u32) {
    let Ok(meta) = std::fs::metadata(dir) else {
        return;
    };
    let dev = meta.dev();
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000);
    let minor = (dev & 0xff) | ((dev >> 12) & 0xffff_ff00);
    let knob = format!("/sys/class/bdi/{major}:{minor}/read_ahead_kb");
    let _ = std::fs::write(knob, (bytes / 1024).max(128).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo_paths() {
        assert_eq!(unescape(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape(r"/x\134y"), r"/x\y");
        assert_eq!(unescape(r"/plain\04"), r"/plain\04");
    }

    #[test]
    fn nothing_mounted_is_not_mounted() {
        let d = tempfile::tempdir().unwrap();
        assert!(!is_mounted(d.path()));
        assert!(matches!(unmount(d.path()), Err(MountError::NotMounted(_))));
    }
}
