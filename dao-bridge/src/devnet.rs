//! The local dev chain: find and run anvil (from the npm package `@foundry-rs/anvil`
//! installed by `npm ci --prefix dao-bridge`, or from PATH), and move its clock for tests and
//! `colony dao devnet`.

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::providers::Provider;

use crate::chain::{Chain, ChainConfig, DEVNET_CHAIN_ID};
use crate::error::{DaoError, Result};
use crate::signer::Signer;

/// Environment variable that names the anvil binary to use, ahead of every other place.
pub const ANVIL_ENV: &str = "COLONY_ANVIL";

/// How long to wait for a fresh anvil to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Private keys of anvil's first four default accounts (from its public test mnemonic
/// "test test … junk"). Funded on every anvil; worthless anywhere else.
const DEV_KEYS: [&str; 4] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
];

/// The `index`-th (0..4) funded default account of anvil, for the local dev chain only.
/// The CLI may use account 0 when the configured chain is the devnet and no key is given.
pub fn dev_signer(index: usize) -> Result<Signer> {
    let key = DEV_KEYS.get(index).ok_or_else(|| DaoError::InvalidParam {
        what: "dev account index".to_owned(),
        reason: format!(
            "{index} is out of range; anvil's dev accounts here are 0 to {}",
            DEV_KEYS.len() - 1
        ),
    })?;
    Signer::from_private_key_hex(key)
}

/// How to run anvil.
#[derive(Clone, Debug)]
pub struct DevnetOptions {
    /// Loopback port to listen on; `None` picks a free one.
    pub port: Option<u16>,
    /// Chain id (default [`DEVNET_CHAIN_ID`]).
    pub chain_id: u64,
    /// Keep the chain's state in this file across restarts (anvil `--state`).
    pub state_file: Option<PathBuf>,
    /// Seconds between blocks; `None` mines one block per transaction.
    pub block_time: Option<u64>,
}

impl Default for DevnetOptions {
    fn default() -> Self {
        Self {
            port: None,
            chain_id: DEVNET_CHAIN_ID,
            state_file: None,
            block_time: None,
        }
    }
}

/// A running anvil, killed when dropped (unless [`Devnet::detach`]ed).
#[derive(Debug)]
pub struct Devnet {
    child: Option<Child>,
    config: ChainConfig,
    binary: PathBuf,
}

