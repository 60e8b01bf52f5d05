//! Shared helpers: a real anvil per test, funded dev accounts, and short governance settings.

#![allow(dead_code)]

use colony_dao_bridge::deploy::{self, DeployParams, Deployment, GovernanceParams};
use colony_dao_bridge::devnet::{self, Devnet, DevnetOptions};
use colony_dao_bridge::{Chain, Signer};

/// Starts anvil; fails the test (never skips it) when anvil is missing, with the setup command.
pub async fn devnet() -> Devnet {
    match Devnet::spawn(&DevnetOptions::default()).await {
        Ok(d) => d,
        Err(e) => panic!(
            "these tests need a real anvil: {e}\n(setup: `npm ci --prefix dao-bridge` from the repository root)"
        ),
    }
}

/// anvil's funded dev account `i`.
pub fn dev(i: usize) -> Signer {
    devnet::dev_signer(i).expect("dev key")
}

/// A connection sending as dev account `i`.
pub async fn as_dev(d: &Devnet, i: usize) -> Chain {
    Chain::connect_with_signer(d.config(), &dev(i))
        .await
        .expect("connect to anvil")
}

/// Governance short enough for tests: 1-block delay, 10-block vote, 4 % quorum, 1 h timelock.
pub fn short_governance() -> GovernanceParams {
    GovernanceParams {
        voting_delay: 1,
        voting_period: 10,
        quorum_percent: 4,
        timelock_delay: 3600,
        ..GovernanceParams::default()
    }
}

/// Deploys a fresh registry and a dataset named `name` with [`short_governance`].
pub async fn deploy_dataset(chain: &Chain, name: &str) -> Deployment {
    let params = DeployParams {
        name: name.to_owned(),
        governance: short_governance(),
        registry: None,
    };
    deploy::deploy(chain, &params)
        .await
        .expect("deploy")
        .deployment
}
