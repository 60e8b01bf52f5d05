//! The DAO bridge from the command line, against a real anvil the tests start: deploy,
//! delegate, propose, vote, queue, execute, read the head back and verify data against it;
//! and the refusals (direct setHead, wrong chain id, unreachable RPC, damaged data).
//!
//! anvil comes from `npm ci --prefix dao-bridge` (scripts/setup.sh runs it); without it
//! these tests fail and say so.

mod common;
mod devnet;
mod pyhelp;

use std::path::Path;
use std::process::Command;

use common::*;
use devnet::*;

fn config(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(".colony/config.toml")).unwrap()
}

/// `0x` + hex, lower case.
fn ox(hex: &str) -> String {
    format!("0x{}", hex.trim_start_matches("0x").to_lowercase())
}

fn deploy_short(dir: &Path, extra: &[&str]) -> serde_json::Value {
    json(dir, &deploy_args("penguins", extra))
}

#[test]
fn the_whole_governance_flow_anchors_a_head_that_verify_checks() {
    let d = dataset();
    let root = d.path();
    write(root, "table.csv", b"id,species\n1,Adelie\n2,Gentoo\n");
    write(root, "batches/b0.bin", &random_bytes(300_000, 5));
    let c1 = commit_all(root, "v1");
    let (c1_commit, c1_root) = (
        c1["commit"].as_str().unwrap().to_owned(),
        c1["root"].as_str().unwrap().to_owned(),
    );

    // The devnet is recorded as the dataset's chain.
    let devnet = cli_devnet(root);
    let cfg = config(root);
    assert!(cfg.contains("[dao]") && cfg.contains(&devnet.url), "{cfg}");

    let deployed = deploy_short(root, &[]);
    let dep = &deployed["deployment"];
    assert_eq!(dep["chain_id"], 31337);
    let cfg = config(root);
    for key in ["registry", "governor", "timelock", "token"] {
        let addr = dep[key].as_str().unwrap();
        assert!(cfg.contains(addr), "config lacks {key} {addr}: {cfg}");
    }
    // A second deploy is refused without --force.
    let e = fails(root, &["dao", "deploy"]);
    assert!(
        e.contains("already has a DAO") && e.contains("--force"),
        "{e}"
    );

    ok(root, &["dao", "delegate"]);
    // The locator is where clones fetch the anchored head from: this dataset's folder
    // (a peer ticket or s3:// URL in real use).
    let locator = root.to_str().unwrap().to_owned();
    let p = json(root, &["dao", "propose", "--locator", &locator]);
    let id = p["proposal_id"].as_str().unwrap().to_owned();
    assert_eq!(p["root"].as_str().unwrap(), ox(&c1_root));

    ok(root, &["dao", "advance", "--blocks", "1"]);
    let v = json(root, &["dao", "vote", &id, "for", "--reason", "looks good"]);
    assert_ne!(v["weight"].as_str().unwrap(), "0", "{v}");
    ok(root, &["dao", "advance", "--blocks", "6"]);
    let s = json(root, &["dao", "status"]);
    assert_eq!(s["status"]["proposals"][0]["state"], "succeeded", "{s}");
    ok(root, &["dao", "queue", &id[..8]]);
    // Not before the timelock delay.
    let e = fails(root, &["dao", "execute", &id]);
    assert!(e.contains("timelock delay has not passed"), "{e}");
    ok(root, &["dao", "advance", "--seconds", "61"]);
    ok(root, &["dao", "execute", &id]);

    let h = json(root, &["dao", "head"]);
    assert_eq!(h["root"].as_str().unwrap(), ox(&c1_root), "{h}");
    assert_eq!(h["commit"].as_str().unwrap(), ox(&c1_commit), "{h}");
    assert_eq!(h["locator"], locator.as_str());
    let s = json(root, &["dao", "status"]);
    assert_eq!(s["status"]["proposals"][0]["state"], "executed", "{s}");
    let out = ok(root, &["dao", "verify"]);
    assert!(out.starts_with("ok:"), "{out}");
    let v = json(root, &["dao", "verify", &c1_commit]);
    assert_eq!(v["ok"], true);

    // A local commit nobody voted for does not verify against the chain.
    write(
        root,
        "table.csv",
        b"id,species\n1,Adelie\n2,Gentoo\n3,Chinstrap\n",
    );
    let c2 = commit_all(root, "v2");
    let c2_root = c2["root"].as_str().unwrap();
    let out = run(root, &["dao", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("NOT the anchored head")
            && e.contains(&ox(c2_root))
            && e.contains(&ox(&c1_root)),
        "{e}"
    );
    // … while the anchored revision still does.
    ok(root, &["dao", "verify", &c1_commit]);

    // Only the timelock moves the head; a direct setHead reverts and says why.
    let e = fails(root, &["dao", "set-head"]);
    assert!(
        e.contains("can only be moved by its governance") && e.contains("colony dao propose"),
        "{e}"
    );
    let h = json(root, &["dao", "head"]);
    assert_eq!(h["root"].as_str().unwrap(), ox(&c1_root));

    // A wrong chain id is refused, and nothing local changes.
    let before = config(root);
    let e = fails(root, &["dao", "--chain-id", "1", "status"]);
    assert!(
        e.contains("chain id 31337") && e.contains("refusing"),
        "{e}"
    );
    let e = fails(root, &["dao", "propose", "--chain-id", "1"]);
    assert!(e.contains("chain id 31337"), "{e}");
    assert_eq!(config(root), before);

    // Forking with --dao registers the fork with governance of its own; lineage reads back.
    let fork_dir = tempfile::tempdir().unwrap();
    let dst = fork_dir.path().join("fork");
    ok(
        root,
        &[
            "fork",
            ".",
            dst.to_str().unwrap(),
            "--name",
            "penguins-fork",
            "--dao",
        ],
    );
    let fork_cfg = config(&dst);
    let parent_id = dep["dataset_id"].as_u64().unwrap();
    assert!(fork_cfg.contains("dataset_id"), "{fork_cfg}");
    assert!(
        !fork_cfg.contains(&format!("dataset_id = {parent_id}\n")),
        "{fork_cfg}"
    );
    let l = json(&dst, &["lineage", "--dao"]);
    let chain = l["chain"].as_array().expect("on-chain lineage");
    assert_eq!(chain.len(), 2, "{l}");
    assert_eq!(chain[1]["id"].as_u64(), Some(parent_id), "{l}");
    assert_eq!(chain[0]["parent_id"].as_u64(), Some(parent_id), "{l}");
    // The fork's head starts at its fork point: the parent's HEAD (c2 here).
    let fh = json(&dst, &["dao", "head"]);
    assert_eq!(fh["root"].as_str().unwrap(), ox(c2_root), "{fh}");
    ok(&dst, &["dao", "verify"]);

    // `clone --from-chain` fetches the anchored head (c1, not the newer local c2) from the
    // locator and checks its root against the chain.
    let registry = dep["registry"].as_str().unwrap();
    let dataset_id = dep["dataset_id"].as_u64().unwrap().to_string();
    let clones = tempfile::tempdir().unwrap();
    let dst = clones.path().join("from-chain");
    let chain_clone = |dst: &Path| {
        let mut args = vec!["clone", "--from-chain", &dataset_id, dst.to_str().unwrap()];
        args.extend(["--registry", registry, "--rpc-url", &devnet.url]);
        run(clones.path(), &args)
    };
    let out = chain_clone(&dst);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(dst.join("table.csv")).unwrap(),
        b"id,species\n1,Adelie\n2,Gentoo\n"
    );
    let log = json(&dst, &["log", "-n", "1"]);
    assert_eq!(log[0]["commit"].as_str().unwrap(), c1_commit);
    // The clone knows its DAO: verify against the chain works there.
    ok(&dst, &["dao", "verify"]);

    // A locator that no longer serves the anchored data: refused, nothing kept.
    let moved = root.with_extension("moved");
    std::fs::rename(root, &moved).unwrap();
    std::fs::create_dir(root).unwrap();
    ok(root, &["init"]);
    write(root, "table.csv", b"id,species\n9,Impostor\n");
    commit_all(root, "not the anchored data");
    let dst2 = clones.path().join("refused");
    let out = chain_clone(&dst2);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("does not contain the anchored commit"), "{e}");
    assert!(!dst2.exists(), "a refused clone leaves nothing behind");
    std::fs::remove_dir_all(root).unwrap();
    std::fs::rename(&moved, root).unwrap();

    drop(devnet);
}