impl Devnet {
    /// Finds anvil and starts it on loopback; returns once it answers JSON-RPC.
    pub async fn spawn(options: &DevnetOptions) -> Result<Self> {
        let binary = find_anvil()?;
        let mut last_err = None;
        // A port picked as free can be taken before anvil binds it; try a few.
        for _ in 0..3 {
            let port = match options.port {
                Some(p) => {
                    // Refuse a taken port up front: otherwise the readiness probe could
                    // answer from whatever already listens there.
                    if TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_err() {
                        return Err(DaoError::AnvilNotReady {
                            url: format!("http://127.0.0.1:{p}"),
                            detail: format!(
                                "port {p} is already in use (another devnet?); stop it or pick another port"
                            ),
                        });
                    }
                    p
                }
                None => free_port()?,
            };
            match Self::spawn_on(&binary, port, options).await {
                Ok(d) => return Ok(d),
                Err(e) if options.port.is_none() => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.expect("at least one attempt"))
    }

    async fn spawn_on(binary: &Path, port: u16, options: &DevnetOptions) -> Result<Self> {
        let mut cmd = Command::new(binary);
        cmd.args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--quiet",
        ])
        .args(["--chain-id", &options.chain_id.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        if let Some(state) = &options.state_file {
            cmd.arg("--state").arg(state);
        }
        if let Some(secs) = options.block_time {
            cmd.args(["--block-time", &secs.to_string()]);
        }
        let mut child = cmd.spawn().map_err(|source| DaoError::AnvilSpawn {
            path: binary.to_owned(),
            source,
        })?;
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
                    if s.len() < 16 * 1024 {
                        s.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            });
        }
        let config = ChainConfig {
            rpc_url: format!("http://127.0.0.1:{port}"),
            chain_id: options.chain_id,
        };
        let mut devnet = Self {
            child: Some(child),
            config,
            binary: binary.to_owned(),
        };
        let started = Instant::now();
        loop {
            if let Some(child) = devnet.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                devnet.child = None;
                let err = stderr.lock().unwrap_or_else(|p| p.into_inner()).clone();
                return Err(DaoError::AnvilNotReady {
                    url: devnet.config.rpc_url.clone(),
                    detail: format!("anvil exited with {status}: {}", err.trim()),
                });
            }
            if Chain::connect(&devnet.config).await.is_ok() {
                return Ok(devnet);
            }
            if started.elapsed() > READY_TIMEOUT {
                let err = stderr.lock().unwrap_or_else(|p| p.into_inner()).clone();
                return Err(DaoError::AnvilNotReady {
                    url: devnet.config.rpc_url.clone(),
                    detail: format!("no answer after {READY_TIMEOUT:?}: {}", err.trim()),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Endpoint and chain id of this devnet.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// The RPC URL, e.g. `http://127.0.0.1:8545`.
    pub fn rpc_url(&self) -> &str {
        &self.config.rpc_url
    }

    /// The anvil binary that runs.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The process id of anvil.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Lets anvil keep running after this value is dropped; returns its process id.
    pub fn detach(mut self) -> Option<u32> {
        self.child.take().map(|c| c.id())
    }

    /// Waits until anvil exits (e.g. for a foreground `colony dao devnet`).
    pub fn wait(mut self) -> std::io::Result<std::process::ExitStatus> {
        let mut child = self
            .child
            .take()
            .expect("devnet has a child until detached");
        child.wait()
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            stop(child);
        }
    }
}

/// Stops anvil: politely first (SIGTERM, so that it writes its `--state` file), then for good
/// after [`STOP_GRACE`].
fn stop(mut child: Child) {
    if cfg!(unix) {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let started = Instant::now();
        while started.elapsed() < STOP_GRACE {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// How long anvil gets to exit after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Finds the anvil binary: `$COLONY_ANVIL`, then the platform package that
/// `npm ci --prefix dao-bridge` installs (`dao-bridge/node_modules/@foundry-rs/anvil-<os>-<arch>/bin/anvil`,
/// looked for next to this crate's sources, the current directory and its parents, and the
/// running executable's parents), then `anvil` on PATH.
pub fn find_anvil() -> Result<PathBuf> {
    let mut searched = Vec::new();
    if let Some(p) = std::env::var_os(ANVIL_ENV) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        searched.push(format!("${ANVIL_ENV}={}", p.display()));
    }
    let exe = if cfg!(windows) { "anvil.exe" } else { "anvil" };
    let package = platform_package();
    let mut roots: Vec<PathBuf> = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR"))];
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            roots.push(dir.join("dao-bridge"));
            roots.push(dir.to_owned());
        }
    }
    if let Ok(me) = std::env::current_exe() {
        for dir in me.ancestors().skip(1) {
            roots.push(dir.join("dao-bridge"));
        }
    }
    if let Some(package) = &package {
        for root in &roots {
            let candidate = root
                .join("node_modules/@foundry-rs")
                .join(package)
                .join("bin")
                .join(exe);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
        searched.push(format!(
            "node_modules/@foundry-rs/{package}/bin/{exe} under {}",
            roots[0].display()
        ));
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(exe);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    searched.push("PATH".to_owned());
    Err(DaoError::AnvilNotFound {
        searched: searched.join(", "),
    })
}

/// The npm platform package anvil ships its binary in, for this OS and CPU.
fn platform_package() -> Option<String> {
    let os = match std::env::consts::OS {
        "linux" => "linux",
        "macos" => "darwin",
        "windows" => "win32",
        _ => return None,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        _ => return None,
    };
    Some(format!("anvil-{os}-{arch}"))
}

fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| DaoError::AnvilNotReady {
            url: "http://127.0.0.1:0".to_owned(),
            detail: format!("no free loopback port: {e}"),
        })?;
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    Ok(port)
}

/// Moves a dev chain forward: the clock by `seconds`, then mines `blocks` blocks (at least
/// one when `seconds > 0`, so the new time takes effect). Returns the new block number.
/// Works on anvil only (`evm_increaseTime`, `anvil_mine`).
pub async fn advance(chain: &Chain, blocks: u64, seconds: u64) -> Result<u64> {
    let p = chain.checked().await?;
    let not_dev = |e| match chain.rpc_error("advancing the dev chain", e) {
        DaoError::Rpc {
            action,
            url,
            detail,
        } => DaoError::Rpc {
            action,
            url,
            detail: format!("{detail} (moving time works only on a local dev chain such as anvil)"),
        },
        other => other,
    };
    if seconds > 0 {
        let _: serde_json::Value = p
            .raw_request("evm_increaseTime".into(), (seconds,))
            .await
            .map_err(not_dev)?;
    }
    let blocks = if seconds > 0 { blocks.max(1) } else { blocks };
    if blocks > 0 {
        let _: serde_json::Value = p
            .raw_request("anvil_mine".into(), (format!("0x{blocks:x}"),))
            .await
            .map_err(not_dev)?;
    }
    chain.block_number().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_anvil_names_the_setup_command() {
        let msg = DaoError::AnvilNotFound {
            searched: "PATH".to_owned(),
        }
        .to_string();
        assert!(msg.contains("npm ci --prefix dao-bridge"), "{msg}");
    }

    #[test]
    fn dev_accounts_are_anvils() {
        assert_eq!(
            dev_signer(0).unwrap().address().to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        assert!(dev_signer(9).is_err());
    }
}
