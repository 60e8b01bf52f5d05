//! The on-chain halves of `colony fork --dao` and `colony lineage --dao`.

use colony_dao_bridge::registry::{self, ForkParams};
use colony_dao_bridge::{Chain, DatasetInfo, DeployOutcome, Deployment, FixedBytes, HeadUpdate};
use colony_store::ops::fork::ForkReport;
use colony_store::{Access, Repo};

use super::deploy::GovernanceArgs;
use super::{
    ChainArgs, block_on, connect, connect_signing, dataset_config, read_config, tx_line,
    write_deployment,
};
use crate::{CliError, Ctx, output};

/// Options of `colony fork --dao`: the chain and key, and the fork's own governance.
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "On chain (with --dao)")]
pub struct ForkDaoArgs {
    /// Chain and key (default: the parent's `[dao]` chain).
    #[command(flatten)]
    pub chain: ChainArgs,
    /// The fork's governance.
    #[command(flatten)]
    pub governance: GovernanceArgs,
}

/// A fork registration, checked against the chain before the local fork is made.
pub struct ForkPlan {
    rt: tokio::runtime::Runtime,
    chain: Chain,
    parent: Deployment,
    governance: colony_dao_bridge::GovernanceParams,
}

/// Checks, before anything is forked, that the parent has a DAO and that its chain answers
/// (right chain id, a usable key), so a failure there leaves nothing behind.
pub fn prepare(src: &Repo, args: &ForkDaoArgs) -> Result<ForkPlan, CliError> {
    let dao = read_config(src.config())?;
    let cfg = dao.chain(&args.chain);
    let parent = dao.deployment(&cfg).map_err(|e| {
        CliError::new(format!(
            "cannot register the fork on chain: the parent has no DAO ({})",
            e.message
        ))
        .hint("deploy the parent's DAO with `colony dao deploy` first, or fork without --dao")
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the async runtime: {e}")))?;
    let chain = rt.block_on(connect_signing(&cfg, &args.chain))?;
    Ok(ForkPlan {
        rt,
        chain,
        parent,
        governance: args.governance.params(),
    })
}

/// What `fork --dao` adds to the fork's report.
#[derive(Debug, serde::Serialize)]
pub struct ForkDaoReport {
    /// The parent's dataset id on chain.
    pub parent_id: u64,
    /// The fork's registration and governance, and every transaction.
    #[serde(flatten)]
    pub outcome: DeployOutcome,
}

/// Registers the fork `r` (made at `r.path`) with its parent and fork point and a governance
/// of its own, and records the fork's deployment in its `[dao]`.
pub fn register(plan: ForkPlan, r: &ForkReport) -> Result<ForkDaoReport, CliError> {
    let failed = |e: CliError| {
        CliError::new(format!(
            "the fork was made at {}, but registering it on chain failed: {}",
            r.path, e.message
        ))
        .hint(
            "the fork still carries its parent's [dao] settings; remove the fork and try again \
             once the problem is fixed",
        )
    };
    let commit = r
        .parent
        .fork_commit
        .as_deref()
        .ok_or_else(|| failed(CliError::new("the parent has no commit to fork from")))?;
    let commit: FixedBytes<20> = commit
        .parse()
        .map_err(|e| failed(CliError::new(format!("bad fork commit id {commit}: {e}"))))?;
    let root = r
        .parent
        .fork_root
        .ok_or_else(|| failed(CliError::new("the fork point records no snapshot root")))?;
    let name = r.name.clone().unwrap_or_else(|| {
        std::path::Path::new(&r.path)
            .file_name()
            .map_or_else(|| "fork".to_owned(), |n| n.to_string_lossy().into_owned())
    });
    let params = ForkParams {
        parent_id: plan.parent.dataset_id,
        name,
        fork_point: HeadUpdate::new(*root.as_bytes(), commit.0, ""),
        governance: plan.governance.clone(),
    };
    let outcome = plan
        .rt
        .block_on(registry::register_fork(
            &plan.chain,
            plan.parent.registry,
            &params,
        ))
        .map_err(|e| failed(e.into()))?;
    let mut fork = Repo::open(std::path::Path::new(&r.path), Access::Write, &|_| {})
        .map_err(|e| failed(e.into()))?;
    write_deployment(fork.config_mut(), &outcome.deployment)?;
    fork.config().save().map_err(|e| failed(e.into()))?;
    Ok(ForkDaoReport {
        parent_id: plan.parent.dataset_id,
        outcome,
    })
}

/// Prints what `fork --dao` did, for people.
pub fn print_fork(r: &ForkDaoReport) {
    let d = &r.outcome.deployment;
    println!(
        "Registered the fork on chain {} as dataset {} (parent {}) in registry {}",
        d.chain_id, d.dataset_id, r.parent_id, d.registry
    );
    println!(
        "  governor {}  timelock {}  token {}",
        d.governor, d.timelock, d.token
    );
    for tx in &r.outcome.txs {
        println!("  {}", tx_line(tx));
    }
}

/// The dataset's lineage as the registry records it: itself, its parent, …, the origin.
pub fn lineage(ctx: &Ctx, args: &ChainArgs) -> Result<Vec<DatasetInfo>, CliError> {
    let dao = dataset_config(ctx)?;
    let cfg = dao.chain(args);
    let dep = dao.deployment(&cfg)?;
    let l = block_on(async {
        let chain = connect(&cfg).await?;
        registry::lineage(&chain, dep.registry, dep.dataset_id).await
    })??;
    Ok(l)
}

/// Prints on-chain lineage, for people.
pub fn print_lineage(l: &[DatasetInfo]) {
    println!("on chain:");
    for d in l {
        match (d.parent_id, d.fork_root, d.fork_commit) {
            (Some(p), root, commit) => println!(
                "  dataset {} ({})  forked from dataset {p} at root {} commit {}",
                d.id,
                d.name,
                root.map_or_else(|| "-".to_owned(), |r| r.to_string()),
                commit.map_or_else(
                    || "-".to_owned(),
                    |c| output::short(c.to_string().trim_start_matches("0x")).to_owned()
                ),
            ),
            (None, _, _) => println!("  dataset {} ({})  origin", d.id, d.name),
        }
    }
}

/// The JSON `fork` prints: its report, with `dao` added when the fork was registered.
pub fn fork_json(r: &ForkReport, dao: Option<&ForkDaoReport>) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or(serde_json::Value::Null);
    if let (Some(d), Some(obj)) = (dao, v.as_object_mut()) {
        obj.insert(
            "dao".to_owned(),
            serde_json::to_value(d).unwrap_or(serde_json::Value::Null),
        );
    }
    v
}

/// The JSON `lineage --dao` prints: the local report with `chain` added.
pub fn lineage_json<T: serde::Serialize>(local: &T, chain: &[DatasetInfo]) -> serde_json::Value {
    let mut v = serde_json::to_value(local).unwrap_or(serde_json::Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "chain".to_owned(),
            serde_json::to_value(chain).unwrap_or(serde_json::Value::Null),
        );
    }
    v
}
