//! Benchmark: gas of every `TrainingMarket` call on a fresh anvil, printed as a Markdown
//! table: deploy, post, claim, challenge, finalize, cancel, and `resolve` both alone (a
//! dataset governed by a plain account) and wrapped in a real Governor proposal
//! (propose → vote → queue → execute).
//!
//! `bench/market-gas.sh`, or `cargo run -p colony-dao-bridge --example market_gas` (needs
//! `npm ci --prefix dao-bridge`).

use std::time::Instant;

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use colony_dao_bridge::devnet::{self, Devnet, DevnetOptions};
use colony_dao_bridge::governance::{self, Support};
use colony_dao_bridge::market::{self, BountyParams, ClaimValues};
use colony_dao_bridge::{Chain, DeployParams, GovernanceParams, deploy};

alloy::sol! {
    function register(string name, address governance) returns (uint256 id);
}

fn eth(milli: u64) -> U256 {
    U256::from(milli) * U256::from(10u64).pow(U256::from(15u64))
}

fn values(tag: u8) -> ClaimValues {
    ClaimValues {
        record_hash: B256::repeat_byte(tag),
        weights_hash: B256::repeat_byte(tag ^ 0x55),
        chain_root: B256::repeat_byte(tag ^ 0xaa),
        steps: 1000,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let total = Instant::now();
    let dn = Devnet::spawn(&DevnetOptions::default()).await?;
    let alice = Chain::connect_with_signer(dn.config(), &devnet::dev_signer(0)?).await?;
    let bob = Chain::connect_with_signer(dn.config(), &devnet::dev_signer(1)?).await?;
    let carol = Chain::connect_with_signer(dn.config(), &devnet::dev_signer(2)?).await?;
    let gov_eoa = Chain::connect_with_signer(dn.config(), &devnet::dev_signer(3)?).await?;
    let mut rows: Vec<(String, u64)> = Vec::new();

    let dep = deploy::deploy(
        &alice,
        &DeployParams {
            name: "bench".into(),
            governance: GovernanceParams {
                voting_delay: 1,
                voting_period: 10,
                timelock_delay: 3600,
                ..Default::default()
            },
            registry: None,
        },
    )
    .await?
    .deployment;
    governance::delegate(&alice, &dep, None).await?;

    let (m, tx) = market::deploy_market(&alice, dep.registry).await?;
    rows.push(("deploy TrainingMarket".into(), tx.gas_used));

    // A dataset governed by a plain account (dev 3), so `resolve` can be measured alone.
    let raw = ProviderBuilder::new()
        .wallet(EthereumWallet::from(
            "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"
                .parse::<PrivateKeySigner>()?,
        ))
        .connect_http(dn.rpc_url().parse()?);
    let call = registerCall {
        name: "bare".into(),
        governance: gov_eoa.sender().unwrap(),
    };
    let req = TransactionRequest::default()
        .with_to(dep.registry)
        .with_input(call.abi_encode());
    raw.send_transaction(req).await?.get_receipt().await?;
    let bare = dep.dataset_id + 1;

    let post = |dataset_id: u64, spec: &str, window: u64| BountyParams {
        dataset_id,
        snapshot_root: B256::repeat_byte(0xab),
        model_spec: spec.to_owned(),
        reward: eth(1000),
        stake: eth(100),
        window,
    };
    let p = market::post_bounty(
        &alice,
        m.address,
        &post(dep.dataset_id, "mlp:hidden=64", 3600),
    )
    .await?;
    rows.push((
        "postBounty (first; 13-byte model spec)".into(),
        p.tx.gas_used,
    ));
    let spec = "transformer:layers=4,d=128,heads=4,ctx=256,vocab=byte,lr=3e-4,steps=1000";
    let p2 = market::post_bounty(&alice, m.address, &post(dep.dataset_id, spec, 3600)).await?;
    rows.push((
        format!("postBounty (next; {}-byte model spec)", spec.len()),
        p2.tx.gas_used,
    ));

    // Honest: claim → window → finalize.
    let c = market::claim(&bob, m.address, p.bounty_id, &values(1)).await?;
    rows.push(("claim".into(), c.tx.gas_used));
    devnet::advance(&alice, 1, 3601).await?;
    let f = market::finalize(&carol, m.address, c.claim_id).await?;
    rows.push(("finalize (pays reward + stake)".into(), f.tx.gas_used));

    // Disputed, through the DAO: claim → challenge → propose → vote → queue → execute.
    let c = market::claim(&bob, m.address, p2.bounty_id, &values(2)).await?;
    let ch = market::challenge(&carol, m.address, c.claim_id, 500).await?;
    rows.push(("challenge".into(), ch.gas_used));
    let pr = market::propose_resolution(&alice, &dep, m.address, c.claim_id, true, "").await?;
    rows.push(("propose resolve (Governor)".into(), pr.tx.gas_used));
    devnet::advance(&alice, 2, 0).await?;
    let v = governance::vote(&alice, &dep, pr.proposal_id, Support::For, None).await?;
    rows.push(("vote".into(), v.tx.gas_used));
    devnet::advance(&alice, 11, 0).await?;
    let q = governance::queue(&alice, &dep, pr.proposal_id).await?;
    rows.push(("queue".into(), q.tx.gas_used));
    devnet::advance(&alice, 1, 3601).await?;
    let e = governance::execute(&alice, &dep, pr.proposal_id).await?;
    rows.push((
        "execute → timelock → resolve (challenger wins, bounty reopens)".into(),
        e.gas_used,
    ));
    let c = market::claim(&carol, m.address, p2.bounty_id, &values(3)).await?;
    rows.push(("claim (on a reopened bounty)".into(), c.tx.gas_used));

    // `resolve` alone, both verdicts, from the bare dataset's plain-account governance.
    for (label, challenger_wins) in [
        ("resolve alone (challenger wins)", true),
        ("resolve alone (claimant wins)", false),
    ] {
        let b = market::post_bounty(&alice, m.address, &post(bare, "mlp", 3600)).await?;
        let c = market::claim(&bob, m.address, b.bounty_id, &values(4)).await?;
        market::challenge(&carol, m.address, c.claim_id, 1).await?;
        let tx = market::resolve_direct(&gov_eoa, m.address, c.claim_id, challenger_wins).await?;
        rows.push((label.into(), tx.gas_used));
    }

    let b = market::post_bounty(&alice, m.address, &post(bare, "mlp", 3600)).await?;
    let tx = market::cancel_bounty(&alice, m.address, b.bounty_id).await?;
    rows.push(("cancelBounty (refunds reward)".into(), tx.gas_used));

    println!("| call | gas used |");
    println!("|---|---:|");
    for (step, gas) in &rows {
        println!("| {step} | {gas} |");
    }
    println!();
    println!(
        "whole run incl. anvil start/stop: {:.2} s",
        total.elapsed().as_secs_f64()
    );
    drop(dn);
    Ok(())
}
