//! The training market on a real anvil: an honest claim paid after its window; a wrong claim
//! challenged, resolved by the dataset's DAO through a real Governor proposal
//! (propose → vote → queue → execute) and its stake slashed to the challenger; refusals
//! (challenge after the window, resolve by a non-governance account, a wrong stake, …).

#![allow(missing_docs, clippy::too_many_arguments)]

mod common;

use alloy::network::EthereumWallet;
use alloy::primitives::{B256, U256};
use alloy::providers::ProviderBuilder;
use alloy::signers::local::PrivateKeySigner;
use colony_dao_bridge::devnet::advance;
use colony_dao_bridge::governance::{self, ProposalState, Support};
use colony_dao_bridge::market::{
    self, BountyParams, BountyStatus, ClaimStatus, ClaimValues, Market,
};
use colony_dao_bridge::{Chain, DaoError, Deployment};

alloy::sol!(
    #[sol(rpc)]
    TrainingMarket,
    "artifacts/TrainingMarket.json"
);

fn eth(milli: u64) -> U256 {
    U256::from(milli) * U256::from(10u64).pow(U256::from(15u64))
}

fn values(tag: u8) -> ClaimValues {
    ClaimValues {
        record_hash: B256::repeat_byte(tag),
        weights_hash: B256::repeat_byte(tag.wrapping_add(1)),
        chain_root: B256::repeat_byte(tag.wrapping_add(2)),
        steps: 100,
    }
}

/// A dataset with a market and one bounty: reward 1 ETH, stake 0.25 ETH, window 1 h.
async fn setup(alice: &Chain) -> (Deployment, Market, u64) {
    let dep = common::deploy_dataset(alice, "market").await;
    let (m, tx) = market::deploy_market(alice, dep.registry)
        .await
        .expect("deploy market");
    eprintln!("GAS deploy TrainingMarket {}", tx.gas_used);
    assert_eq!(
        market::check_market(alice, m.address).await.unwrap(),
        dep.registry
    );
    let posted = market::post_bounty(
        alice,
        m.address,
        &BountyParams {
            dataset_id: dep.dataset_id,
            snapshot_root: B256::repeat_byte(0xab),
            model_spec: "mlp:hidden=64,steps=100".to_owned(),
            reward: eth(1000),
            stake: eth(250),
            window: 3600,
        },
    )
    .await
    .expect("post bounty");
    eprintln!("GAS postBounty {}", posted.tx.gas_used);
    (dep, m, posted.bounty_id)
}

