//! `colony dao deploy`: the dataset's governance and its registration on chain.

use colony_dao_bridge::deploy::{self, DeployParams, GovernanceParams};
use colony_dao_bridge::{Address, DeployOutcome};
use colony_store::Access;

use super::{ChainArgs, block_on, connect_signing, read_config, tx_line, write_deployment};
use crate::{CliError, Ctx, output};

/// Deploy the dataset's DAO (voting token, timelock, governor) and register the dataset.
///
/// Deploys a DatasetRegistry too, unless --registry names one already on the chain. The
/// signing account receives the whole token supply: delegate it (`colony dao delegate`)
/// before proposing. Chain id, RPC URL and every address are written to `[dao]` in
/// .colony/config.toml, only after the deployment succeeded. Refuses to replace a recorded
/// deployment without --force.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset's name in the registry (default: `[dataset] name`, else the folder's name).
    #[arg(long)]
    pub name: Option<String>,
    /// The governance's settings.
    #[command(flatten)]
    pub governance: GovernanceArgs,
    /// Register in this existing DatasetRegistry instead of deploying a new one.
    #[arg(long, value_name = "ADDR")]
    pub registry: Option<String>,
    /// Deploy even though .colony/config.toml already records a deployment (replacing it).
    #[arg(long)]
    pub force: bool,
}

/// Settings of a dataset's governance (shared by `dao deploy` and `fork --dao`).
#[derive(Clone, Debug, clap::Args)]
pub struct GovernanceArgs {
    /// Voting tokens minted to the deployer (whole tokens).
    #[arg(long, default_value_t = GovernanceParams::default().supply)]
    pub supply: u64,
    /// The voting token's symbol.
    #[arg(long, default_value_t = GovernanceParams::default().token_symbol)]
    pub symbol: String,
    /// Blocks between a proposal and the opening of its vote.
    #[arg(long, value_name = "BLOCKS", default_value_t = GovernanceParams::default().voting_delay)]
    pub voting_delay: u32,
    /// Blocks a vote stays open (50400 is about a week of 12-second blocks).
    #[arg(long, value_name = "BLOCKS", default_value_t = GovernanceParams::default().voting_period)]
    pub voting_period: u32,
    /// Percent of the token supply that must vote for or abstain.
    #[arg(long, value_name = "PERCENT", default_value_t = GovernanceParams::default().quorum_percent)]
    pub quorum: u8,
    /// Seconds between queueing a passed proposal and executing it.
    #[arg(long, value_name = "SECS", default_value_t = GovernanceParams::default().timelock_delay)]
    pub timelock_delay: u64,
}

impl GovernanceArgs {
    /// The governance settings these options describe.
    pub fn params(&self) -> GovernanceParams {
        GovernanceParams {
            token_name: None,
            token_symbol: self.symbol.clone(),
            supply: self.supply,
            voting_delay: self.voting_delay,
            voting_period: self.voting_period,
            quorum_percent: self.quorum,
            timelock_delay: self.timelock_delay,
        }
    }
}

/// Parses an Ethereum address given on the command line.
pub(crate) fn parse_address(what: &str, s: &str) -> Result<Address, CliError> {
    s.trim().parse::<Address>().map_err(|e| {
        CliError::new(format!("invalid {what} `{s}`: {e}"))
            .hint("an address is 0x followed by 40 hex digits")
    })
}

pub fn run(ctx: &Ctx, chain_args: &ChainArgs, args: Args) -> Result<i32, CliError> {
    let registry = args
        .registry
        .as_deref()
        .map(|r| parse_address("registry address", r))
        .transpose()?;
    let mut repo = ctx.open(Access::Write)?;
    let dao = read_config(repo.config())?;
    if let Some(dep) = &dao.deployment
        && !args.force
    {
        return Err(CliError::new(format!(
            "this dataset already has a DAO: dataset {} in registry {} on chain {}",
            dep.dataset_id, dep.registry, dep.chain_id
        ))
        .hint("pass --force to deploy a new one and record it instead"));
    }
    let name = args
        .name
        .clone()
        .or_else(|| repo.config().get_str("dataset.name").map(str::to_owned))
        .or_else(|| {
            repo.root()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "dataset".to_owned());
    let cfg = dao.chain(chain_args);
    let params = DeployParams {
        name,
        governance: args.governance.params(),
        registry,
    };
    let outcome: DeployOutcome = block_on(async {
        let chain = connect_signing(&cfg, chain_args).await?;
        deploy::deploy(&chain, &params).await
    })??;
    let dep = &outcome.deployment;
    let config = repo.config_mut();
    write_deployment(config, dep)?;
    if let Err(e) = config.save() {
        return Err(CliError::new(format!(
            "deployed, but could not record it in .colony/config.toml: {e}; the deployment is: \
             registry {}, dataset id {}, token {}, timelock {}, governor {} (chain {})",
            dep.registry, dep.dataset_id, dep.token, dep.timelock, dep.governor, dep.chain_id
        ))
        .hint("fix the problem and add these under [dao] by hand"));
    }
    if ctx.json {
        output::json(&outcome);
    } else if !ctx.quiet {
        println!(
            "Deployed the DAO of dataset {} ({}) on chain {} at {}",
            dep.dataset_id, dep.name, dep.chain_id, dep.rpc_url
        );
        println!("  registry  {}", dep.registry);
        println!("  token     {}", dep.token);
        println!("  timelock  {}", dep.timelock);
        println!("  governor  {}", dep.governor);
        let gas: u64 = outcome.txs.iter().map(|t| t.gas_used).sum();
        for tx in &outcome.txs {
            println!("  {}", tx_line(tx));
        }
        println!("  total gas {gas}; recorded in .colony/config.toml [dao]");
        println!("next: `colony dao delegate`, then `colony dao propose`");
    }
    Ok(0)
}
