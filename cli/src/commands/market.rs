//! `colony run claim | challenge | finalize | resolve`: training runs on the dataset's
//! `TrainingMarket` (claim a bounty with a run, challenge a claim, pay it, resolve a dispute
//! through the DAO), and the market lookup `colony bounty` shares.
//!
//! The subcommands are one enum, [`MarketRunCommand`], so that it can be flattened into a
//! larger `colony run` command (`#[command(flatten)]`) next to the run records' own
//! subcommands.

use clap::Subcommand;
use colony_dao_bridge::market::{self, ClaimValues, Market};
use colony_dao_bridge::{B256, ChainConfig, Deployment};
use colony_store::{Access, Repo};

use super::dao::deploy::parse_address;
use super::dao::{ChainArgs, DaoConfig, block_on, connect_signing, read_config, tx_line};
use crate::{CliError, Ctx, output};

/// Which market to use: the chain and key options, and `--market`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct MarketArgs {
    /// Chain and key.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// The TrainingMarket contract (default: `[dao] market` in .colony/config.toml, which
    /// the first `colony bounty post` records after deploying one).
    #[arg(long, global = true, value_name = "ADDR")]
    pub market: Option<String>,
}

/// Where the market is, for one command: the dataset's DAO, the chain, and the market if known.
pub(crate) struct MarketCtx {
    /// `[dao]` of the dataset.
    pub dao: DaoConfig,
    /// The chain in use.
    pub cfg: ChainConfig,
    /// The market given or recorded, if any.
    pub market: Option<Market>,
}

impl MarketCtx {
    /// Reads the dataset's `[dao]` (releasing the store lock at once) and the market.
    pub fn load(ctx: &Ctx, args: &MarketArgs) -> Result<Self, CliError> {
        let repo = ctx.open(Access::Read)?;
        let dao = read_config(repo.config())?;
        let cfg = dao.chain(&args.chain);
        let market = match &args.market {
            Some(a) => Some(Market {
                address: parse_address("market address", a)?,
                start_block: 0,
            }),
            None => recorded_market(&repo)?,
        };
        Ok(Self { dao, cfg, market })
    }

    /// The dataset's deployment on the chain in use.
    pub fn deployment(&self) -> Result<Deployment, CliError> {
        self.dao.deployment(&self.cfg)
    }

    /// The market, or an error saying how to get one.
    pub fn require_market(&self) -> Result<Market, CliError> {
        self.market.ok_or_else(|| {
            CliError::new(
                "this dataset has no training market: .colony/config.toml has no [dao] market",
            )
            .hint("`colony bounty post` deploys one on first use; or pass --market ADDR")
        })
    }
}

/// The market recorded under `[dao] market` / `market_block`.
fn recorded_market(repo: &Repo) -> Result<Option<Market>, CliError> {
    let Some(a) = repo.config().get_str("dao.market") else {
        return Ok(None);
    };
    let address = parse_address("[dao] market in .colony/config.toml", a)?;
    let start_block = repo
        .config()
        .get("dao.market_block")
        .and_then(|v| v.as_integer())
        .and_then(|i| u64::try_from(i).ok())
        .unwrap_or(0);
    Ok(Some(Market {
        address,
        start_block,
    }))
}

/// Records `market` under `[dao]` of the dataset around `ctx.cwd`.
pub(crate) fn record_market(ctx: &Ctx, market: &Market) -> Result<(), CliError> {
    let mut repo = ctx.open(Access::Write)?;
    let config = repo.config_mut();
    config.set(
        "dao.market",
        toml::Value::String(market.address.to_string().to_lowercase()),
    );
    config.set(
        "dao.market_block",
        toml::Value::Integer(i64::try_from(market.start_block).unwrap_or(i64::MAX)),
    );
    config.save().map_err(|e| {
        CliError::new(format!(
            "could not record the market {} in .colony/config.toml: {e}",
            market.address
        ))
        .hint("add `market = \"ADDR\"` under [dao] by hand, or pass --market ADDR")
    })
}