#[test]
fn unreachable_rpc_and_damaged_data_are_refused_and_change_nothing() {
    let devnet = library_devnet();
    let url = devnet.rpc_url().to_owned();
    let d = dataset();
    let root = d.path();
    write(root, "victim.bin", &random_bytes(600_000, 21));
    let c = commit_all(root, "data");

    // Unreachable endpoint: a clear error, and the config is not touched.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let before = config(root);
    let e = fails(root, &["dao", "--rpc-url", &dead, "deploy"]);
    assert!(e.contains("cannot reach") && e.contains(&dead), "{e}");
    assert_eq!(config(root), before, "config changed after a failed deploy");

    deploy_short(root, &["--rpc-url", &url]);
    assert!(config(root).contains(&url));
    ok(root, &["dao", "delegate"]);
    let e = fails(root, &["dao", "head"]);
    assert!(e.contains("no anchored head"), "{e}");

    // The same RPC failure on a configured dataset also leaves everything as it was.
    let before = config(root);
    let e = fails(root, &["dao", "status", "--rpc-url", &dead]);
    assert!(e.contains("cannot reach"), "{e}");
    assert_eq!(config(root), before);

    // Flip a byte in the shard: propose refuses before any transaction.
    let s0 = json(root, &["dao", "status"]);
    let block0 = s0["status"]["block"].as_u64().unwrap();
    let shards = shard_files(root);
    let mut bytes = std::fs::read(&shards[0]).unwrap();
    bytes[4096] ^= 0x01;
    std::fs::write(&shards[0], bytes).unwrap();
    let e = fails(root, &["dao", "propose"]);
    assert!(
        e.contains("does not verify") || e.to_lowercase().contains("corrupt"),
        "{e}"
    );
    let s1 = json(root, &["dao", "status"]);
    assert_eq!(
        s1["status"]["proposals"].as_array().unwrap().len(),
        0,
        "{s1}"
    );
    assert_eq!(
        s1["status"]["block"].as_u64().unwrap(),
        block0,
        "a transaction was sent"
    );
    // The same refusal for an explicit revision.
    fails(root, &["dao", "propose", c["commit"].as_str().unwrap()]);
    let s2 = json(root, &["dao", "status"]);
    assert_eq!(s2["status"]["proposals"].as_array().unwrap().len(), 0);
    drop(devnet);
}

