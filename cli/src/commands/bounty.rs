//! `colony bounty post | list | show`: rewards for training a model on a snapshot, escrowed
//! in the dataset's TrainingMarket.

use clap::Subcommand;
use colony_dao_bridge::market::{self, BountyInfo, BountyParams, ClaimInfo, Market, Posted};
use colony_dao_bridge::{B256, TxRecord};

use super::dao::{block_on, connect, connect_signing, tx_line, verified_head};
use super::market::{MarketArgs, MarketCtx, record_market};
use crate::{CliError, Ctx, output};

/// Post and list rewards for training a model on a snapshot of this dataset.
///
/// A bounty escrows ETH in the dataset's TrainingMarket for a (snapshot, model spec) pair.
/// A trainer claims it with `colony run claim RUN --bounty ID`, staking the bounty's stake;
/// the claim is paid after the challenge window unless someone challenges a step, in which
/// case the dataset's DAO decides (`colony run resolve`). The market lives next to the
/// dataset's registry; the first `bounty post` deploys it and records it as `[dao] market`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Chain, key and market.
    #[command(flatten)]
    pub market: MarketArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: BountyCommand,
}

/// The `bounty` subcommands.
#[derive(Debug, Subcommand)]
pub enum BountyCommand {
    Post(PostArgs),
    List(ListArgs),
    Show(ShowArgs),
    Cancel(CancelArgs),
}

/// Escrow a reward for training a model on a revision's snapshot.
///
/// REV is verified first (every byte read back, its snapshot root recomputed); a revision
/// that does not verify is refused before anything is sent. The reward is sent from your
/// account; claims and challenges must each stake --stake. Deploys the dataset's market
/// first if it has none.
#[derive(Debug, clap::Args)]
pub struct PostArgs {
    /// The revision whose snapshot is trained on.
    pub rev: String,
    /// The model to train (e.g. `mlp:hidden=64` or a config's hash); stored as its keccak256.
    #[arg(long, value_name = "SPEC")]
    pub model: String,
    /// The reward in ETH (e.g. `1.5`; `NNNwei` for wei).
    #[arg(long, value_name = "ETH")]
    pub reward: String,
    /// What a claim and a challenge must each stake, in ETH (default: the reward).
    #[arg(long, value_name = "ETH")]
    pub stake: Option<String>,
    /// Seconds a claim stays open to challenge (default: three days).
    #[arg(long, value_name = "SECS", default_value_t = market::DEFAULT_WINDOW)]
    pub window: u64,
}

/// List the bounties posted for this dataset.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Every bounty on the market, for any dataset.
    #[arg(long)]
    pub all: bool,
}

/// Show one bounty and every claim made on it.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The bounty.
    pub id: u64,
}

/// Cancel a bounty you posted and take its reward back.
///
/// Only while it is open: not while a claim is pending or disputed, nor once paid.
#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    /// The bounty.
    pub id: u64,
}

/// Runs `colony bounty …`.
pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    match args.command {
        BountyCommand::Post(a) => post(ctx, &args.market, a),
        BountyCommand::List(a) => list(ctx, &args.market, a),
        BountyCommand::Show(a) => show(ctx, &args.market, a),
        BountyCommand::Cancel(a) => cancel(ctx, &args.market, a),
    }
}