/// What a run contributes to a claim.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunClaimValues {
    /// Record hash, weights hash, chain root and step count.
    pub values: ClaimValues,
    /// The snapshot the run trained on, checked against the bounty's before staking.
    pub snapshot_root: Option<B256>,
}

/// The claim values of run `run` in `repo`: its record's hash, its final weights' hash,
/// the root of its step-hash chain, its step count and snapshot root.
pub(crate) fn run_claim_values(repo: &Repo, run: &str) -> Result<RunClaimValues, CliError> {
    let stored = colony_trainer_hook::record::read_run(repo, run)?;
    let v = colony_trainer_hook::record::claim_values(repo, run)?;
    let root = stored.record.snapshot.root.trim_start_matches("0x");
    let snapshot_root = root.parse::<B256>().ok();
    let steps = stored
        .record
        .config
        .as_ref()
        .map_or(stored.record.losses.len() as u64, |c| c.steps);
    Ok(RunClaimValues {
        values: ClaimValues {
            record_hash: B256::from(v.record_hash),
            weights_hash: B256::from(v.final_weights),
            chain_root: B256::from(v.chain_root),
            steps,
        },
        snapshot_root,
    })
}

/// The on-chain `run` subcommands.
#[derive(Debug, Subcommand)]
pub enum MarketRunCommand {
    Claim(ClaimArgs),
    Challenge(ChallengeArgs),
    Finalize(FinalizeArgs),
    Resolve(ResolveArgs),
}

/// Claim a bounty with a training run, staking the bounty's stake.
///
/// Posts the run record's hash, the final weights' hash, the root of the per-step hash
/// chain and the step count. The bounty takes no other claim while this one is pending or
/// disputed. Without RUN, give the four values explicitly (a run recorded elsewhere).
#[derive(Debug, clap::Args)]
pub struct ClaimArgs {
    /// The run whose record is claimed.
    #[arg(required_unless_present = "record_hash")]
    pub run: Option<String>,
    /// The bounty to claim.
    #[arg(long, value_name = "ID")]
    pub bounty: u64,
    /// The run record's hash (0x + 64 hex digits), instead of RUN.
    #[arg(long, value_name = "HASH", conflicts_with = "run",
          requires_all = ["weights_hash", "chain_root", "steps"])]
    pub record_hash: Option<String>,
    /// The final weights' hash, instead of RUN.
    #[arg(long, value_name = "HASH", requires = "record_hash")]
    pub weights_hash: Option<String>,
    /// The root of the per-step hash chain, instead of RUN.
    #[arg(long, value_name = "HASH", requires = "record_hash")]
    pub chain_root: Option<String>,
    /// The number of steps, instead of RUN.
    #[arg(long, value_name = "N", requires = "record_hash")]
    pub steps: Option<u64>,
    /// Chain, key and market.
    #[command(flatten)]
    pub market: MarketArgs,
}

/// Challenge a claim during its window, naming the step whose hash is wrong.
///
/// Counter-stakes the bounty's stake. Steps count from 0. The dataset's DAO then decides
/// (`colony run resolve`); re-execute the step first (`colony run verify`) and attach its
/// output as evidence to the proposal.
#[derive(Debug, clap::Args)]
pub struct ChallengeArgs {
    /// The claim.
    pub claim: u64,
    /// The disputed step (0-based).
    #[arg(long, value_name = "K")]
    pub step: u64,
    /// Chain, key and market.
    #[command(flatten)]
    pub market: MarketArgs,
}

/// Pay an unchallenged claim after its window: reward and stake go to the claimant.
///
/// Anyone may finalize; the claimant is paid whoever sends it.
#[derive(Debug, clap::Args)]
pub struct FinalizeArgs {
    /// The claim.
    pub claim: u64,
    /// Chain, key and market.
    #[command(flatten)]
    pub market: MarketArgs,
}

