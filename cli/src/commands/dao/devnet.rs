//! `colony dao devnet`: a local Ethereum node (anvil) recorded as the dataset's chain.

use std::path::PathBuf;

use colony_dao_bridge::chain::DEVNET_CHAIN_ID;
use colony_dao_bridge::{Devnet, DevnetOptions};
use colony_store::{Access, Repo, StoreError};

use super::{ChainArgs, block_on, read_config};
use crate::{CliError, Ctx, output};

/// Start a local Ethereum node (anvil) to run the whole DAO flow with no account anywhere.
///
/// Runs anvil from the npm package @foundry-rs/anvil (installed by `npm ci --prefix
/// dao-bridge`, which scripts/setup.sh runs; or $COLONY_ANVIL, or anvil on PATH) on
/// 127.0.0.1, chain id 31337 unless --chain-id says otherwise. Run inside a dataset, it is
/// recorded as the dataset's chain (`rpc_url`, `chain_id` under `[dao]` in
/// .colony/config.toml). Stays in the foreground until Ctrl-C; with --detach it keeps
/// running in the background and its pid and URL are printed (stop it with `kill PID`).
/// anvil's dev accounts are funded; colony signs with dev account 0 on this chain when no
/// key is given. For local use and tests only.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Loopback port to listen on.
    #[arg(long, default_value_t = 8545)]
    pub port: u16,
    /// Keep the chain's state in FILE across restarts (written when anvil stops).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Seconds between blocks (default: a block as soon as a transaction arrives).
    #[arg(long, value_name = "SECS")]
    pub block_time: Option<u64>,
    /// Leave anvil running in the background; print its pid and URL and return.
    #[arg(long)]
    pub detach: bool,
}

#[derive(serde::Serialize)]
struct Report {
    rpc_url: String,
    chain_id: u64,
    pid: Option<u32>,
    anvil: String,
    /// The config file the chain was recorded in, when run inside a dataset.
    recorded_in: Option<String>,
    detached: bool,
}

pub fn run(ctx: &Ctx, chain: &ChainArgs, args: Args) -> Result<i32, CliError> {
    let options = DevnetOptions {
        port: Some(args.port),
        chain_id: chain.chain_id.unwrap_or(DEVNET_CHAIN_ID),
        state_file: args.state.as_ref().map(|s| ctx.cwd.join(s)),
        block_time: args.block_time,
    };
    let devnet = block_on(Devnet::spawn(&options))??;
    let url = devnet.rpc_url().to_owned();
    // Record the chain only now that it answers; release the store lock at once so that
    // other commands can use the dataset while the node runs.
    let recorded_in = match record(ctx, &url, options.chain_id) {
        Ok(r) => r,
        Err(e) => {
            drop(devnet);
            return Err(e);
        }
    };
    let report = Report {
        rpc_url: url.clone(),
        chain_id: options.chain_id,
        pid: devnet.pid(),
        anvil: devnet.binary().display().to_string(),
        recorded_in: recorded_in.clone(),
        detached: args.detach,
    };
    if ctx.json {
        output::json(&report);
    } else if !ctx.quiet {
        let pid = report.pid.map_or_else(|| "?".to_owned(), |p| p.to_string());
        println!(
            "devnet running at {url} (chain id {}, anvil pid {pid})",
            options.chain_id
        );
        match &recorded_in {
            Some(p) => println!("recorded as this dataset's chain in {p}"),
            None => println!("(not inside a dataset: nothing recorded; pass --rpc-url {url})"),
        }
        if args.detach {
            println!("stop it with: kill {pid}");
        } else {
            println!("press Ctrl-C to stop it");
        }
    }
    if args.detach {
        devnet.detach();
        return Ok(0);
    }
    // Ctrl-C stops anvil and colony alike; anything else that ends anvil is reported.
    let status = devnet.wait()?;
    if !status.success() && !ctx.quiet {
        eprintln!("anvil exited with {status}");
    }
    Ok(if status.success() { 0 } else { 1 })
}

/// Writes the chain into `[dao]` of the dataset around `ctx.cwd`, if there is one.
fn record(ctx: &Ctx, url: &str, chain_id: u64) -> Result<Option<String>, CliError> {
    let mut repo = match Repo::discover(&ctx.cwd, Access::Write, &|_| {}) {
        Ok(r) => r,
        Err(StoreError::NotADataset(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let before = read_config(repo.config())?;
    let config = repo.config_mut();
    config.set("dao.rpc_url", toml::Value::String(url.to_owned()));
    config.set(
        "dao.chain_id",
        toml::Value::Integer(i64::try_from(chain_id).unwrap_or(i64::MAX)),
    );
    config.save()?;
    if let Some(dep) = before.0.deployment
        && !ctx.quiet
        && !ctx.json
    {
        eprintln!(
            "note: [dao] still names dataset {} in registry {} from an earlier deployment; unless \
             this devnet restored that state (--state), run `colony dao deploy --force`",
            dep.dataset_id, dep.registry
        );
    }
    Ok(Some(
        repo.colony_dir().join("config.toml").display().to_string(),
    ))
}
