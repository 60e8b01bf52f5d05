//! Benchmark: the full governance flow on a fresh anvil, printing the wall time and gas of
//! every call (deploys, register, delegate, propose, vote, queue, execute, a direct setHead
//! by the timelock, fork registration) as a Markdown table.
//!
//! `bench/dao-flow.sh`, or `cargo run -p colony-dao-bridge --example dao_flow` (needs `npm ci --prefix dao-bridge`).

use std::time::{Duration, Instant};

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, FixedBytes};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use colony_dao_bridge::devnet::{self, Devnet, DevnetOptions};
use colony_dao_bridge::governance::{self, HeadUpdate, Support};
use colony_dao_bridge::registry::{self, ForkParams};
use colony_dao_bridge::{Chain, DeployParams, GovernanceParams, TxRecord, deploy};

alloy::sol! {
    function register(string name, address governance) returns (uint256 id);
}

struct Row {
    step: String,
    gas: Option<u64>,
    time: Duration,
}

fn rows_from(txs: &[TxRecord], time: Duration) -> Vec<Row> {
    // Deploy calls send several transactions; the time is shared, shown on the first one.
    txs.iter()
        .enumerate()
        .map(|(i, t)| Row {
            step: t.action.clone(),
            gas: Some(t.gas_used),
            time: if i == 0 { time } else { Duration::ZERO },
        })
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let total = Instant::now();
    let t = Instant::now();
    let dn = Devnet::spawn(&DevnetOptions::default()).await?;
    let mut rows = vec![Row {
        step: "start anvil".into(),
        gas: None,
        time: t.elapsed(),
    }];
    let alice = Chain::connect_with_signer(dn.config(), &devnet::dev_signer(0)?).await?;
    let governance = GovernanceParams {
        voting_delay: 1,
        voting_period: 10,
        timelock_delay: 3600,
        ..Default::default()
    };

    let t = Instant::now();
    let out = deploy::deploy(
        &alice,
        &DeployParams {
            name: "bench".into(),
            governance: governance.clone(),
            registry: None,
        },
    )
    .await?;
    let elapsed = t.elapsed();
    rows.push(Row {
        step: "**deploy (all of the below)**".into(),
        gas: Some(out.txs.iter().map(|t| t.gas_used).sum()),
        time: elapsed,
    });
    rows.extend(rows_from(&out.txs, Duration::ZERO));
    let dep = out.deployment;

    let t = Instant::now();
    let tx = governance::delegate(&alice, &dep, None).await?;
    rows.push(Row {
        step: "delegate".into(),
        gas: Some(tx.gas_used),
        time: t.elapsed(),
    });

    let head = HeadUpdate::new(
        [0xab; 32],
        [0x42; 20],
        "iroh:blobaeaqbaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    );
    let t = Instant::now();
    let p = governance::propose_head(&alice, &dep, &head, "").await?;
    rows.push(Row {
        step: "propose setHead".into(),
        gas: Some(p.tx.gas_used),
        time: t.elapsed(),
    });
    devnet::advance(&alice, 2, 0).await?;

    let t = Instant::now();
    let v = governance::vote(&alice, &dep, p.proposal_id, Support::For, Some("ok")).await?;
    rows.push(Row {
        step: "vote (with reason)".into(),
        gas: Some(v.tx.gas_used),
        time: t.elapsed(),
    });
    devnet::advance(&alice, 11, 0).await?;

    let t = Instant::now();
    let q = governance::queue(&alice, &dep, p.proposal_id).await?;
    rows.push(Row {
        step: "queue".into(),
        gas: Some(q.tx.gas_used),
        time: t.elapsed(),
    });
    devnet::advance(&alice, 1, 3601).await?;

    let t = Instant::now();
    let e = governance::execute(&alice, &dep, p.proposal_id).await?;
    rows.push(Row {
        step: "execute (governor → timelock → setHead)".into(),
        gas: Some(e.gas_used),
        time: t.elapsed(),
    });

    // The registry's own cost, without the Governor and timelock around it: a dataset whose
    // governance is a plain account (dev account 3), which may call setHead directly.
    let carol = Chain::connect_with_signer(dn.config(), &devnet::dev_signer(3)?).await?;
    let raw = ProviderBuilder::new()
        .wallet(EthereumWallet::from(PrivateKeySigner::from_bytes(
            &"0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6".parse()?,
        )?))
        .connect_http(dn.rpc_url().parse()?);
    let call = registerCall {
        name: "bare".into(),
        governance: carol.sender().unwrap(),
    };
    let req = TransactionRequest::default()
        .with_to(dep.registry)
        .with_input(call.abi_encode());
    let t = Instant::now();
    let receipt = raw.send_transaction(req).await?.get_receipt().await?;
    rows.push(Row {
        step: "register (bare dataset)".into(),
        gas: Some(receipt.gas_used),
        time: t.elapsed(),
    });
    let bare_id = dep.dataset_id + 1;
    for (label, byte) in [
        ("setHead alone, first head", 0xcd_u8),
        ("setHead alone, next head", 0xce),
    ] {
        let h = HeadUpdate {
            root: FixedBytes::repeat_byte(byte),
            commit: FixedBytes::repeat_byte(byte),
            locator: head.locator.clone(),
        };
        let t = Instant::now();
        let tx = registry::set_head_direct(&carol, dep.registry, bare_id, &h).await?;
        rows.push(Row {
            step: label.into(),
            gas: Some(tx.gas_used),
            time: t.elapsed(),
        });
    }

    let t = Instant::now();
    let _ = registry::head(&alice, dep.registry, dep.dataset_id).await?;
    rows.push(Row {
        step: "read head (call + 1-block log query)".into(),
        gas: None,
        time: t.elapsed(),
    });

    let bob = Chain::connect_with_signer(dn.config(), &devnet::dev_signer(1)?).await?;
    let t = Instant::now();
    let fork = registry::register_fork(
        &bob,
        dep.registry,
        &ForkParams {
            parent_id: dep.dataset_id,
            name: "bench-fork".into(),
            fork_point: head.clone(),
            governance,
        },
    )
    .await?;
    let elapsed = t.elapsed();
    rows.push(Row {
        step: "**fork with own governance (all of the below)**".into(),
        gas: Some(fork.txs.iter().map(|t| t.gas_used).sum()),
        time: elapsed,
    });
    rows.extend(rows_from(&fork.txs, Duration::ZERO));

    let t = Instant::now();
    let line = registry::lineage(&bob, dep.registry, fork.deployment.dataset_id).await?;
    rows.push(Row {
        step: format!("read lineage ({} datasets)", line.len()),
        gas: None,
        time: t.elapsed(),
    });

    let t = Instant::now();
    let status = governance::status(&alice, &dep).await?;
    rows.push(Row {
        step: format!("status ({} proposal)", status.proposals.len()),
        gas: None,
        time: t.elapsed(),
    });

    println!("| step | gas used | wall time |");
    println!("|---|---:|---:|");
    for r in &rows {
        let gas = r.gas.map_or("–".to_owned(), |g| g.to_string());
        let time = if r.time.is_zero() {
            "".to_owned()
        } else {
            format!("{:.1} ms", r.time.as_secs_f64() * 1e3)
        };
        println!("| {} | {gas} | {time} |", r.step);
    }
    println!();
    println!(
        "whole flow incl. anvil start/stop: {:.2} s",
        total.elapsed().as_secs_f64()
    );
    let _: Address = dep.registry;
    drop(dn);
    Ok(())
}
