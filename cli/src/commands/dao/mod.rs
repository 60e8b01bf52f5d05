//! `colony dao …`: the dataset's head anchored on Ethereum through its own Governor.
//!
//! Each subcommand is one call into `colony-dao-bridge`, run on a current-thread tokio
//! runtime that lives only as long as the command. Chain settings come from the global
//! options, else `[dao]` in `.colony/config.toml`, else the local devnet; the chain is
//! always asked for its id before anything else happens, and the config is written only
//! after the chain answered.

use std::future::Future;
use std::path::PathBuf;

use clap::Subcommand;
use colony_dao_bridge::{
    Chain, ChainConfig, DaoError, DaoSettings, Deployment, KeySource, Signer, TxRecord,
};
use colony_store::config::Config;

use crate::{CliError, Ctx};

pub mod admin;
pub mod deploy;
pub mod devnet;
pub mod from_chain;
pub mod govern;
pub mod onchain;
pub mod read;

/// Anchor the dataset's head on Ethereum, voted by the dataset's own DAO.
///
/// A dataset's community holds an ERC20Votes token; moving the head it anchors in the
/// `DatasetRegistry` (snapshot root, commit id, locator) takes a Governor proposal that
/// passes its vote and waits out the timelock. The flow: `dao devnet` (a local chain) →
/// `dao deploy` → `dao delegate` → `dao propose` → `dao vote` → `dao queue` →
/// `dao execute`; then anyone checks data against the anchored root with `dao verify`.
///
/// The chain is the one given by --rpc-url/--chain-id, else `[dao]` in
/// .colony/config.toml, else the local devnet (http://127.0.0.1:8545, chain id 31337). Its
/// chain id is checked before every call and a mismatch is refused. Transactions are signed
/// with the key in ETH_PRIVATE_KEY or an encrypted --keystore (never printed); on the local
/// devnet with no key given, anvil's funded dev account 0 signs.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Chain and key options.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: DaoCommand,
}

/// Which chain to talk to and which key signs (shared by `dao`, `fork --dao`, `lineage --dao`).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ChainArgs {
    /// JSON-RPC endpoint, http:// or https:// (default: `[dao] rpc_url` in
    /// .colony/config.toml, else the local devnet http://127.0.0.1:8545). TLS trusts the
    /// system's roots; SSL_CERT_FILE names another CA bundle.
    #[arg(long, global = true, value_name = "URL")]
    pub rpc_url: Option<String>,
    /// Chain id the endpoint must serve; any other is refused (default: `[dao] chain_id`,
    /// else 31337, the local devnet).
    #[arg(long, global = true, value_name = "ID")]
    pub chain_id: Option<u64>,
    /// Encrypted JSON keystore with the signing key (default: the ETH_PRIVATE_KEY
    /// environment variable; on the local devnet with neither, anvil's dev account 0).
    #[arg(long, global = true, value_name = "FILE")]
    pub keystore: Option<PathBuf>,
    /// File whose first line is the keystore's password (default: asked without echo).
    #[arg(long, global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// The `dao` subcommands.
#[derive(Debug, Subcommand)]
pub enum DaoCommand {
    Devnet(devnet::Args),
    Deploy(deploy::Args),
    Delegate(govern::DelegateArgs),
    Propose(govern::ProposeArgs),
    Vote(govern::VoteArgs),
    Queue(govern::QueueArgs),
    Execute(govern::ExecuteArgs),
    Status(read::StatusArgs),
    Head(read::HeadArgs),
    Verify(read::VerifyArgs),
    Advance(admin::AdvanceArgs),
    #[command(hide = true)]
    SetHead(admin::SetHeadArgs),
}