/// Propose the DAO's verdict on a challenged claim.
///
/// Creates a Governor proposal that has the dataset's timelock call `resolve` on the market;
/// vote on it, queue and execute it with `colony dao vote | queue | execute`. With
/// --challenger-wins the claim is rejected, the claimant's stake goes to the challenger and
/// the bounty reopens; with --claimant-wins the claimant gets the reward and the
/// challenger's stake.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("verdict").required(true).args(["challenger_wins", "claimant_wins"])))]
pub struct ResolveArgs {
    /// The claim.
    pub claim: u64,
    /// The claim was wrong: slash the claimant.
    #[arg(long)]
    pub challenger_wins: bool,
    /// The claim was right: slash the challenger.
    #[arg(long)]
    pub claimant_wins: bool,
    /// The proposal's description, e.g. the evidence (default: one naming the claim and verdict).
    #[arg(long, short = 'm')]
    pub description: Option<String>,
    /// Chain, key and market.
    #[command(flatten)]
    pub market: MarketArgs,
}

/// Runs `colony run …`.
/// Runs one of the on-chain `run` subcommands.
pub fn run_market(ctx: &Ctx, cmd: MarketRunCommand) -> Result<i32, CliError> {
    match cmd {
        MarketRunCommand::Claim(a) => claim(ctx, a),
        MarketRunCommand::Challenge(a) => challenge(ctx, a),
        MarketRunCommand::Finalize(a) => finalize(ctx, a),
        MarketRunCommand::Resolve(a) => resolve(ctx, a),
    }
}

fn parse_hash(what: &str, s: &str) -> Result<B256, CliError> {
    s.trim().parse::<B256>().map_err(|e| {
        CliError::new(format!("invalid {what} `{s}`: {e}"))
            .hint("a hash is 0x followed by 64 hex digits")
    })
}

fn claim(ctx: &Ctx, args: ClaimArgs) -> Result<i32, CliError> {
    let run = match (&args.run, &args.record_hash) {
        (Some(run), _) => {
            let repo = ctx.open(Access::Read)?;
            run_claim_values(&repo, run)?
        }
        (None, Some(record)) => RunClaimValues {
            values: ClaimValues {
                record_hash: parse_hash("record hash", record)?,
                weights_hash: parse_hash(
                    "weights hash",
                    args.weights_hash.as_deref().unwrap_or(""),
                )?,
                chain_root: parse_hash("chain root", args.chain_root.as_deref().unwrap_or(""))?,
                steps: args.steps.unwrap_or(0),
            },
            snapshot_root: None,
        },
        (None, None) => {
            return Err(CliError::new(
                "name a RUN, or give --record-hash and the rest",
            ));
        }
    };
    let mc = MarketCtx::load(ctx, &args.market)?;
    let m = mc.require_market()?;
    let claimed = block_on(async {
        let chain = connect_signing(&mc.cfg, &args.market.chain).await?;
        let b = market::bounty(&chain, &m, args.bounty).await?;
        if let Some(root) = run.snapshot_root
            && root != b.snapshot_root
        {
            return Err(colony_dao_bridge::DaoError::InvalidParam {
                what: "claim".to_owned(),
                reason: format!(
                    "the run trained on snapshot {root}, but bounty {} is for snapshot {}; \
                     nothing was staked",
                    args.bounty, b.snapshot_root
                ),
            });
        }
        market::claim(&chain, m.address, args.bounty, &run.values).await
    })??;
    if ctx.json {
        output::json(&serde_json::json!({
            "claim_id": claimed.claim_id,
            "bounty_id": args.bounty,
            "values": run.values,
            "stake": claimed.stake.to_string(),
            "deadline": claimed.deadline,
            "market": m.address,
            "tx": claimed.tx,
        }));
    } else if !ctx.quiet {
        println!(
            "Claimed bounty {} as claim {} (staked {} ETH)",
            args.bounty,
            claimed.claim_id,
            market::format_eth(claimed.stake)
        );
        println!(
            "  open to challenge until {}",
            output::time(i64::try_from(claimed.deadline).unwrap_or(i64::MAX))
        );
        println!("  {}", tx_line(&claimed.tx));
        println!(
            "next: after the window, `colony run finalize {}`",
            claimed.claim_id
        );
    }
    Ok(0)
}

