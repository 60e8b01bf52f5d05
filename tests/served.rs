//! `colony serve` children for the end-to-end tests of peers.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use crate::common::cmd;

/// A `colony serve` child, killed on drop. Its stderr (a line per request) goes to a
/// file so that tests can count what it sent.
pub struct Server {
    child: Child,
    /// The ticket it printed.
    pub ticket: String,
    /// Its node id.
    pub node_id: String,
    log: PathBuf,
    _logdir: tempfile::TempDir,
}

impl Server {
    pub fn start(dir: &Path, allow: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_at(None, "127.0.0.1:0", dir, allow, env)
    }

    /// A server bound to `bind`, inside network namespace `ns` when one is named.
    pub fn start_at(
        ns: Option<&str>,
        bind: &str,
        dir: &Path,
        allow: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let logdir = tempfile::tempdir().unwrap();
        let log = logdir.path().join("serve.log");
        let mut args = vec!["serve", "--no-relay", "--bind", bind, "--json"];
        for a in allow {
            args.push("--allow");
            args.push(a);
        }
        let mut c = match ns {
            Some(ns) => cmd_in(ns, dir, &args),
            None => cmd(dir, &args),
        };
        c.stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("start colony serve");
        let v = first_json_line(&mut child, &log);
        Server {
            child,
            ticket: v["ticket"].as_str().unwrap().to_string(),
            node_id: v["node_id"].as_str().unwrap().to_string(),
            log,
            _logdir: logdir,
        }
    }

    /// Bytes of shard data this server has sent so far.
    pub fn sent(&self) -> u64 {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("sent shard"))
            .filter_map(|l| l.split(": ").nth(1)?.split(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// How many shards this server has sent so far.
    pub fn shards_sent(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("sent shard"))
            .count()
    }

    /// Kills the server.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `colony` command run inside network namespace `ns` (`ip netns exec`).
pub fn cmd_in(ns: &str, dir: &Path, args: &[&str]) -> std::process::Command {
    let plain = cmd(dir, args);
    let mut c = std::process::Command::new("ip");
    c.args(["netns", "exec", ns])
        .arg(plain.get_program())
        .args(plain.get_args())
        .current_dir(dir);
    for (k, v) in plain.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    c
}

/// The JSON line a `colony serve --json` child prints once it listens; kills the child
/// and panics with its log (`log`: where its stderr goes) when the line is not JSON.
pub fn first_json_line(child: &mut Child, log: &Path) -> serde_json::Value {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| {
        let _ = child.kill();
        panic!(
            "serve printed {line:?} ({e}); log: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    })
}