/// Runs a `dao` subcommand.
pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let c = &args.chain;
    match args.command {
        DaoCommand::Devnet(a) => devnet::run(ctx, c, a),
        DaoCommand::Deploy(a) => deploy::run(ctx, c, a),
        DaoCommand::Delegate(a) => govern::delegate(ctx, c, a),
        DaoCommand::Propose(a) => govern::propose(ctx, c, a),
        DaoCommand::Vote(a) => govern::vote(ctx, c, a),
        DaoCommand::Queue(a) => govern::queue(ctx, c, a),
        DaoCommand::Execute(a) => govern::execute(ctx, c, a),
        DaoCommand::Status(a) => read::status(ctx, c, a),
        DaoCommand::Head(a) => read::head(ctx, c, a),
        DaoCommand::Verify(a) => read::verify(ctx, c, a),
        DaoCommand::Advance(a) => admin::advance(ctx, c, a),
        DaoCommand::SetHead(a) => admin::set_head(ctx, c, a),
    }
}

impl From<DaoError> for CliError {
    fn from(e: DaoError) -> Self {
        let hint = match &e {
            DaoError::AnvilNotFound { .. } => {
                Some("from the colony source tree: `npm ci --prefix dao-bridge`".to_owned())
            }
            DaoError::NoSigner { .. } | DaoError::MissingKey => Some(
                "keys are never taken on the command line; use ETH_PRIVATE_KEY or --keystore"
                    .to_owned(),
            ),
            _ => None,
        };
        CliError {
            message: e.to_string(),
            hint,
            code: 1,
        }
    }
}

/// Runs `fut` to completion on a fresh current-thread runtime.
pub(crate) fn block_on<F: Future>(fut: F) -> Result<F::Output, CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the async runtime: {e}")))?;
    Ok(rt.block_on(fut))
}

/// What `[dao]` in `.colony/config.toml` records (the library's [`DaoSettings`]), with the
/// CLI's hints on its errors.
#[derive(Clone, Debug, Default)]
pub struct DaoConfig(pub DaoSettings);

impl std::ops::Deref for DaoConfig {
    type Target = DaoSettings;
    fn deref(&self) -> &DaoSettings {
        &self.0
    }
}

/// Reads `[dao]` from a dataset's config.
pub fn read_config(config: &Config) -> Result<DaoConfig, CliError> {
    DaoSettings::from_toml(config.get("dao"))
        .map(DaoConfig)
        .map_err(|e| {
            CliError::new(e.to_string())
                .hint("fix it by hand, or redeploy with `colony dao deploy --force`")
        })
}

/// Records `deployment` under `[dao]` (keeping other keys there); the caller saves.
pub fn write_deployment(config: &mut Config, deployment: &Deployment) -> Result<(), CliError> {
    let value = toml::Value::try_from(deployment)
        .map_err(|e| CliError::new(format!("cannot encode the deployment: {e}")))?;
    if let Some(t) = value.as_table() {
        for (k, v) in t {
            config.set(&format!("dao.{k}"), v.clone());
        }
    }
    Ok(())
}

/// Reads `[dao]` of the dataset around `ctx.cwd` (releasing the store lock at once).
pub(crate) fn dataset_config(ctx: &Ctx) -> Result<DaoConfig, CliError> {
    let repo = ctx.open(colony_store::Access::Read)?;
    read_config(repo.config())
}

impl DaoConfig {
    /// The chain to use: the options, else this config, else the local devnet.
    pub fn chain(&self, args: &ChainArgs) -> ChainConfig {
        self.0.chain(args.rpc_url.as_deref(), args.chain_id)
    }

    /// The recorded deployment, pointed at the chain in use; an error when there is none.
    pub fn deployment(&self, chain: &ChainConfig) -> Result<Deployment, CliError> {
        self.0.deployment(chain).map_err(|e| {
            CliError::new(e.to_string()).hint(
                "deploy one with `colony dao deploy` (on a local chain: `colony dao devnet` first)",
            )
        })
    }
}

/// Connects read-only (checks that the endpoint answers and serves the chain id).
pub(crate) async fn connect(cfg: &ChainConfig) -> Result<Chain, DaoError> {
    Chain::connect(cfg).await
}

/// Connects with the signing key. The chain is asked for its id first, so a wrong chain or
/// a dead endpoint is reported before any key or password is asked for.
pub(crate) async fn connect_signing(
    cfg: &ChainConfig,
    args: &ChainArgs,
) -> Result<Chain, DaoError> {
    Chain::connect(cfg).await?;
    let source = KeySource::from_options(args.keystore.clone(), args.password_file.clone());
    let signer = Signer::load_for(&source, cfg)?;
    Chain::connect_with_signer(cfg, &signer).await
}

