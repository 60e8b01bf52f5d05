//! A real local Ethereum node (anvil) for the tests that talk to a chain, started either
//! through the library or through `colony dao devnet --detach`, and stopped when dropped.

#![allow(dead_code)]

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::Command;

use colony_dao_bridge::{Devnet, DevnetOptions};

use crate::common::run;

/// What to do when anvil is missing.
pub const SETUP: &str = "these tests need a real anvil; install it with `npm ci --prefix \
                         dao-bridge` from the repository root (scripts/setup.sh runs it)";

/// anvil's (public) dev accounts 1 and 2 (addresses as JSON prints them: lower case).
pub const DEV1_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
pub const DEV1: &str = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
pub const DEV2_KEY: &str = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
pub const DEV2: &str = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc";

/// A loopback port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    l.local_addr().unwrap().port()
}

/// anvil started through the library (stopped when dropped).
pub fn library_devnet() -> Devnet {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match rt.block_on(Devnet::spawn(&DevnetOptions::default())) {
        Ok(d) => d,
        Err(e) => panic!("{SETUP}: {e}"),
    }
}

/// anvil started by `colony dao devnet --detach`, killed (by its pid) when dropped.
pub struct DetachedDevnet {
    pub pid: u32,
    pub url: String,
}

impl Drop for DetachedDevnet {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
    }
}

/// `colony dao devnet --detach` in `dir`: the dataset records it as its chain.
pub fn cli_devnet(dir: &Path) -> DetachedDevnet {
    let port = free_port().to_string();
    let out = run(
        dir,
        &["dao", "devnet", "--detach", "--port", &port, "--json"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{SETUP}\n`colony dao devnet --detach` failed: {stderr}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("devnet JSON");
    DetachedDevnet {
        pid: v["pid"].as_u64().expect("pid") as u32,
        url: v["rpc_url"].as_str().expect("rpc_url").to_owned(),
    }
}

/// `colony dao deploy` arguments for a DAO named `name` with the shortest governance
/// periods the tests wait through, then `extra`.
pub fn deploy_args<'a>(name: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "dao",
        "deploy",
        "--name",
        name,
        "--voting-delay",
        "1",
        "--voting-period",
        "5",
        "--timelock-delay",
        "60",
    ];
    args.extend_from_slice(extra);
    args
}