fn post(ctx: &Ctx, margs: &MarketArgs, args: PostArgs) -> Result<i32, CliError> {
    let reward = market::parse_eth(&args.reward)?;
    let stake = match &args.stake {
        Some(s) => market::parse_eth(s)?,
        None => reward,
    };
    // Everything local first: nothing goes to the chain for data that does not verify.
    let (rev, _) = verified_head(ctx, Some(&args.rev))?;
    rev.require_ok("post a bounty for it")?;
    let mc = MarketCtx::load(ctx, margs)?;
    let dep = mc.deployment()?;
    let params = BountyParams {
        dataset_id: dep.dataset_id,
        snapshot_root: B256::from(rev.root),
        model_spec: args.model.clone(),
        reward,
        stake,
        window: args.window,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the async runtime: {e}")))?;
    let chain = rt.block_on(connect_signing(&mc.cfg, &margs.chain))?;
    let mut txs: Vec<TxRecord> = Vec::new();
    let m = match mc.market {
        Some(m) => {
            let served = rt.block_on(market::check_market(&chain, m.address))?;
            if served != dep.registry {
                return Err(CliError::new(format!(
                    "the market {} serves registry {served}, but this dataset is registered in {}",
                    m.address, dep.registry
                ))
                .hint("pass --market with a market of this registry, or remove [dao] market to deploy a new one"));
            }
            m
        }
        None => {
            let (m, tx) = rt.block_on(market::deploy_market(&chain, dep.registry))?;
            txs.push(tx);
            record_market(ctx, &m)?;
            m
        }
    };
    let posted: Posted = rt.block_on(market::post_bounty(&chain, m.address, &params))?;
    txs.push(posted.tx.clone());
    if ctx.json {
        output::json(&serde_json::json!({
            "bounty_id": posted.bounty_id,
            "market": m.address,
            "dataset_id": dep.dataset_id,
            "rev": rev.rev,
            "snapshot_root": params.snapshot_root,
            "model_spec": params.model_spec,
            "reward": reward.to_string(),
            "stake": stake.to_string(),
            "window": params.window,
            "txs": txs,
        }));
    } else if !ctx.quiet {
        println!(
            "Posted bounty {} on market {}: {} ETH for training `{}` on {} (snapshot {})",
            posted.bounty_id,
            m.address,
            market::format_eth(reward),
            params.model_spec,
            rev.rev,
            params.snapshot_root
        );
        println!(
            "  claims and challenges stake {} ETH; challenge window {} s",
            market::format_eth(stake),
            params.window
        );
        for tx in &txs {
            println!("  {}", tx_line(tx));
        }
        println!(
            "next: a trainer claims it with `colony run claim RUN --bounty {}`",
            posted.bounty_id
        );
    }
    Ok(0)
}

fn list(ctx: &Ctx, margs: &MarketArgs, args: ListArgs) -> Result<i32, CliError> {
    let mc = MarketCtx::load(ctx, margs)?;
    let Some(m) = mc.market else {
        if ctx.json {
            output::json(&serde_json::json!({ "market": null, "bounties": [] }));
        } else if !ctx.quiet {
            println!(
                "no bounties: this dataset has no training market yet (`colony bounty post` makes one)"
            );
        }
        return Ok(0);
    };
    let dataset = if args.all {
        None
    } else {
        Some(mc.deployment()?.dataset_id)
    };
    let bounties: Vec<BountyInfo> = block_on(async {
        let chain = connect(&mc.cfg).await?;
        market::bounties(&chain, &m, dataset).await
    })??;
    if ctx.json {
        output::json(&serde_json::json!({ "market": m.address, "bounties": bounties }));
        return Ok(0);
    }
    if bounties.is_empty() {
        println!("no bounties on market {}", m.address);
    }
    for b in &bounties {
        let claim = b
            .active_claim
            .map(|c| format!(" (claim {c})"))
            .unwrap_or_default();
        println!(
            "bounty {}  {}{claim}  {} ETH  stake {} ETH  dataset {}  model `{}`",
            b.id,
            b.status,
            market::format_eth(b.reward),
            market::format_eth(b.stake),
            b.dataset_id,
            b.model_spec
        );
    }
    Ok(0)
}

fn show(ctx: &Ctx, margs: &MarketArgs, args: ShowArgs) -> Result<i32, CliError> {
    let mc = MarketCtx::load(ctx, margs)?;
    let m: Market = mc.require_market()?;
    let (b, claims): (BountyInfo, Vec<ClaimInfo>) = block_on(async {
        let chain = connect(&mc.cfg).await?;
        let b = market::bounty(&chain, &m, args.id).await?;
        let claims = market::claims_of(&chain, &m, args.id).await?;
        Ok::<_, colony_dao_bridge::DaoError>((b, claims))
    })??;
    // The claim pending, disputed or paid on the bounty now (none after a rejection).
    let current = b
        .active_claim
        .and_then(|id| claims.iter().find(|c| c.id == id).cloned());
    if ctx.json {
        output::json(&serde_json::json!({
            "market": m.address,
            "bounty": b,
            "claim": current,
            "claims": claims,
        }));
        return Ok(0);
    }
    println!("bounty {} on market {}: {}", b.id, m.address, b.status);
    println!("  dataset   {}", b.dataset_id);
    println!("  snapshot  {}", b.snapshot_root);
    println!("  model     {} ({})", b.model_spec, b.model_spec_hash);
    println!("  reward    {} ETH", market::format_eth(b.reward));
    println!("  stake     {} ETH", market::format_eth(b.stake));
    println!("  window    {} s", b.window);
    println!("  poster    {} (block {})", b.poster, b.posted_block);
    if claims.is_empty() {
        println!("no claims yet");
    }
    for c in &claims {
        println!("claim {}: {} by {}", c.id, c.status, c.claimant);
        println!("  record    {}", c.values.record_hash);
        println!("  weights   {}", c.values.weights_hash);
        println!(
            "  chain     {} ({} steps)",
            c.values.chain_root, c.values.steps
        );
        println!(
            "  window    until {}",
            output::time(i64::try_from(c.deadline).unwrap_or(i64::MAX))
        );
        if let (Some(who), Some(step)) = (c.challenger, c.disputed_step) {
            println!("  challenged by {who} at step {step}");
        }
    }
    Ok(0)
}

fn cancel(ctx: &Ctx, margs: &MarketArgs, args: CancelArgs) -> Result<i32, CliError> {
    let mc = MarketCtx::load(ctx, margs)?;
    let m: Market = mc.require_market()?;
    let (b, tx) = block_on(async {
        let chain = connect_signing(&mc.cfg, &margs.chain).await?;
        let b = market::bounty(&chain, &m, args.id).await?;
        let tx = market::cancel_bounty(&chain, m.address, args.id).await?;
        Ok::<_, colony_dao_bridge::DaoError>((b, tx))
    })??;
    if ctx.json {
        output::json(&serde_json::json!({
            "bounty_id": args.id,
            "refund": b.reward.to_string(),
            "tx": tx,
        }));
    } else if !ctx.quiet {
        println!(
            "Cancelled bounty {}: {} ETH refunded to {}",
            args.id,
            market::format_eth(b.reward),
            b.poster
        );
        println!("  {}", tx_line(&tx));
    }
    Ok(0)
}
