//! `colony dao delegate | propose | vote | queue | execute`: moving the head by a vote.

use colony_dao_bridge::governance::{self, Proposed};
use colony_dao_bridge::{HeadUpdate, Support};

use super::deploy::parse_address;
use super::{
    ChainArgs, block_on, connect_signing, dataset_config, hex32, tokens, tx_line, verified_head,
};
use crate::{CliError, Ctx, output};

/// Delegate your voting tokens (to yourself by default), which makes them count.
///
/// Votes count only once delegated, and only in proposals made after the delegation:
/// delegate before proposing.
#[derive(Debug, clap::Args)]
pub struct DelegateArgs {
    /// The account to delegate to (default: yourself).
    #[arg(value_name = "ADDR")]
    pub to: Option<String>,
}

pub fn delegate(ctx: &Ctx, chain_args: &ChainArgs, args: DelegateArgs) -> Result<i32, CliError> {
    let to = args
        .to
        .as_deref()
        .map(|a| parse_address("delegate address", a))
        .transpose()?;
    let dao = dataset_config(ctx)?;
    let cfg = dao.chain(chain_args);
    let dep = dao.deployment(&cfg)?;
    let (tx, me) = block_on(async {
        let chain = connect_signing(&cfg, chain_args).await?;
        let tx = governance::delegate(&chain, &dep, to).await?;
        Ok::<_, colony_dao_bridge::DaoError>((tx, chain.sender()))
    })??;
    let delegatee = to.or(me);
    if ctx.json {
        output::json(&serde_json::json!({ "delegatee": delegatee, "tx": tx }));
    } else if !ctx.quiet {
        match delegatee {
            Some(d) => println!("Delegated your votes to {d}"),
            None => println!("Delegated your votes"),
        }
        println!("  {}", tx_line(&tx));
    }
    Ok(0)
}

/// Propose anchoring a revision as the dataset's head (its snapshot root and commit id).
///
/// REV is verified first: every byte is read back and its snapshot root recomputed. A
/// revision that does not verify is refused before anything is sent to the chain. The
/// proposal asks the dataset's governor to call `setHead` on the registry with the
/// recomputed root, the commit id and the locator; vote on it with `colony dao vote`.
#[derive(Debug, clap::Args)]
pub struct ProposeArgs {
    /// The revision to anchor (default: HEAD).
    pub rev: Option<String>,
    /// The proposal's description (default: one naming the dataset, root and commit).
    #[arg(long, short = 'm')]
    pub description: Option<String>,
    /// Where voters and clones can fetch the data (an iroh ticket, a URL, …).
    #[arg(long, default_value = "")]
    pub locator: String,
}

pub fn propose(ctx: &Ctx, chain_args: &ChainArgs, args: ProposeArgs) -> Result<i32, CliError> {
    // Everything local first: nothing goes to the chain for data that does not verify.
    let (rev, dao) = verified_head(ctx, args.rev.as_deref())?;
    rev.require_ok("propose it")?;
    let cfg = dao.chain(chain_args);
    let dep = dao.deployment(&cfg)?;
    let head = HeadUpdate::new(rev.root, rev.commit, args.locator.clone());
    let description = args.description.clone().unwrap_or_default();
    let p: Proposed = block_on(async {
        let chain = connect_signing(&cfg, chain_args).await?;
        governance::propose_head(&chain, &dep, &head, &description).await
    })??;
    if ctx.json {
        output::json(&serde_json::json!({
            "proposal_id": p.proposal_id.to_string(),
            "rev": rev.rev,
            "commit": rev.commit_hex,
            "root": hex32(rev.root),
            "locator": args.locator,
            "vote_start": p.vote_start,
            "vote_end": p.vote_end,
            "tx": p.tx,
        }));
    } else if !ctx.quiet {
        println!(
            "Proposed head {} (commit {})",
            hex32(rev.root),
            rev.commit_hex
        );
        println!("  proposal {}", p.proposal_id);
        println!(
            "  the vote opens after block {} and closes at block {}",
            p.vote_start, p.vote_end
        );
        println!("  {}", tx_line(&p.tx));
        println!("next: `colony dao vote {} for`", p.proposal_id);
    }
    Ok(0)
}

