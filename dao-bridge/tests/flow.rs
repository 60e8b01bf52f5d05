//! The whole governance flow against a real anvil: deploy → delegate → propose → vote →
//! queue → time passes → execute → the head read back equals the proposal.

mod common;

use alloy::primitives::U256;
use colony_dao_bridge::devnet::advance;
use colony_dao_bridge::governance::{self, HeadUpdate, ProposalState, Support};
use colony_dao_bridge::{DaoError, registry};

#[tokio::test]
async fn deploy_propose_vote_queue_execute_then_head_reads_back() {
    let dn = common::devnet().await;
    let chain = common::as_dev(&dn, 0).await;
    let dep = common::deploy_dataset(&chain, "imagenet-mini").await;
    assert_eq!(dep.chain_id, 31337);
    assert_eq!(dep.rpc_url, dn.rpc_url());
    assert_eq!(dep.dataset_id, 1);

    // No head before the first proposal passes.
    let err = registry::head(&chain, dep.registry, dep.dataset_id)
        .await
        .unwrap_err();
    assert!(matches!(err, DaoError::NoHead { .. }), "{err}");

    governance::delegate(&chain, &dep, None)
        .await
        .expect("delegate");
    let head = HeadUpdate::new([0xab; 32], [0x42; 20], "iroh:ticket-for-the-data");
    let proposed = governance::propose_head(&chain, &dep, &head, "")
        .await
        .expect("propose");

    // The same proposal again is refused before any transaction.
    let dup = governance::propose_head(&chain, &dep, &head, "")
        .await
        .unwrap_err();
    assert!(dup.to_string().contains("identical proposal"), "{dup}");

    // Voting before the vote opens says why.
    let early = governance::vote(&chain, &dep, proposed.proposal_id, Support::For, None)
        .await
        .unwrap_err();
    assert!(early.to_string().contains("voting delay"), "{early}");
    eprintln!("early vote: {early}");

    advance(&chain, 2, 0).await.expect("advance");
    // A short prefix of the decimal id finds the proposal, as a user would type it.
    let short = &proposed.proposal_id.to_string()[..8];
    let id = governance::resolve_proposal(&chain, &dep, short)
        .await
        .expect("resolve");
    assert_eq!(id, proposed.proposal_id);

    let voted = governance::vote(&chain, &dep, id, Support::For, Some("looks right"))
        .await
        .expect("vote");
    let supply = U256::from(1_000_000u64) * U256::from(10u64).pow(U256::from(18u64));
    assert_eq!(voted.weight, supply);
    let again = governance::vote(&chain, &dep, id, Support::Against, None)
        .await
        .unwrap_err();
    assert!(again.to_string().contains("already voted"), "{again}");
    eprintln!("second vote: {again}");

    let info = governance::proposal(&chain, &dep, &id.to_string())
        .await
        .expect("proposal");
    assert_eq!(info.state, ProposalState::Active);
    assert_eq!(info.votes_for, supply);
    assert_eq!(info.quorum, supply * U256::from(4) / U256::from(100));
    assert_eq!(info.head.as_ref(), Some(&head));

    advance(&chain, 11, 0).await.expect("advance");
    let queued = governance::queue(&chain, &dep, id).await.expect("queue");
    assert!(queued.eta > 0);

    // Before the timelock delay has passed, execute refuses with the time left.
    let early = governance::execute(&chain, &dep, id).await.unwrap_err();
    assert!(
        early.to_string().contains("timelock delay has not passed"),
        "{early}"
    );
    eprintln!("early execute: {early}");

    advance(&chain, 1, 3601).await.expect("advance");
    governance::execute(&chain, &dep, id)
        .await
        .expect("execute");

    let anchored = registry::head(&chain, dep.registry, dep.dataset_id)
        .await
        .expect("head");
    assert_eq!(anchored.root, head.root);
    assert_eq!(anchored.commit, head.commit);
    assert_eq!(anchored.locator, head.locator);
    assert_eq!(anchored.count, 1);

    // `dao verify`: the anchored root passes, any other root fails with a clear message.
    registry::verify_root(&chain, dep.registry, dep.dataset_id, [0xab; 32])
        .await
        .expect("verify");
    let bad = registry::verify_root(&chain, dep.registry, dep.dataset_id, [0xcd; 32])
        .await
        .unwrap_err();
    assert!(matches!(bad, DaoError::RootMismatch { .. }), "{bad}");
    assert!(
        bad.to_string().contains("does not match the root anchored"),
        "{bad}"
    );
    eprintln!("verify mismatch: {bad}");

    let history = registry::head_history(&chain, dep.registry, dep.dataset_id)
        .await
        .expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].root, head.root);

    let status = governance::status(&chain, &dep).await.expect("status");
    assert_eq!(status.proposals.len(), 1);
    assert_eq!(status.proposals[0].state, ProposalState::Executed);
    assert_eq!(status.head.map(|h| h.root), Some(head.root));
    assert_eq!(status.my_votes, Some(supply));
    // The status is clean JSON for `--json`.
    let json = serde_json::to_string(&governance::status(&chain, &dep).await.unwrap()).unwrap();
    assert!(json.contains("\"state\":\"executed\""), "{json}");
    // The deployment round-trips through TOML-like serde for `.colony/config.toml`.
    let text = serde_json::to_string(&dep).unwrap();
    assert_eq!(
        serde_json::from_str::<colony_dao_bridge::Deployment>(&text).unwrap(),
        dep
    );
}
