//! `colony clone --from-chain ID DIR`: the head a community anchored, fetched from where
//! the chain says it lives, and refused unless its bytes give the anchored root.

use std::path::Path;

use colony_dao_bridge::chain::{DEVNET_CHAIN_ID, DEVNET_RPC_URL};
use colony_dao_bridge::{ChainConfig, deploy, registry};
use colony_store::ops::clone::{CloneOptions, CloneReport};
use colony_store::ops::remote::RemoteUrl;
use colony_store::{Access, Repo};

use super::{block_on, connect, hex32, write_deployment};
use crate::{CliError, Ctx};

/// What a clone from the chain did.
#[derive(Debug, serde::Serialize)]
pub struct ChainClone {
    /// The clone itself.
    #[serde(flatten)]
    pub clone: CloneReport,
    /// The dataset id in the registry.
    pub dataset_id: u64,
    /// The anchored snapshot root, recomputed from the fetched bytes and equal to it.
    pub root: String,
    /// The anchored commit, checked out.
    pub anchored_commit: String,
    /// Where the chain said the data lives.
    pub locator: String,
}

/// Reads the head of dataset `id` from `registry`, clones its locator into `dir`, checks
/// the anchored commit out and recomputes its snapshot root from the bytes; on any
/// mismatch the clone is removed and the error says what differed.
pub fn clone_from_chain(
    ctx: &Ctx,
    id: u64,
    registry: &str,
    rpc_url: Option<&str>,
    chain_id: Option<u64>,
    dir: &Path,
    opts: &CloneOptions,
) -> Result<ChainClone, CliError> {
    let registry = super::deploy::parse_address("registry address", registry)?;
    let cfg = ChainConfig {
        rpc_url: rpc_url.unwrap_or(DEVNET_RPC_URL).to_owned(),
        chain_id: chain_id.unwrap_or(DEVNET_CHAIN_ID),
    };
    let (head, dep) = block_on(async {
        let chain = connect(&cfg).await?;
        let head = registry::head(&chain, registry, id).await?;
        let dep = deploy::attach(&chain, registry, id).await?;
        Ok::<_, colony_dao_bridge::DaoError>((head, dep))
    })??;
    if head.locator.is_empty() {
        return Err(CliError::new(format!(
            "dataset {id}'s anchored head (root {}) names no locator, so there is nowhere to fetch it from",
            head.root
        ))
        .hint("the DAO can anchor the head again with a locator: `colony dao propose --locator TICKET|s3://…`"));
    }
    let url = RemoteUrl::parse(&head.locator, &ctx.cwd)?;
    let existed = dir.exists();
    let clone = Repo::clone_from(
        &url,
        dir,
        &CloneOptions {
            no_checkout: true,
            ..opts.clone()
        },
    )?;
    let checked = (|| -> Result<ChainClone, CliError> {
        let mut repo = Repo::open(dir, Access::Write, &|_| {})?;
        let commit = format!("{:x}", head.commit);
        let id_obj = repo.resolve(&commit).map_err(|_| {
            CliError::new(format!(
                "the data at {} does not contain the anchored commit {commit}",
                head.locator
            ))
            .hint("the locator serves another dataset or an older state; ask the DAO which locator is current")
        })?;
        let report = repo.verify(Some(&commit))?;
        let anchored = hex32(head.root.0);
        let computed = format!("0x{}", report.computed_root);
        if !report.ok || computed != anchored {
            return Err(CliError::new(format!(
                "refusing the data from {}: the anchored commit {commit} gives snapshot root {computed}, \
                 the chain anchors {anchored}",
                head.locator
            ))
            .hint("the data was not kept; the locator's peer serves data that does not match the chain"));
        }
        repo.reset(
            &id_obj.to_string(),
            colony_store::ops::checkout::ResetMode::Hard,
        )?;
        write_deployment(repo.config_mut(), &dep)?;
        repo.config().save()?;
        Ok(ChainClone {
            clone,
            dataset_id: id,
            root: anchored,
            anchored_commit: commit,
            locator: head.locator.clone(),
        })
    })();
    if checked.is_err() {
        if existed {
            if let Ok(rd) = std::fs::read_dir(dir) {
                for e in rd.flatten() {
                    let p = e.path();
                    let _ = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
        } else {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    checked
}
