//! What must be refused, with messages that say why: a head move by anyone but the
//! dataset's timelock, a wrong chain id (on connect and on every later call), an unreachable
//! endpoint, actions without a key.

mod common;

use alloy::providers::{Provider, ProviderBuilder};
use colony_dao_bridge::governance::{self, HeadUpdate};
use colony_dao_bridge::{Chain, ChainConfig, DaoError, registry};

#[tokio::test]
async fn direct_set_head_from_a_non_timelock_account_names_the_caller() {
    let dn = common::devnet().await;
    let alice = common::as_dev(&dn, 0).await;
    let dep = common::deploy_dataset(&alice, "refusals").await;
    let mallory = common::as_dev(&dn, 2).await;
    let head = HeadUpdate::new([1; 32], [2; 20], "");
    for chain in [&mallory, &alice] {
        let err = registry::set_head_direct(chain, dep.registry, dep.dataset_id, &head)
            .await
            .unwrap_err();
        let caller = chain.sender().unwrap();
        match &err {
            DaoError::NotDatasetGovernance {
                caller: c,
                governance,
                dataset_id,
            } => {
                assert_eq!(*c, caller);
                assert_eq!(*governance, dep.timelock);
                assert_eq!(*dataset_id, alloy::primitives::U256::from(dep.dataset_id));
            }
            other => panic!("expected NotDatasetGovernance, got {other:?}"),
        }
        let msg = err.to_string();
        eprintln!("direct setHead: {msg}");
        assert!(msg.contains(&caller.to_string()), "{msg}");
        assert!(msg.contains(&dep.timelock.to_string()), "{msg}");
        assert!(msg.contains("colony dao propose"), "{msg}");
    }
    // Nothing moved.
    let none = registry::head(&alice, dep.registry, dep.dataset_id)
        .await
        .unwrap_err();
    assert!(matches!(none, DaoError::NoHead { .. }), "{none}");
}

#[tokio::test]
async fn wrong_chain_id_is_refused_on_connect_and_on_every_call() {
    let dn = common::devnet().await;
    let wrong = ChainConfig {
        rpc_url: dn.rpc_url().to_owned(),
        chain_id: 1,
    };
    let err = Chain::connect(&wrong).await.unwrap_err();
    assert!(
        matches!(
            err,
            DaoError::ChainIdMismatch {
                expected: 1,
                actual: 31337,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("serves chain id 31337"), "{err}");
    eprintln!("wrong chain id: {err}");
    let err = Chain::connect_with_signer(&wrong, &common::dev(0))
        .await
        .unwrap_err();
    assert!(matches!(err, DaoError::ChainIdMismatch { .. }), "{err}");

    // A connection that was right when made is checked again on every call.
    let chain = common::as_dev(&dn, 0).await;
    let dep = common::deploy_dataset(&chain, "chain-id").await;
    let raw = ProviderBuilder::new().connect_http(dn.rpc_url().parse().unwrap());
    let _: serde_json::Value = raw
        .raw_request("anvil_setChainId".into(), (5u64,))
        .await
        .unwrap();
    let err = governance::delegate(&chain, &dep, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            DaoError::ChainIdMismatch {
                expected: 31337,
                actual: 5,
                ..
            }
        ),
        "{err}"
    );
    let err = registry::head(&chain, dep.registry, dep.dataset_id)
        .await
        .unwrap_err();
    assert!(matches!(err, DaoError::ChainIdMismatch { .. }), "{err}");
    let err = governance::status(&chain, &dep).await.unwrap_err();
    assert!(matches!(err, DaoError::ChainIdMismatch { .. }), "{err}");
}

#[tokio::test]
async fn unreachable_rpc_gives_a_clear_error() {
    // A loopback port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = ChainConfig {
        rpc_url: format!("http://127.0.0.1:{port}"),
        chain_id: 31337,
    };
    let err = Chain::connect(&cfg).await.unwrap_err();
    assert!(matches!(err, DaoError::RpcUnreachable { .. }), "{err:?}");
    let msg = err.to_string();
    eprintln!("unreachable: {msg}");
    assert!(
        msg.contains(&cfg.rpc_url) && msg.contains("colony dao devnet"),
        "{msg}"
    );
    let err = Chain::connect_with_signer(&cfg, &common::dev(0))
        .await
        .unwrap_err();
    assert!(matches!(err, DaoError::RpcUnreachable { .. }), "{err:?}");

    // Hosted endpoints carry API keys in the URL; errors never show them.
    let keyed = ChainConfig {
        rpc_url: format!("http://127.0.0.1:{port}/v3/SECRETKEY"),
        chain_id: 1,
    };
    let msg = Chain::connect(&keyed).await.unwrap_err().to_string();
    assert!(
        !msg.contains("SECRETKEY") && msg.contains("127.0.0.1"),
        "{msg}"
    );

    let bad = ChainConfig {
        rpc_url: "not a url".to_owned(),
        chain_id: 1,
    };
    assert!(matches!(
        Chain::connect(&bad).await.unwrap_err(),
        DaoError::InvalidRpcUrl { .. }
    ));
}

#[tokio::test]
async fn sending_without_a_key_says_how_to_give_one() {
    let dn = common::devnet().await;
    let chain = common::as_dev(&dn, 0).await;
    let dep = common::deploy_dataset(&chain, "read-only").await;
    let ro = Chain::connect(dn.config()).await.unwrap();
    let err = governance::delegate(&ro, &dep, None).await.unwrap_err();
    assert!(err.to_string().contains("ETH_PRIVATE_KEY"), "{err}");
    // Reading works without a key.
    governance::status(&ro, &dep)
        .await
        .expect("status without a key");
}

#[tokio::test]
async fn a_defeated_proposal_cannot_be_queued_and_the_head_stays() {
    use colony_dao_bridge::devnet::advance;
    use colony_dao_bridge::governance::{ProposalState, Support};
    let dn = common::devnet().await;
    let chain = common::as_dev(&dn, 0).await;
    let dep = common::deploy_dataset(&chain, "defeated").await;
    governance::delegate(&chain, &dep, None).await.unwrap();
    let head = HeadUpdate::new([5; 32], [6; 20], "");
    let p = governance::propose_head(&chain, &dep, &head, "bad head")
        .await
        .unwrap();
    advance(&chain, 2, 0).await.unwrap();
    governance::vote(
        &chain,
        &dep,
        p.proposal_id,
        Support::Against,
        Some("wrong data"),
    )
    .await
    .unwrap();
    advance(&chain, 11, 0).await.unwrap();
    let info = governance::proposal(&chain, &dep, p.proposal_id)
        .await
        .unwrap();
    assert_eq!(info.state, ProposalState::Defeated);
    let err = governance::queue(&chain, &dep, p.proposal_id)
        .await
        .unwrap_err();
    let msg = err.to_string();
    eprintln!("queue defeated: {msg}");
    assert!(
        msg.contains("Defeated") && msg.contains("did not pass"),
        "{msg}"
    );
    let err = registry::head(&chain, dep.registry, dep.dataset_id)
        .await
        .unwrap_err();
    assert!(matches!(err, DaoError::NoHead { .. }), "{err}");
}
