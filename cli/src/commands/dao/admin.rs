//! `colony dao advance` (local chains) and the hidden `colony dao set-head` (a debugging aid
//! showing that only the dataset's governance can move its head).

use colony_dao_bridge::{HeadUpdate, devnet, registry};

use super::{
    ChainArgs, block_on, connect, connect_signing, dataset_config, tx_line, verified_head,
};
use crate::{CliError, Ctx, output};

/// Move a LOCAL dev chain forward: its clock by --seconds, then --blocks blocks.
///
/// For local chains (anvil, `colony dao devnet`) only, to get past a voting period or a
/// timelock delay without waiting; a real chain refuses it.
#[derive(Debug, clap::Args)]
pub struct AdvanceArgs {
    /// Blocks to mine (at least one when --seconds is given, so the new time takes effect).
    #[arg(long, default_value_t = 1)]
    pub blocks: u64,
    /// Seconds to move the clock forward.
    #[arg(long, default_value_t = 0)]
    pub seconds: u64,
}

pub fn advance(ctx: &Ctx, chain_args: &ChainArgs, args: AdvanceArgs) -> Result<i32, CliError> {
    // Works outside a dataset too, on the options or the default devnet.
    let dao = dataset_config(ctx).unwrap_or_default();
    let cfg = dao.chain(chain_args);
    let (block, timestamp) = block_on(async {
        let chain = connect(&cfg).await?;
        let block = devnet::advance(&chain, args.blocks, args.seconds).await?;
        let ts = chain.latest_timestamp().await?;
        Ok::<_, colony_dao_bridge::DaoError>((block, ts))
    })??;
    if ctx.json {
        output::json(&serde_json::json!({ "block": block, "timestamp": timestamp }));
    } else if !ctx.quiet {
        println!(
            "chain at block {block}, {}",
            output::time(i64::try_from(timestamp).unwrap_or(i64::MAX))
        );
    }
    Ok(0)
}

/// Call the registry's setHead directly (debugging): only the dataset's timelock may, so
/// from any other account this fails and says why.
#[derive(Debug, clap::Args)]
pub struct SetHeadArgs {
    /// The revision whose root and commit to set (default: HEAD).
    pub rev: Option<String>,
}

pub fn set_head(ctx: &Ctx, chain_args: &ChainArgs, args: SetHeadArgs) -> Result<i32, CliError> {
    let (rev, dao) = verified_head(ctx, args.rev.as_deref())?;
    rev.require_ok("set it")?;
    let cfg = dao.chain(chain_args);
    let dep = dao.deployment(&cfg)?;
    let head = HeadUpdate::new(rev.root, rev.commit, "");
    let tx = block_on(async {
        let chain = connect_signing(&cfg, chain_args).await?;
        registry::set_head_direct(&chain, dep.registry, dep.dataset_id, &head).await
    })??;
    if ctx.json {
        output::json(&tx);
    } else if !ctx.quiet {
        println!("{}", tx_line(&tx));
    }
    Ok(0)
}
