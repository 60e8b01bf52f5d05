//! The FUSE file system: answers the kernel from the inode table and the verified reader.
//!
//! Everything is read-only and immutable, so the kernel is told to cache all it can:
//! attributes and names for a day, file pages across opens (`FOPEN_KEEP_CACHE`, which also
//! keeps `mmap` working: no direct I/O), folder listings, symlink targets. Every operation
//! that would change anything answers `EROFS` (the mount is also read-only in the kernel,
//! so most never reach here). A read that fails verification answers `EIO` and is
//! reported once per file through [`crate::MountOptions::on_read_error`]; no byte of it is
//! ever returned.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use colony_store::StoreError;
use colony_store::snapshot::SnapshotReader;
use fuser::{
    AccessFlags, BsdFileFlags, CopyFileRangeFlags, Errno, FileAttr, FileHandle, FileType,
    FopenFlags, Generation, INodeNo, InitFlags, KernelConfig, LockOwner, OpenAccMode, OpenFlags,
    RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::tree::{Kind, Node, Tree};
use crate::{ReadFailure, ReportFn};

/// How long the kernel may trust attributes and names: the revision never changes.
const TTL: Duration = Duration::from_secs(24 * 3600);
/// Block size reported to programs (`st_blksize`), the size `cat` and friends read in.
const BLKSIZE: u32 = 1 << 20;

/// One mounted revision.
pub(crate) struct SnapshotFs {
    pub(crate) reader: SnapshotReader,
    pub(crate) tree: Tree,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Every time stamp: when the mount started (the snapshot has none of its own).
    pub(crate) time: SystemTime,
    pub(crate) readahead: u32,
    pub(crate) report: ReportFn,
    /// Files whose failed read was reported already (the kernel retries page by page).
    pub(crate) reported: Mutex<HashSet<String>>,
}

impl SnapshotFs {
    fn attr(&self, ino: u64, n: &Node) -> FileAttr {
        let (kind, perm, nlink) = match &n.kind {
            Kind::Dir(_) => (FileType::Directory, 0o555, 2),
            Kind::File { exec: true } => (FileType::RegularFile, 0o555, 1),
            Kind::File { exec: false } => (FileType::RegularFile, 0o444, 1),
            Kind::Link(_) => (FileType::Symlink, 0o777, 1),
        };
        FileAttr {
            ino: INodeNo(ino),
            size: n.size,
            blocks: n.size.div_ceil(512),
            atime: self.time,
            mtime: self.time,
            ctime: self.time,
            crtime: self.time,
            kind,
            perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: BLKSIZE,
            flags: 0,
        }
    }

    fn failed(&self, path: &str, error: &StoreError) {
        let first = self
            .reported
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_string());
        if first {
            (self.report)(&ReadFailure {
                revision: self.reader.revision(),
                path,
                error,
            });
        }
    }
}

impl fuser::Filesystem for SnapshotFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // As much readahead as the kernel allows (it caps what we ask for).
        if let Err(max) = config.set_max_readahead(self.readahead) {
            let _ = config.set_max_readahead(max);
        }
        let _ = config.set_max_background(64);
        // Optional speed-ups; a kernel without them works all the same.
        for cap in [
            InitFlags::FUSE_CACHE_SYMLINKS,
            InitFlags::FUSE_PARALLEL_DIROPS,
        ] {
            let _ = config.add_capabilities(cap);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let found = name
            .to_str()
            .and_then(|name| self.tree.lookup(parent.0, name))
            .and_then(|ino| Some((ino, self.tree.get(ino)?)));
        match found {
            Some((ino, n)) => reply.entry(&TTL, &self.attr(ino, n), Generation(0)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.tree.get(ino.0) {
            Some(n) => reply.attr(&TTL, &self.attr(ino.0, n)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.tree.get(ino.0).map(|n| &n.kind) {
            Some(Kind::Link(target)) => reply.data(target.as_bytes()),
            Some(_) => reply.error(Errno::EINVAL),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        match self.tree.get(ino.0).map(|n| &n.kind) {
            // Content never changes: pages stay cached across opens, and mmap works.
            Some(Kind::File { .. }) => reply.opened(FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE),
            Some(Kind::Dir(_)) => reply.error(Errno::EISDIR),
            Some(Kind::Link(_)) => reply.error(Errno::ELOOP),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Some(n) = self.tree.get(ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        if !matches!(n.kind, Kind::File { .. }) {
            return reply.error(Errno::EISDIR);
        }
        let len = (size as u64).min(n.size.saturating_sub(offset)) as usize;
        let mut buf = vec![0u8; len];
        match self.reader.read_into(&n.path, offset, &mut buf) {
            Ok(got) => reply.data(&buf[..got]),
            Err(e) => {
                self.failed(&n.path, &e);
                reply.error(Errno::EIO);
            }
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        match self.tree.get(ino.0).map(|n| &n.kind) {
            Some(Kind::Dir(_)) => reply.opened(
                FileHandle(0),
                FopenFlags::FOPEN_KEEP_CACHE | FopenFlags::FOPEN_CACHE_DIR,
            ),
            Some(_) => reply.error(Errno::ENOTDIR),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let Some(n) = self.tree.get(ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let Kind::Dir(children) = &n.kind else {
            return reply.error(Errno::ENOTDIR);
        };
        // Entry k (0 ".", 1 "..", then the children) carries offset k + 1: the next one.
        let dots = [
            (".", ino.0, FileType::Directory),
            ("..", n.parent, FileType::Directory),
        ];
        let all = dots.into_iter().chain(children.iter().map(|(name, child)| {
            let kind = match self.tree.get(*child).map(|c| &c.kind) {
                Some(Kind::Dir(_)) => FileType::Directory,
                Some(Kind::Link(_)) => FileType::Symlink,
                _ => FileType::RegularFile,
            };
            (name.as_str(), *child, kind)
        }));
        for (k, (name, child, kind)) in all.enumerate().skip(offset as usize) {
            if reply.add(INodeNo(child), k as u64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let bsize = 4096u32;
        let blocks = self.tree.bytes().div_ceil(bsize as u64);
        reply.statfs(blocks, 0, 0, self.tree.len() as u64, 0, bsize, 255, bsize);
    }

    fn access(&self, _req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        if self.tree.get(ino.0).is_none() {
            return reply.error(Errno::ENOENT);
        }
        if mask.contains(AccessFlags::W_OK) {
            return reply.error(Errno::EROFS);
        }
        reply.ok();
    }

    // Everything below would change the revision: refused.

    fn setattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mknod(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mkdir(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn unlink(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn rmdir(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn symlink(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _link_name: &OsStr,
        _target: &Path,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn rename(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _newparent: INodeNo,
        _newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        reply.error(Errno::EROFS);
    }

    fn create(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        reply.error(Errno::EROFS);
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _length: u64,
        _mode: i32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn copy_file_range(
        &self,
        _req: &Request,
        _ino_in: INodeNo,
        _fh_in: FileHandle,
        _offset_in: u64,
        _ino_out: INodeNo,
        _fh_out: FileHandle,
        _offset_out: u64,
        _len: u64,
        _flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        reply.error(Errno::EROFS);
    }
}
