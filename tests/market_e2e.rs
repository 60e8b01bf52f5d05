//! The training market from the command line, against a real anvil the tests start:
//! `bounty post | list | show`, `run claim | challenge | finalize | resolve`, with the DAO
//! vote (`dao vote | queue | execute`) deciding a dispute; balances read back from the chain.
//!
//! Run records come from the trainer; until then a claim names its values explicitly
//! (`--record-hash --weights-hash --chain-root --steps`), and `run claim RUN` says why not.

mod common;
mod devnet;

use std::path::Path;

use colony_dao_bridge::{Address, Chain, ChainConfig, U256, market};
use common::*;
use devnet::*;

/// `colony ARGS --json` signed with `key`.
fn json_as(dir: &Path, key: &str, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    let mut c = cmd(dir, &a);
    c.env("ETH_PRIVATE_KEY", key);
    json_cmd(c)
}

fn fails_as(dir: &Path, key: &str, args: &[&str]) -> String {
    let mut c = cmd(dir, args);
    c.env("ETH_PRIVATE_KEY", key);
    fails_cmd(c)
}

fn balance(url: &str, who: &str) -> U256 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cfg = ChainConfig {
            rpc_url: url.to_owned(),
            chain_id: 31337,
        };
        let chain = Chain::connect(&cfg).await.unwrap();
        market::balance(&chain, who.parse::<Address>().unwrap())
            .await
            .unwrap()
    })
}

/// What a transaction (its JSON record) cost the sender in gas, in wei.
fn fee(tx: &serde_json::Value) -> U256 {
    tx["fee"].as_str().expect("fee").parse().unwrap()
}

fn eth(milli: u64) -> U256 {
    U256::from(milli) * U256::from(10u64).pow(U256::from(15u64))
}

/// A committed dataset with its DAO on a fresh devnet.
fn dataset_with_dao(root: &Path) -> DetachedDevnet {
    write(root, "train.csv", b"x,y\n1,2\n3,4\n");
    commit_all(root, "v1");
    let devnet = cli_devnet(root);
    json(root, &deploy_args("toy", &[]));
    devnet
}

fn claim_args(bounty: &str, tag: char) -> Vec<String> {
    let h = |c: char| format!("0x{}", c.to_string().repeat(64));
    vec![
        "run".into(),
        "claim".into(),
        "--bounty".into(),
        bounty.into(),
        "--record-hash".into(),
        h(tag),
        "--weights-hash".into(),
        h('b'),
        "--chain-root".into(),
        h('c'),
        "--steps".into(),
        "50".into(),
    ]
}

#[test]
fn honest_claim_is_paid_after_the_window() {
    let d = dataset();
    let root = d.path();
    let devnet = dataset_with_dao(root);

    // Nothing to list before the first bounty.
    let l = json(root, &["bounty", "list"]);
    assert_eq!(l["bounties"].as_array().unwrap().len(), 0, "{l}");

    let p = json(
        root,
        &[
            "bounty",
            "post",
            "HEAD",
            "--model",
            "mlp:hidden=8",
            "--reward",
            "1",
            "--stake",
            "0.25",
            "--window",
            "600",
        ],
    );
    assert_eq!(p["bounty_id"], 1, "{p}");
    assert_eq!(p["reward"], eth(1000).to_string());
    // The first post deployed the market and recorded it.
    let market_addr = p["market"].as_str().unwrap().to_owned();
    let cfg = std::fs::read_to_string(root.join(".colony/config.toml")).unwrap();
    assert!(cfg.contains(&market_addr), "{cfg}");
    assert_eq!(p["txs"].as_array().unwrap().len(), 2, "{p}");
    // A second bounty reuses the market.
    let p2 = json(
        root,
        &[
            "bounty", "post", "HEAD", "--model", "charlm", "--reward", "0.5",
        ],
    );
    assert_eq!(p2["market"], market_addr);
    assert_eq!(p2["txs"].as_array().unwrap().len(), 1);

    let l = json(root, &["bounty", "list"]);
    let bs = l["bounties"].as_array().unwrap();
    assert_eq!(bs.len(), 2, "{l}");
    assert_eq!(bs[0]["model_spec"], "mlp:hidden=8");
    assert_eq!(bs[0]["status"], "open");
    assert_eq!(
        bs[1]["stake"],
        eth(500).to_string(),
        "stake defaults to the reward"
    );
    let text = ok(root, &["bounty", "list"]);
    assert!(
        text.contains("bounty 1  open  1 ETH  stake 0.25 ETH"),
        "{text}"
    );

    // A run name resolves through the run records of `colony train`.
    let e = fails(root, &["run", "claim", "some-run", "--bounty", "1"]);
    assert!(e.contains("no run `some-run`"), "{e}");

    let before = balance(&devnet.url, DEV1);
    let args = claim_args("1", 'a');
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let c = json_as(root, DEV1_KEY, &a);
    assert_eq!(c["claim_id"], 1, "{c}");
    let s = json(root, &["bounty", "show", "1"]);
    assert_eq!(s["bounty"]["status"], "claimed", "{s}");
    assert_eq!(s["claim"]["status"], "pending", "{s}");
    assert_eq!(s["claim"]["claimant"].as_str().unwrap(), DEV1);

    let e = fails(root, &["run", "finalize", "1"]);
    assert!(e.contains("still open to challenge"), "{e}");
    ok(root, &["dao", "advance", "--seconds", "601"]);
    // Past the window nobody can challenge any more.
    let e = fails_as(root, DEV2_KEY, &["run", "challenge", "1", "--step", "3"]);
    assert!(e.contains("challenge window of claim 1 closed"), "{e}");
    let f = json(root, &["run", "finalize", "1"]);
    assert_eq!(f["paid_to"].as_str().unwrap(), DEV1);
    assert_eq!(f["amount"], eth(1250).to_string());
    let after = balance(&devnet.url, DEV1);
    assert_eq!(after + fee(&c["tx"]), before + eth(1000));
    let s = json(root, &["bounty", "show", "1"]);
    assert_eq!(s["bounty"]["status"], "paid", "{s}");
    assert_eq!(s["claim"]["status"], "finalized", "{s}");

    // The second bounty: only its poster may cancel it, and gets the reward back.
    let e = fails_as(root, DEV1_KEY, &["bounty", "cancel", "2"]);
    assert!(e.contains("poster"), "{e}");
    let x = json(root, &["bounty", "cancel", "2"]);
    assert_eq!(x["refund"], eth(500).to_string(), "{x}");
    let s = json(root, &["bounty", "show", "2"]);
    assert_eq!(s["bounty"]["status"], "cancelled", "{s}");
    let e = fails(root, &["bounty", "cancel", "1"]);
    assert!(e.contains("bounty 1 is not open: it is paid"), "{e}");
}