/// One line about a transaction.
pub(crate) fn tx_line(tx: &TxRecord) -> String {
    format!(
        "{}: tx {} (block {}, gas {})",
        tx.action, tx.tx_hash, tx.block, tx.gas_used
    )
}

/// Snapshot root and commit id of `rev`, recomputed from the stored bytes; refuses a
/// revision that does not verify. Releases the store lock before returning.
pub(crate) fn verified_head(
    ctx: &Ctx,
    rev: Option<&str>,
) -> Result<(VerifiedRev, DaoConfig), CliError> {
    let repo = ctx.open(colony_store::Access::Write)?;
    let dao = read_config(repo.config())?;
    let name = rev.unwrap_or("HEAD").to_owned();
    let report = repo.verify(Some(&name))?;
    let id = repo.resolve(&name)?;
    let commit: [u8; 20] = id.as_bytes().try_into().map_err(|_| {
        CliError::new(format!(
            "commit id {id} is not 20 bytes; only SHA-1 histories can be anchored"
        ))
    })?;
    Ok((
        VerifiedRev {
            rev: name,
            commit,
            commit_hex: report.commit.clone(),
            root: *report.computed_root.as_bytes(),
            recorded_root: report.recorded_root.map(|h| *h.as_bytes()),
            ok: report.ok,
            problems: report.problems,
        },
        dao,
    ))
}

/// A revision with its snapshot root recomputed from the bytes.
#[derive(Clone, Debug)]
pub(crate) struct VerifiedRev {
    /// As the user named it.
    pub rev: String,
    /// Its commit id.
    pub commit: [u8; 20],
    /// Its commit id in hex.
    pub commit_hex: String,
    /// The root recomputed from the stored bytes.
    pub root: [u8; 32],
    /// The root the commit records.
    pub recorded_root: Option<[u8; 32]>,
    /// Whether every byte checked out and the roots agree.
    pub ok: bool,
    /// What did not check out.
    pub problems: Vec<String>,
}

impl VerifiedRev {
    /// An error unless the revision verified.
    pub fn require_ok(&self, what: &str) -> Result<(), CliError> {
        if self.ok {
            return Ok(());
        }
        let recorded = self.recorded_root.map_or_else(|| "none".to_owned(), hex32);
        let mut msg = format!(
            "refusing to {what}: {} (commit {}) does not verify locally: its bytes give snapshot \
             root {}, the commit records {recorded}",
            self.rev,
            self.commit_hex,
            hex32(self.root)
        );
        for p in self.problems.iter().take(5) {
            msg.push_str("\n  ");
            msg.push_str(p);
        }
        if self.problems.len() > 5 {
            msg.push_str(&format!("\n  … and {} more", self.problems.len() - 5));
        }
        Err(CliError::new(msg).hint(
            "nothing was sent to the chain; run `colony fsck` to see what is damaged, and repair \
             or re-fetch the data first",
        ))
    }
}

/// 32 bytes as 0x-prefixed hex (how the chain shows roots).
pub(crate) fn hex32(b: [u8; 32]) -> String {
    colony_dao_bridge::B256::from(b).to_string()
}

/// A token amount (18 decimals) in whole tokens, e.g. `40000` or `12.5`.
pub(crate) fn tokens(v: colony_dao_bridge::U256) -> String {
    let unit = colony_dao_bridge::U256::from(10u64).pow(colony_dao_bridge::U256::from(18u64));
    let (whole, frac) = (v / unit, v % unit);
    if frac.is_zero() {
        return whole.to_string();
    }
    let digits = format!("{:0>18}", frac.to_string());
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use colony_dao_bridge::U256;

    #[test]
    fn token_amounts_read_in_whole_tokens() {
        let unit = U256::from(10u64).pow(U256::from(18u64));
        assert_eq!(super::tokens(U256::from(40_000u64) * unit), "40000");
        assert_eq!(super::tokens(unit / U256::from(2u64)), "0.5");
        assert_eq!(super::tokens(U256::ZERO), "0");
    }
}