fn challenge(ctx: &Ctx, args: ChallengeArgs) -> Result<i32, CliError> {
    let mc = MarketCtx::load(ctx, &args.market)?;
    let m = mc.require_market()?;
    let (tx, info) = block_on(async {
        let chain = connect_signing(&mc.cfg, &args.market.chain).await?;
        let tx = market::challenge(&chain, m.address, args.claim, args.step).await?;
        let info = market::claim_info(&chain, m.address, args.claim).await?;
        Ok::<_, colony_dao_bridge::DaoError>((tx, info))
    })??;
    if ctx.json {
        output::json(&serde_json::json!({ "claim": info, "tx": tx }));
    } else if !ctx.quiet {
        println!(
            "Challenged claim {} at step {} (bounty {})",
            args.claim, args.step, info.bounty_id
        );
        println!("  {}", tx_line(&tx));
        println!(
            "next: the dataset's DAO decides: `colony run resolve {} --challenger-wins`, then \
             `colony dao vote`, `dao queue`, `dao execute`",
            args.claim
        );
    }
    Ok(0)
}

fn finalize(ctx: &Ctx, args: FinalizeArgs) -> Result<i32, CliError> {
    let mc = MarketCtx::load(ctx, &args.market)?;
    let m = mc.require_market()?;
    let paid = block_on(async {
        let chain = connect_signing(&mc.cfg, &args.market.chain).await?;
        market::finalize(&chain, m.address, args.claim).await
    })??;
    if ctx.json {
        output::json(&serde_json::json!({
            "claim_id": args.claim,
            "paid_to": paid.to,
            "amount": paid.amount.to_string(),
            "tx": paid.tx,
        }));
    } else if !ctx.quiet {
        println!(
            "Finalized claim {}: paid {} ETH to {}",
            args.claim,
            market::format_eth(paid.amount),
            paid.to
        );
        println!("  {}", tx_line(&paid.tx));
    }
    Ok(0)
}

fn resolve(ctx: &Ctx, args: ResolveArgs) -> Result<i32, CliError> {
    let mc = MarketCtx::load(ctx, &args.market)?;
    let m = mc.require_market()?;
    let dep = mc.deployment()?;
    let challenger_wins = args.challenger_wins;
    let description = args.description.clone().unwrap_or_default();
    let p = block_on(async {
        let chain = connect_signing(&mc.cfg, &args.market.chain).await?;
        market::propose_resolution(
            &chain,
            &dep,
            m.address,
            args.claim,
            challenger_wins,
            &description,
        )
        .await
    })??;
    if ctx.json {
        output::json(&serde_json::json!({
            "proposal_id": p.proposal_id.to_string(),
            "claim_id": args.claim,
            "challenger_wins": challenger_wins,
            "vote_start": p.vote_start,
            "vote_end": p.vote_end,
            "tx": p.tx,
        }));
    } else if !ctx.quiet {
        let verdict = if challenger_wins {
            "the challenger wins"
        } else {
            "the claimant wins"
        };
        println!("Proposed resolving claim {}: {verdict}", args.claim);
        println!("  proposal {}", p.proposal_id);
        println!(
            "  the vote opens after block {} and closes at block {}",
            p.vote_start, p.vote_end
        );
        println!("  {}", tx_line(&p.tx));
        println!(
            "next: `colony dao vote {} for`, then `colony dao queue` and `colony dao execute`",
            p.proposal_id
        );
    }
    Ok(0)
}
