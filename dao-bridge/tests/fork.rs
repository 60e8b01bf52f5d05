//! Fork registration with a governance of its own, and lineage read back from chain.

mod common;

use colony_dao_bridge::devnet::advance;
use colony_dao_bridge::governance::{self, HeadUpdate, Support};
use colony_dao_bridge::registry::{self, ForkParams};
use colony_dao_bridge::{DaoError, Deployment};

async fn move_head(chain: &colony_dao_bridge::Chain, dep: &Deployment, head: &HeadUpdate) {
    governance::delegate(chain, dep, None)
        .await
        .expect("delegate");
    let p = governance::propose_head(chain, dep, head, "move")
        .await
        .expect("propose");
    advance(chain, 2, 0).await.unwrap();
    governance::vote(chain, dep, p.proposal_id, Support::For, None)
        .await
        .expect("vote");
    advance(chain, 11, 0).await.unwrap();
    governance::queue(chain, dep, p.proposal_id)
        .await
        .expect("queue");
    advance(chain, 1, 3601).await.unwrap();
    governance::execute(chain, dep, p.proposal_id)
        .await
        .expect("execute");
}

#[tokio::test]
async fn fork_gets_its_own_governance_and_lineage_reads_back() {
    let dn = common::devnet().await;
    let alice = common::as_dev(&dn, 0).await;
    let origin = common::deploy_dataset(&alice, "origin").await;
    let anchored = HeadUpdate::new([0x11; 32], [0x22; 20], "iroh:origin");
    move_head(&alice, &origin, &anchored).await;

    // Bob forks at the origin's head, with a governance of his own.
    let bob = common::as_dev(&dn, 1).await;
    let params = ForkParams {
        parent_id: origin.dataset_id,
        name: "origin-curated".to_owned(),
        fork_point: anchored.clone(),
        governance: common::short_governance(),
    };
    let fork = registry::register_fork(&bob, origin.registry, &params)
        .await
        .expect("fork")
        .deployment;
    assert_eq!(fork.registry, origin.registry);
    assert_eq!(fork.dataset_id, 2);
    assert_ne!(fork.timelock, origin.timelock);
    assert_ne!(fork.governor, origin.governor);

    // The fork's head starts at its fork point.
    let h = registry::head(&bob, fork.registry, fork.dataset_id)
        .await
        .expect("fork head");
    assert_eq!(
        (h.root, h.commit, h.locator.as_str()),
        (anchored.root, anchored.commit, "iroh:origin")
    );

    // Its own governance moves its head; the origin's does not move.
    let curated = HeadUpdate::new([0x33; 32], [0x44; 20], "iroh:curated");
    move_head(&bob, &fork, &curated).await;
    assert_eq!(
        registry::head(&bob, fork.registry, fork.dataset_id)
            .await
            .unwrap()
            .root,
        curated.root
    );
    assert_eq!(
        registry::head(&bob, origin.registry, origin.dataset_id)
            .await
            .unwrap()
            .root,
        anchored.root
    );
    let history = registry::head_history(&bob, fork.registry, fork.dataset_id)
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|e| e.root).collect::<Vec<_>>(),
        vec![anchored.root, curated.root]
    );

    // A fork of the fork; lineage runs back to the origin.
    let carol = common::as_dev(&dn, 2).await;
    let grand = registry::register_fork(
        &carol,
        origin.registry,
        &ForkParams {
            parent_id: fork.dataset_id,
            name: "grandchild".to_owned(),
            fork_point: curated.clone(),
            governance: common::short_governance(),
        },
    )
    .await
    .expect("second fork")
    .deployment;
    let line = registry::lineage(&carol, grand.registry, grand.dataset_id)
        .await
        .expect("lineage");
    let names: Vec<_> = line.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["grandchild", "origin-curated", "origin"]);
    assert_eq!(line[0].parent_id, Some(fork.dataset_id));
    assert_eq!(line[0].fork_root, Some(curated.root));
    assert_eq!(line[0].registrant, carol.sender().unwrap());
    assert_eq!(line[1].parent_id, Some(origin.dataset_id));
    assert_eq!(line[1].fork_root, Some(anchored.root));
    assert_eq!(line[1].fork_commit, Some(anchored.commit));
    assert_eq!(line[1].governance, fork.timelock);
    assert_eq!(line[2].parent_id, None);
    assert_eq!(line[2].governance, origin.timelock);

    // A fork of a dataset that does not exist is refused before anything is deployed.
    let err = registry::register_fork(
        &carol,
        origin.registry,
        &ForkParams {
            parent_id: 99,
            ..params.clone()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DaoError::UnknownDataset { .. }), "{err}");
}
