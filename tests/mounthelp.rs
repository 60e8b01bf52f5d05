//! FUSE helpers for the end-to-end tests: whether FUSE is here, whether a folder is
//! mounted, and a guard owning a `colony mount` process.
//!
//! The guard's drop stops the serving process and, if anything is left, detaches the
//! mount lazily, so a failing test never leaves a mount behind that could hang later ones.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::cmd;

/// Whether FUSE can be tested here; prints why not otherwise.
pub fn fuse_here() -> bool {
    if Path::new("/dev/fuse").exists() {
        return true;
    }
    eprintln!("skipped: /dev/fuse is absent on this machine, so nothing can be mounted");
    false
}

/// Whether `/proc/mounts` lists a mount at `dir`.
pub fn mounted(dir: &Path) -> bool {
    let dir = dir.to_str().unwrap().replace(' ', "\\040");
    std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(dir.as_str()))
}

/// A `colony mount` process serving one folder.
pub struct Mounted {
    child: Option<Child>,
    stderr: Option<ChildStderr>,
    /// The mount point.
    pub dir: PathBuf,
    /// The readiness line.
    pub ready: serde_json::Value,
    _tmp: Option<tempfile::TempDir>,
}

impl Mounted {
    /// Mounts `rev` of the dataset at `root` on a fresh empty folder.
    pub fn start(root: &Path, rev: &str) -> Mounted {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("mnt");
        std::fs::create_dir(&dir).unwrap();
        let mut m = Mounted::at(root, rev, &dir);
        m._tmp = Some(tmp);
        m
    }

    /// Mounts `rev` at `dir` and waits for the readiness line.
    pub fn at(root: &Path, rev: &str, dir: &Path) -> Mounted {
        let mut child = cmd(root, &["--json", "mount", rev, dir.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start colony mount");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let mut m = Mounted {
            stderr: child.stderr.take(),
            child: Some(child),
            dir: dir.to_path_buf(),
            ready: serde_json::Value::Null,
            _tmp: None,
        };
        if line.trim().is_empty() {
            let code = m.wait();
            panic!(
                "colony mount ended ({code:?}) without mounting: {}",
                m.err()
            );
        }
        m.ready = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(mounted(dir), "{line}");
        m
    }

    /// Sends `signal` to the serving process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let st = Command::new("kill")
            .args(["-s", signal, &pid])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Waits (up to 20 s) for the serving process to end; its exit code.
    pub fn wait(&mut self) -> Option<i32> {
        let child = self.child.as_mut()?;
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                self.child = None;
                return st.code();
            }
            if Instant::now() > until {
                let _ = child.kill();
                let _ = child.wait();
                self.child = None;
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the serving process printed on stderr (once it has ended).
    pub fn err(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }

    /// Stops it with Ctrl-C; asserts a clean exit and no mount left.
    pub fn stop(mut self) -> String {
        self.signal("INT");
        let code = self.wait();
        let err = self.err();
        assert_eq!(code, Some(0), "colony mount did not exit cleanly: {err}");
        assert!(!mounted(&self.dir), "still mounted after Ctrl-C");
        err
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.signal("INT");
            self.wait();
        }
        if mounted(&self.dir) {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}