#[test]
fn keys_come_from_the_environment_or_a_keystore_and_are_never_shown() {
    let devnet = library_devnet();
    let url = devnet.rpc_url().to_owned();
    let d = dataset();
    let root = d.path();
    write(root, "a.txt", b"a\n");
    commit_all(root, "a");
    deploy_short(root, &["--rpc-url", &url]);

    // ETH_PRIVATE_KEY signs: anvil's (public) dev account 1.
    let dev1 = DEV1_KEY;
    let out = cmd(root, &["dao", "delegate", "--json"])
        .env("ETH_PRIVATE_KEY", dev1)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["delegatee"].as_str().unwrap().to_lowercase(), DEV1);
    let shown =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!shown.contains(&dev1[2..]), "the key was printed");

    // A malformed key is refused without being echoed.
    let bad = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b7869zz";
    let out = cmd(root, &["dao", "delegate"])
        .env("ETH_PRIVATE_KEY", bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("ETH_PRIVATE_KEY") && !e.contains("59c6995e"),
        "{e}"
    );

    // A keystore with the wrong password, or no keystore at all: clear errors.
    let keys = tempfile::tempdir().unwrap();
    let password = colony_dao_bridge::Password::new("right horse".to_owned());
    let (_, keystore) =
        colony_dao_bridge::Signer::new_keystore(keys.path(), "key.json", &password).unwrap();
    let pw = keys.path().join("pw");
    std::fs::write(&pw, "wrong horse\n").unwrap();
    let e = fails(
        root,
        &[
            "dao",
            "delegate",
            "--keystore",
            keystore.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
        ],
    );
    assert!(e.contains("wrong password") && !e.contains("horse"), "{e}");
    let e = fails(
        root,
        &[
            "dao",
            "delegate",
            "--keystore",
            "/nonexistent/key.json",
            "--password-file",
            pw.to_str().unwrap(),
        ],
    );
    assert!(
        e.contains("cannot use keystore") && e.contains("no such file"),
        "{e}"
    );
    drop(devnet);
}

