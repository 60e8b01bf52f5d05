//! `colony dao status | head | verify`: what the chain says, and local data checked against it.

use colony_dao_bridge::check_anchor;
use colony_dao_bridge::governance::{self, DaoStatus};
use colony_dao_bridge::registry;

use super::{ChainArgs, block_on, connect, dataset_config, tokens, verified_head};
use crate::{CliError, Ctx, output};

/// Show the DAO: chain position, anchored head, governance settings and every proposal.
///
/// Each proposal with its state (pending, active, succeeded, queued, executed, …), votes for,
/// against and abstaining, quorum, voting window and, once queued, when it can be executed.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {}

pub fn status(ctx: &Ctx, chain_args: &ChainArgs, _args: StatusArgs) -> Result<i32, CliError> {
    let dao = dataset_config(ctx)?;
    let cfg = dao.chain(chain_args);
    let dep = dao.deployment(&cfg)?;
    let s: DaoStatus = block_on(async {
        let chain = connect(&cfg).await?;
        governance::status(&chain, &dep).await
    })??;
    if ctx.json {
        output::json(&serde_json::json!({
            "dataset_id": dep.dataset_id,
            "name": dep.name,
            "registry": dep.registry,
            "governor": dep.governor,
            "timelock": dep.timelock,
            "token": dep.token,
            "rpc_url": dep.rpc_url,
            "status": s,
        }));
        return Ok(0);
    }
    println!(
        "dataset {} ({}) on chain {} at {}; block {}, {}",
        dep.dataset_id,
        dep.name,
        s.chain_id,
        dep.rpc_url,
        s.block,
        output::time(i64::try_from(s.timestamp).unwrap_or(i64::MAX))
    );
    match &s.head {
        Some(h) => println!(
            "head: root {} commit {} (block {})",
            h.root, h.commit, h.block
        ),
        None => println!("head: none anchored yet"),
    }
    println!(
        "governance: voting delay {} blocks, voting period {} blocks, quorum {} %, timelock {} s",
        s.voting_delay, s.voting_period, s.quorum_percent, s.timelock_delay
    );
    if s.proposals.is_empty() {
        println!("no proposals (propose a head with `colony dao propose`)");
    }
    for p in &s.proposals {
        println!("proposal {}  {}", p.id, p.state);
        match &p.head {
            Some(h) => println!("  head: root {} commit {}", h.root, h.commit),
            // Not a head move (a training-market resolution, say): its description says what.
            None => println!("  {}", p.description),
        }
        println!(
            "  votes (tokens): for {} against {} abstain {} (quorum {})",
            tokens(p.votes_for),
            tokens(p.votes_against),
            tokens(p.votes_abstain),
            tokens(p.quorum)
        );
        println!("  vote: blocks {}..={}", p.vote_start + 1, p.vote_end);
        if let Some(eta) = p.eta {
            println!(
                "  executable from {}",
                output::time(i64::try_from(eta).unwrap_or(i64::MAX))
            );
        }
    }
    Ok(0)
}

/// Show the head anchored on chain: snapshot root, commit id, locator.
#[derive(Debug, clap::Args)]
pub struct HeadArgs {
    /// Show every head the dataset has had, oldest first.
    #[arg(long)]
    pub history: bool,
}

pub fn head(ctx: &Ctx, chain_args: &ChainArgs, args: HeadArgs) -> Result<i32, CliError> {
    let dao = dataset_config(ctx)?;
    let cfg = dao.chain(chain_args);
    let dep = dao.deployment(&cfg)?;
    if args.history {
        let h = block_on(async {
            let chain = connect(&cfg).await?;
            registry::head_history(&chain, dep.registry, dep.dataset_id).await
        })??;
        if ctx.json {
            output::json(&h);
        } else {
            for e in &h {
                println!(
                    "{}  root {} commit {} (block {}){}",
                    e.seq,
                    e.root,
                    e.commit,
                    e.block,
                    if e.locator.is_empty() {
                        String::new()
                    } else {
                        format!(" at {}", e.locator)
                    }
                );
            }
        }
        return Ok(0);
    }
    let h = block_on(async {
        let chain = connect(&cfg).await?;
        registry::head(&chain, dep.registry, dep.dataset_id).await
    })??;
    if ctx.json {
        output::json(&h);
    } else {
        println!("dataset {} ({})", dep.dataset_id, dep.name);
        println!("root     {}", h.root);
        println!("commit   {}", h.commit);
        if !h.locator.is_empty() {
            println!("locator  {}", h.locator);
        }
        println!("set in block {} (head #{})", h.block, h.count);
    }
    Ok(0)
}

/// Check a revision against the head anchored on chain; exit 0 only when they match.
///
/// Reads every byte of REV back, recomputes its snapshot root and compares it with the root
/// the DAO anchored. Exits 1, naming both roots, when they differ or when REV's data does
/// not verify locally.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The revision to check (default: HEAD).
    pub rev: Option<String>,
}

pub fn verify(ctx: &Ctx, chain_args: &ChainArgs, args: VerifyArgs) -> Result<i32, CliError> {
    let (rev, dao) = verified_head(ctx, args.rev.as_deref())?;
    rev.require_ok("check it against the chain")?;
    let cfg = dao.chain(chain_args);
    let dep = dao.deployment(&cfg)?;
    let check = block_on(async {
        let chain = connect(&cfg).await?;
        check_anchor(&chain, &dep, &rev.rev, &rev.commit_hex, rev.root).await
    })??;
    if ctx.json {
        output::json(&check);
    }
    match (&check.error, &check.anchored_commit) {
        (None, _) => {
            if !ctx.json && !ctx.quiet {
                println!(
                    "ok: {} (commit {}) has snapshot root {}, the head anchored for dataset {}",
                    rev.rev,
                    rev.commit_hex,
                    check
                        .anchored_root
                        .map(|r| r.to_string())
                        .unwrap_or_default(),
                    dep.dataset_id
                );
            }
            Ok(0)
        }
        (Some(msg), anchored_commit) => {
            eprintln!("error: {msg}");
            eprintln!(
                "hint: check out the anchored data with `colony checkout {}`, or propose this \
                 revision with `colony dao propose {}`",
                anchored_commit
                    .as_deref()
                    .unwrap_or_default()
                    .trim_start_matches("0x"),
                rev.rev
            );
            Ok(1)
        }
    }
}