#[test]
fn wrong_claim_is_challenged_and_the_dao_slashes_it() {
    let d = dataset();
    let root = d.path();
    let devnet = dataset_with_dao(root);
    json(
        root,
        &[
            "bounty", "post", "HEAD", "--model", "mlp", "--reward", "2", "--stake", "0.5",
            "--window", "600",
        ],
    );
    let args = claim_args("1", 'd');
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    json_as(root, DEV1_KEY, &a);

    // Nothing to resolve before a challenge; a step past the run is refused.
    let e = fails(root, &["run", "resolve", "1", "--challenger-wins"]);
    assert!(e.contains("not challenged"), "{e}");
    let e = fails_as(root, DEV2_KEY, &["run", "challenge", "1", "--step", "50"]);
    assert!(e.contains("steps 0 to 49"), "{e}");

    let before = balance(&devnet.url, DEV2);
    let ch = json_as(root, DEV2_KEY, &["run", "challenge", "1", "--step", "17"]);
    assert_eq!(ch["claim"]["status"], "challenged", "{ch}");
    assert_eq!(ch["claim"]["disputed_step"], 17);
    assert_eq!(ch["claim"]["challenger"].as_str().unwrap(), DEV2);

    // The DAO decides: delegate, propose the verdict, vote, queue, execute.
    ok(root, &["dao", "delegate"]);
    let r = json(
        root,
        &[
            "run",
            "resolve",
            "1",
            "--challenger-wins",
            "-m",
            "step 17 re-executed: hash differs",
        ],
    );
    let id = r["proposal_id"].as_str().unwrap().to_owned();
    ok(root, &["dao", "advance", "--blocks", "1"]);
    json(root, &["dao", "vote", &id, "for"]);
    ok(root, &["dao", "advance", "--blocks", "6"]);
    json(root, &["dao", "queue", &id]);
    ok(root, &["dao", "advance", "--seconds", "61"]);
    json(root, &["dao", "execute", &id]);
    let st = json(root, &["dao", "status"]);
    assert_eq!(st["status"]["proposals"][0]["state"], "executed", "{st}");

    // The challenger got both stakes; the bounty takes claims again.
    let after = balance(&devnet.url, DEV2);
    assert_eq!(after + fee(&ch["tx"]), before + eth(500));
    let s = json(root, &["bounty", "show", "1"]);
    assert_eq!(s["bounty"]["status"], "open", "{s}");
    assert!(s["claim"].is_null(), "{s}");
    let args = claim_args("1", 'e');
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let again = json_as(root, DEV2_KEY, &a);
    assert_eq!(again["claim_id"], 2, "{again}");
    // The bounty's history keeps the rejected claim.
    let s = json(root, &["bounty", "show", "1"]);
    let claims = s["claims"].as_array().unwrap();
    assert_eq!(claims.len(), 2, "{s}");
    assert_eq!(claims[0]["status"], "rejected", "{s}");
    assert_eq!(claims[0]["disputed_step"], 17, "{s}");
    assert_eq!(claims[1]["status"], "pending", "{s}");
    assert_eq!(s["claim"]["id"], 2, "{s}");
    let text = ok(root, &["bounty", "show", "1"]);
    assert!(text.contains("claim 1: rejected by"), "{text}");
    assert!(text.contains("at step 17"), "{text}");
}