/// A TLS front for a plain-HTTP endpoint, as hosted JSON-RPC providers are: a private CA
/// and a `localhost` certificate it signs (made with Python's `cryptography`), forwarding
/// every connection to the upstream port. Prints its port, then serves until killed.
const TLS_PROXY: &str = r#"
import datetime, ipaddress, os, socket, ssl, sys, threading
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

upstream, out = int(sys.argv[1]), sys.argv[2]
now = datetime.datetime.now(datetime.timezone.utc)
def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
def builder(subject, issuer, key):
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1)))
ca_key = ec.generate_private_key(ec.SECP256R1())
ca = (builder(name("colony test CA"), name("colony test CA"), ca_key)
      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
      .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
      .sign(ca_key, hashes.SHA256()))
key = ec.generate_private_key(ec.SECP256R1())
leaf = (builder(name("localhost"), ca.subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256()))
pem = serialization.Encoding.PEM
open(os.path.join(out, "ca.pem"), "wb").write(ca.public_bytes(pem))
open(os.path.join(out, "leaf.pem"), "wb").write(leaf.public_bytes(pem))
open(os.path.join(out, "leaf.key"), "wb").write(key.private_bytes(
    pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(out, "leaf.pem"), os.path.join(out, "leaf.key"))

def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass

def handle(conn):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError):
        conn.close()
        return
    up = socket.create_connection(("127.0.0.1", upstream))
    threading.Thread(target=pipe, args=(up, tls), daemon=True).start()
    pipe(tls, up)

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print(listener.getsockname()[1], flush=True)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
"#;

/// The TLS front of [`TLS_PROXY`], killed when dropped.
struct TlsProxy {
    child: std::process::Child,
    url: String,
    ca: std::path::PathBuf,
}

impl TlsProxy {
    fn start(upstream_url: &str, dir: &Path) -> TlsProxy {
        use std::io::BufRead;
        pyhelp::require(&["cryptography"]);
        let upstream = upstream_url
            .rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches('/');
        let mut child = Command::new("python3")
            .args(["-c", TLS_PROXY, upstream, dir.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 starts the TLS proxy");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().expect("the proxy prints its port");
        TlsProxy {
            child,
            url: format!("https://localhost:{port}"),
            ca: dir.join("ca.pem"),
        }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_https_endpoint_is_spoken_and_an_untrusted_certificate_is_refused() {
    let devnet = library_devnet();
    let certs = tempfile::tempdir().unwrap();
    let proxy = TlsProxy::start(devnet.rpc_url(), certs.path());
    let d = dataset();
    let root = d.path();
    write(root, "a.bin", &random_bytes(10_000, 3));
    commit_all(root, "data");
    let deploy = deploy_args("tls", &["--rpc-url", &proxy.url]);

    // A certificate from a CA the system does not trust: refused, with the fix, and the
    // dataset's config is untouched.
    let before = config(root);
    let mut c = cmd(root, &deploy);
    c.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
    let e = fails_cmd(c);
    assert!(
        e.contains("cannot reach") && e.contains("certificate") && e.contains("SSL_CERT_FILE"),
        "{e}"
    );
    assert_eq!(config(root), before);

    // Trusting the CA, the same deploy goes through TLS end to end and is recorded.
    let trusting = |args: &[&str]| {
        let mut c = cmd(root, args);
        c.env("SSL_CERT_FILE", &proxy.ca);
        c
    };
    ok_cmd(trusting(&deploy));
    assert!(config(root).contains(&proxy.url), "{}", config(root));
    let v = json_cmd(trusting(&["dao", "status", "--json"]));
    assert_eq!(v["status"]["chain_id"], 31337, "{v}");
    drop(proxy);
    drop(devnet);
}
