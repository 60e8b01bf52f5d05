//! The dev chain itself: anvil starts on a free loopback port, time and blocks move on
//! request, anvil dies with its handle; a keystore key signs real transactions; a deployment
//! can be found again from the registry alone.

mod common;

use alloy::providers::{Provider, ProviderBuilder};
use colony_dao_bridge::devnet::{self, Devnet, DevnetOptions};
use colony_dao_bridge::signer::{KeySource, Password, PasswordSource};
use colony_dao_bridge::{Chain, DaoError, Signer, deploy};

#[tokio::test]
async fn advance_moves_blocks_and_time_and_drop_stops_anvil() {
    let dn = common::devnet().await;
    assert!(dn.rpc_url().starts_with("http://127.0.0.1:"));
    let chain = Chain::connect(dn.config()).await.unwrap();
    let b0 = chain.block_number().await.unwrap();
    let t0 = chain.latest_timestamp().await.unwrap();
    let b1 = devnet::advance(&chain, 5, 0).await.unwrap();
    assert_eq!(b1, b0 + 5);
    let b2 = devnet::advance(&chain, 0, 86_400).await.unwrap();
    assert_eq!(
        b2,
        b1 + 1,
        "moving time mines one block so that it takes effect"
    );
    assert!(chain.latest_timestamp().await.unwrap() >= t0 + 86_400);

    let cfg = dn.config().clone();
    drop(dn);
    let err = Chain::connect(&cfg).await.unwrap_err();
    assert!(
        matches!(err, DaoError::RpcUnreachable { .. }),
        "anvil outlived its handle: {err}"
    );
}

#[tokio::test]
async fn a_taken_port_is_refused() {
    let dn = common::devnet().await;
    let port: u16 = dn.rpc_url().rsplit(':').next().unwrap().parse().unwrap();
    let err = Devnet::spawn(&DevnetOptions {
        port: Some(port),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("already in use"), "{err}");
}

#[tokio::test]
async fn keystore_key_signs_transactions() {
    let dn = common::devnet().await;
    let dir = tempfile::tempdir().unwrap();
    let (fresh, path) =
        Signer::new_keystore(dir.path(), "deployer.json", &Password::new("s3cret".into())).unwrap();
    let pw = dir.path().join("password.txt");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let source = KeySource::Keystore {
        path,
        password: PasswordSource::File(pw),
    };
    let signer = Signer::load(&source).unwrap();
    assert_eq!(signer.address(), fresh.address());
    // Fund the fresh account on the dev chain, then deploy with it.
    let raw = ProviderBuilder::new().connect_http(dn.rpc_url().parse().unwrap());
    let _: serde_json::Value = raw
        .raw_request(
            "anvil_setBalance".into(),
            (signer.address(), "0x56bc75e2d63100000"),
        )
        .await
        .unwrap();
    let chain = Chain::connect_with_signer(dn.config(), &signer)
        .await
        .unwrap();
    let dep = common::deploy_dataset(&chain, "from-keystore").await;
    let info = colony_dao_bridge::registry::dataset(&chain, dep.registry, dep.dataset_id)
        .await
        .unwrap();
    assert_eq!(info.registrant, signer.address());
}

#[tokio::test]
async fn attach_finds_the_governance_from_the_registry() {
    let dn = common::devnet().await;
    let chain = common::as_dev(&dn, 0).await;
    let dep = common::deploy_dataset(&chain, "attach-me").await;
    let reader = Chain::connect(dn.config()).await.unwrap();
    let found = deploy::attach(&reader, dep.registry, dep.dataset_id)
        .await
        .unwrap();
    assert_eq!(found.governor, dep.governor);
    assert_eq!(found.token, dep.token);
    assert_eq!(found.timelock, dep.timelock);
    assert_eq!(found.name, "attach-me");
    assert!(found.start_block <= dep.start_block + 2);
    let err = deploy::attach(&reader, dep.registry, 42).await.unwrap_err();
    assert!(matches!(err, DaoError::UnknownDataset { .. }), "{err}");
}

#[tokio::test]
async fn state_file_keeps_deployments_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("devnet-state.json");
    let opts = DevnetOptions {
        state_file: Some(state.clone()),
        ..Default::default()
    };
    let dn = Devnet::spawn(&opts)
        .await
        .expect("anvil (setup: `npm ci --prefix dao-bridge`)");
    let chain = common::as_dev(&dn, 0).await;
    let dep = common::deploy_dataset(&chain, "persisted").await;
    drop(dn);
    assert!(state.is_file(), "anvil wrote no state on a polite stop");

    let dn = Devnet::spawn(&opts).await.unwrap();
    let chain = Chain::connect(dn.config()).await.unwrap();
    let info = colony_dao_bridge::registry::dataset(&chain, dep.registry, dep.dataset_id)
        .await
        .unwrap();
    assert_eq!(info.name, "persisted");
    assert_eq!(info.governance, dep.timelock);
}