/// Vote on a proposal: for, against or abstain.
///
/// Your voting power is what was delegated to you when the proposal was made.
#[derive(Debug, clap::Args)]
pub struct VoteArgs {
    /// The proposal id (or a unique leading part of it, at least 4 digits).
    pub id: String,
    /// Your vote.
    #[arg(value_parser = ["for", "against", "abstain"])]
    pub support: String,
    /// Why, recorded on chain with the vote.
    #[arg(long)]
    pub reason: Option<String>,
}

pub fn vote(ctx: &Ctx, chain_args: &ChainArgs, args: VoteArgs) -> Result<i32, CliError> {
    let support: Support = args.support.parse()?;
    let dao = dataset_config(ctx)?;
    let cfg = dao.chain(chain_args);
    let dep = dao.deployment(&cfg)?;
    let voted = block_on(async {
        let chain = connect_signing(&cfg, chain_args).await?;
        governance::vote(&chain, &dep, &args.id, support, args.reason.as_deref()).await
    })??;
    if ctx.json {
        output::json(&voted);
    } else if !ctx.quiet {
        println!(
            "Voted {} on proposal {} with {} tokens",
            args.support,
            args.id,
            tokens(voted.weight)
        );
        println!("  {}", tx_line(&voted.tx));
        if voted.weight.is_zero() {
            eprintln!(
                "warning: your vote counted zero: no votes were delegated to you when the proposal \
                 was made (delegate with `colony dao delegate` before proposing)"
            );
        }
    }
    Ok(0)
}

/// Queue a passed proposal in the timelock; it can be executed once the delay has passed.
#[derive(Debug, clap::Args)]
pub struct QueueArgs {
    /// The proposal id (or a unique leading part of it, at least 4 digits).
    pub id: String,
}

pub fn queue(ctx: &Ctx, chain_args: &ChainArgs, args: QueueArgs) -> Result<i32, CliError> {
    let dao = dataset_config(ctx)?;
    let cfg = dao.chain(chain_args);
    let dep = dao.deployment(&cfg)?;
    let queued = block_on(async {
        let chain = connect_signing(&cfg, chain_args).await?;
        governance::queue(&chain, &dep, &args.id).await
    })??;
    if ctx.json {
        output::json(&queued);
    } else if !ctx.quiet {
        println!(
            "Queued proposal {}; it can be executed from {} ({})",
            args.id,
            queued.eta,
            output::time(i64::try_from(queued.eta).unwrap_or(i64::MAX))
        );
        println!("  {}", tx_line(&queued.tx));
    }
    Ok(0)
}

/// Execute a queued proposal whose timelock delay has passed: the anchored head moves.
#[derive(Debug, clap::Args)]
pub struct ExecuteArgs {
    /// The proposal id (or a unique leading part of it, at least 4 digits).
    pub id: String,
}

pub fn execute(ctx: &Ctx, chain_args: &ChainArgs, args: ExecuteArgs) -> Result<i32, CliError> {
    let dao = dataset_config(ctx)?;
    let cfg = dao.chain(chain_args);
    let dep = dao.deployment(&cfg)?;
    let (tx, head) = block_on(async {
        let chain = connect_signing(&cfg, chain_args).await?;
        let tx = governance::execute(&chain, &dep, &args.id).await?;
        // A proposal may do something else than move the head (resolve a training-market
        // dispute, say), so there may be no head yet.
        let head =
            match colony_dao_bridge::registry::head(&chain, dep.registry, dep.dataset_id).await {
                Ok(h) => Some(h),
                Err(colony_dao_bridge::DaoError::NoHead { .. }) => None,
                Err(e) => return Err(e),
            };
        Ok::<_, colony_dao_bridge::DaoError>((tx, head))
    })??;
    if ctx.json {
        output::json(&serde_json::json!({ "tx": tx, "head": head }));
    } else if !ctx.quiet {
        println!("Executed proposal {}", args.id);
        println!("  {}", tx_line(&tx));
        match head {
            Some(h) => println!("  anchored head: root {} commit {}", h.root, h.commit),
            None => println!("  no head anchored yet"),
        }
    }
    Ok(0)
}