#[tokio::test]
async fn honest_claim_is_paid_after_the_window() {
    let dn = common::devnet().await;
    let alice = common::as_dev(&dn, 0).await;
    let (_dep, m, bounty_id) = setup(&alice).await;
    let info = market::bounty(&alice, &m, bounty_id).await.unwrap();
    assert_eq!(info.status, BountyStatus::Open);
    assert_eq!(info.model_spec, "mlp:hidden=64,steps=100");
    assert_eq!(
        info.model_spec_hash,
        market::model_spec_hash("mlp:hidden=64,steps=100")
    );
    assert_eq!(info.reward, eth(1000));
    assert_eq!(market::bounties(&alice, &m, None).await.unwrap().len(), 1);
    assert!(
        market::bounties(&alice, &m, Some(99))
            .await
            .unwrap()
            .is_empty()
    );

    let bob = common::as_dev(&dn, 1).await;
    let bob_addr = bob.sender().unwrap();
    let before = market::balance(&bob, bob_addr).await.unwrap();
    let claimed = market::claim(&bob, m.address, bounty_id, &values(1))
        .await
        .expect("claim");
    eprintln!("GAS claim {}", claimed.tx.gas_used);
    assert_eq!(claimed.stake, eth(250));
    let c = market::claim_info(&bob, m.address, claimed.claim_id)
        .await
        .unwrap();
    assert_eq!(c.status, ClaimStatus::Pending);
    assert_eq!(c.values, values(1));
    assert_eq!(c.claimant, bob_addr);
    assert_eq!(c.challenger, None);
    let b = market::bounty(&alice, &m, bounty_id).await.unwrap();
    assert_eq!(b.status, BountyStatus::Claimed);
    assert_eq!(b.active_claim, Some(claimed.claim_id));

    // A second claim while one is pending is refused: one claim at a time.
    let carol = common::as_dev(&dn, 2).await;
    let err = market::claim(&carol, m.address, bounty_id, &values(7))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("is not open: it is claimed"),
        "{err}"
    );

    // Finalizing inside the window is refused and says until when.
    let early = market::finalize(&carol, m.address, claimed.claim_id)
        .await
        .unwrap_err();
    assert!(
        early.to_string().contains("still open to challenge"),
        "{early}"
    );
    eprintln!("early finalize: {early}");

    advance(&alice, 1, 3601).await.unwrap();
    // Anyone may finalize; the claimant is paid reward + stake.
    let paid = market::finalize(&carol, m.address, claimed.claim_id)
        .await
        .expect("finalize");
    eprintln!("GAS finalize {}", paid.tx.gas_used);
    assert_eq!(paid.to, bob_addr);
    assert_eq!(paid.amount, eth(1250));
    let after = market::balance(&bob, bob_addr).await.unwrap();
    let claim_fee = claimed.tx.fee;
    // Bob paid the stake and the claim's fee, and got the stake back plus the reward.
    assert_eq!(after + claim_fee, before + eth(1000));
    assert_eq!(
        market::balance(&alice, m.address).await.unwrap(),
        U256::ZERO
    );
    let c = market::claim_info(&bob, m.address, claimed.claim_id)
        .await
        .unwrap();
    assert_eq!(c.status, ClaimStatus::Finalized);
    assert_eq!(
        market::bounty(&alice, &m, bounty_id).await.unwrap().status,
        BountyStatus::Paid
    );
    // Paid once only.
    let again = market::finalize(&carol, m.address, claimed.claim_id)
        .await
        .unwrap_err();
    assert!(
        again.to_string().contains("is finalized, not pending"),
        "{again}"
    );
}

#[tokio::test]
async fn wrong_claim_is_challenged_and_slashed_by_a_dao_vote() {
    let dn = common::devnet().await;
    let alice = common::as_dev(&dn, 0).await;
    let (dep, m, bounty_id) = setup(&alice).await;
    let bob = common::as_dev(&dn, 1).await;
    let carol = common::as_dev(&dn, 2).await;
    let carol_addr = carol.sender().unwrap();
    let claimed = market::claim(&bob, m.address, bounty_id, &values(1))
        .await
        .expect("claim");

    // Resolving an unchallenged claim is refused before any proposal.
    let err = market::propose_resolution(&alice, &dep, m.address, claimed.claim_id, true, "")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not challenged"), "{err}");

    let carol_before = market::balance(&carol, carol_addr).await.unwrap();
    let out_of_range = market::challenge(&carol, m.address, claimed.claim_id, 100)
        .await
        .unwrap_err();
    assert!(
        out_of_range.to_string().contains("steps 0 to 99; step 100"),
        "{out_of_range}"
    );
    let ch = market::challenge(&carol, m.address, claimed.claim_id, 42)
        .await
        .expect("challenge");
    eprintln!("GAS challenge {}", ch.gas_used);
    let c = market::claim_info(&carol, m.address, claimed.claim_id)
        .await
        .unwrap();
    assert_eq!(c.status, ClaimStatus::Challenged);
    assert_eq!(c.challenger, Some(carol_addr));
    assert_eq!(c.disputed_step, Some(42));
    // Once challenged, the claim can neither be challenged again nor finalized.
    let twice = market::challenge(&alice, m.address, claimed.claim_id, 1)
        .await
        .unwrap_err();
    assert!(
        twice.to_string().contains("is challenged, not pending"),
        "{twice}"
    );
    advance(&alice, 1, 3601).await.unwrap();
    let fin = market::finalize(&bob, m.address, claimed.claim_id)
        .await
        .unwrap_err();
    assert!(
        fin.to_string().contains("is challenged, not pending"),
        "{fin}"
    );

    // The DAO decides: propose → vote → queue → (timelock) → execute.
    governance::delegate(&alice, &dep, None).await.unwrap();
    let proposed = market::propose_resolution(&alice, &dep, m.address, claimed.claim_id, true, "")
        .await
        .expect("propose resolution");
    eprintln!("GAS propose(resolve) {}", proposed.tx.gas_used);
    advance(&alice, 2, 0).await.unwrap();
    governance::vote(
        &alice,
        &dep,
        proposed.proposal_id,
        Support::For,
        Some("step 42 differs"),
    )
    .await
    .expect("vote");
    advance(&alice, 11, 0).await.unwrap();
    governance::queue(&alice, &dep, proposed.proposal_id)
        .await
        .expect("queue");
    advance(&alice, 1, 3601).await.unwrap();
    let exec = governance::execute(&alice, &dep, proposed.proposal_id)
        .await
        .expect("execute");
    eprintln!("GAS execute(resolve) {}", exec.gas_used);
    let info = governance::proposal(&alice, &dep, proposed.proposal_id)
        .await
        .unwrap();
    assert_eq!(info.state, ProposalState::Executed);
    assert!(info.head.is_none());

    // The claimant's stake went to the challenger, on top of the challenger's own stake back.
    let carol_after = market::balance(&carol, carol_addr).await.unwrap();
    let ch_fee = ch.fee;
    assert_eq!(carol_after + ch_fee, carol_before + eth(250));
    let c = market::claim_info(&carol, m.address, claimed.claim_id)
        .await
        .unwrap();
    assert_eq!(c.status, ClaimStatus::Rejected);
    // The reward stays escrowed and the bounty takes claims again.
    assert_eq!(market::balance(&alice, m.address).await.unwrap(), eth(1000));
    let b = market::bounty(&alice, &m, bounty_id).await.unwrap();
    assert_eq!(b.status, BountyStatus::Open);
    assert_eq!(b.active_claim, None);
    let second = market::claim(&carol, m.address, bounty_id, &values(9))
        .await
        .expect("a new claim on the reopened bounty");
    assert!(second.claim_id > claimed.claim_id);
}

#[tokio::test]
async fn dao_can_uphold_a_challenged_claim() {
    let dn = common::devnet().await;
    let alice = common::as_dev(&dn, 0).await;
    let (dep, m, bounty_id) = setup(&alice).await;
    let bob = common::as_dev(&dn, 1).await;
    let bob_addr = bob.sender().unwrap();
    let carol = common::as_dev(&dn, 2).await;
    let before = market::balance(&bob, bob_addr).await.unwrap();
    let claimed = market::claim(&bob, m.address, bounty_id, &values(1))
        .await
        .unwrap();
    market::challenge(&carol, m.address, claimed.claim_id, 3)
        .await
        .unwrap();
    governance::delegate(&alice, &dep, None).await.unwrap();
    let p = market::propose_resolution(&alice, &dep, m.address, claimed.claim_id, false, "")
        .await
        .unwrap();
    advance(&alice, 2, 0).await.unwrap();
    governance::vote(&alice, &dep, p.proposal_id, Support::For, None)
        .await
        .unwrap();
    advance(&alice, 11, 0).await.unwrap();
    governance::queue(&alice, &dep, p.proposal_id)
        .await
        .unwrap();
    advance(&alice, 1, 3601).await.unwrap();
    let exec = governance::execute(&alice, &dep, p.proposal_id)
        .await
        .unwrap();
    eprintln!("GAS execute(resolve, claimant wins) {}", exec.gas_used);
    let after = market::balance(&bob, bob_addr).await.unwrap();
    let claim_fee = claimed.tx.fee;
    // Reward plus the challenger's slashed stake.
    assert_eq!(after + claim_fee, before + eth(1250));
    let c = market::claim_info(&bob, m.address, claimed.claim_id)
        .await
        .unwrap();
    assert_eq!(c.status, ClaimStatus::Upheld);
    assert_eq!(
        market::bounty(&alice, &m, bounty_id).await.unwrap().status,
        BountyStatus::Paid
    );
    assert_eq!(
        market::balance(&alice, m.address).await.unwrap(),
        U256::ZERO
    );
}

#[tokio::test]
async fn refusals_say_what_was_wrong() {
    let dn = common::devnet().await;
    let alice = common::as_dev(&dn, 0).await;
    let (dep, m, bounty_id) = setup(&alice).await;
    let bob = common::as_dev(&dn, 1).await;
    let carol = common::as_dev(&dn, 2).await;

    // A bounty for a dataset the registry does not have.
    let err = market::post_bounty(
        &alice,
        m.address,
        &BountyParams {
            dataset_id: 77,
            snapshot_root: B256::repeat_byte(1),
            model_spec: "x".to_owned(),
            reward: eth(1),
            stake: eth(1),
            window: 60,
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no dataset 77"), "{err}");

    // A wrong stake (sent around the library, which always sends the right one).
    let key: PrivateKeySigner =
        "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"
            .parse()
            .unwrap();
    let raw = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key))
        .connect_http(dn.rpc_url().parse().unwrap());
    let tm = TrainingMarket::new(m.address, &raw);
    let v = values(1);
    let e = tm
        .claim(
            U256::from(bounty_id),
            v.record_hash,
            v.weights_hash,
            v.chain_root,
            U256::from(v.steps),
        )
        .value(eth(100))
        .send()
        .await
        .unwrap_err();
    let wrong = e
        .as_decoded_error::<TrainingMarket::WrongStake>()
        .expect("WrongStake");
    assert_eq!(wrong.required, eth(250));
    assert_eq!(wrong.sent, eth(100));

    // Resolve by anyone but the dataset's timelock, even the poster, names both.
    let claimed = market::claim(&bob, m.address, bounty_id, &values(1))
        .await
        .unwrap();
    market::challenge(&carol, m.address, claimed.claim_id, 0)
        .await
        .unwrap();
    for who in [&alice, &carol] {
        let err = market::resolve_direct(who, m.address, claimed.claim_id, true)
            .await
            .unwrap_err();
        let msg = err.to_string();
        eprintln!("direct resolve: {msg}");
        assert!(msg.contains(&who.sender().unwrap().to_string()), "{msg}");
        assert!(msg.contains(&dep.timelock.to_string()), "{msg}");
        assert!(msg.contains("colony run resolve"), "{msg}");
    }
    // A proposal from another dataset's governance is refused before any transaction.
    let mut other = dep.clone();
    other.dataset_id = 2;
    let err = market::propose_resolution(&alice, &other, m.address, claimed.claim_id, true, "")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("for dataset 1"), "{err}");

    // Challenge after the window.
    let posted = market::post_bounty(
        &alice,
        m.address,
        &BountyParams {
            dataset_id: dep.dataset_id,
            snapshot_root: B256::repeat_byte(2),
            model_spec: "tiny".to_owned(),
            reward: eth(10),
            stake: eth(5),
            window: 60,
        },
    )
    .await
    .unwrap();
    let late = market::claim(&bob, m.address, posted.bounty_id, &values(3))
        .await
        .unwrap();
    advance(&alice, 1, 61).await.unwrap();
    let err = market::challenge(&carol, m.address, late.claim_id, 1)
        .await
        .unwrap_err();
    assert!(matches!(err, DaoError::Reverted { .. }), "{err:?}");
    assert!(err.to_string().contains("challenge window"), "{err}");
    assert!(err.to_string().contains("closed"), "{err}");
    eprintln!("late challenge: {err}");

    // Unknown ids, and cancelling: only the poster, only while open.
    let err = market::claim_info(&alice, m.address, 999)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no claim 999"), "{err}");
    let posted = market::post_bounty(
        &alice,
        m.address,
        &BountyParams {
            dataset_id: dep.dataset_id,
            snapshot_root: B256::repeat_byte(3),
            model_spec: "cancel me".to_owned(),
            reward: eth(10),
            stake: U256::ZERO,
            window: 60,
        },
    )
    .await
    .unwrap();
    let err = market::cancel_bounty(&bob, m.address, posted.bounty_id)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("poster"), "{err}");
    let tx = market::cancel_bounty(&alice, m.address, posted.bounty_id)
        .await
        .expect("cancel");
    eprintln!("GAS cancelBounty {}", tx.gas_used);
    let err = market::claim(&bob, m.address, posted.bounty_id, &values(4))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("it is cancelled"), "{err}");
}
