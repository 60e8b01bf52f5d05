//! Push over iroh through the [`Remote`] seam, with a node serving in a thread.

use std::sync::mpsc;

use super::*;
use crate::ops::remote::Remote;
use crate::repo::{Access, InitOptions, Repo};

fn dataset_with(dir: &std::path::Path, files: &[(&str, usize, u8)]) -> (Repo, gix::ObjectId) {
    let repo = Repo::init(dir, &InitOptions::default()).unwrap();
    for (name, len, seed) in files {
        let bytes: Vec<u8> = (0..*len)
            .map(|i| (i as u8).wrapping_mul(*seed).wrapping_add(i as u8 >> 3))
            .collect();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    repo.add(&[String::new()]).unwrap();
    let c = repo.commit("test", false).unwrap();
    (repo, gix::ObjectId::from_hex(c.commit.as_bytes()).unwrap())
}

fn serve_in_thread(root: std::path::PathBuf, allow: Vec<iroh::EndpointId>) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let opts = ServeOptions {
            endpoint: node::EndpointOptions {
                relay: false,
                bind: Some("127.0.0.1:0".parse().unwrap()),
                accept: true,
            },
            allow,
            lie: false,
            limits: Limits::default(),
        };
        let _ = serve(&root, &opts, &|s| tx.send(s.ticket.clone()).unwrap());
    });
    rx.recv().unwrap()
}

#[test]
fn push_needs_allow_then_fast_forwards_only() {
    let a_dir = tempfile::tempdir().unwrap();
    let p_dir = tempfile::tempdir().unwrap();
    let (a, c1) = dataset_with(a_dir.path(), &[("x.bin", 300_000, 7), ("y.txt", 1000, 3)]);
    drop(Repo::init(p_dir.path(), &InitOptions::default()).unwrap());
    let me = node_id(a.colony_dir()).unwrap();

    // Not allowed: refused, naming the node.
    let q_dir = tempfile::tempdir().unwrap();
    drop(Repo::init(q_dir.path(), &InitOptions::default()).unwrap());
    let closed = serve_in_thread(q_dir.path().to_path_buf(), vec![]);
    let r = PeerRemote::open("q", &closed, PeerOptions::default()).unwrap();
    let err = r.push(&a, "main", c1, false).unwrap_err().to_string();
    assert!(
        err.contains(&me.to_string()) && err.contains("--allow"),
        "{err}"
    );

    // Pushes go to `data`, which the node does not have checked out (a push to its
    // checked-out branch is refused unless allowed: tests/peer_e2e.rs).
    let ticket = serve_in_thread(p_dir.path().to_path_buf(), vec![me]);
    let r = PeerRemote::open("p", &ticket, PeerOptions::default()).unwrap();
    let rep = r.push(&a, "data", c1, false).unwrap();
    assert_eq!(rep.shards, 1, "{rep:?}");
    assert!(rep.objects >= 3, "{rep:?}");
    assert!(rep.old.is_none());
    let again = r.push(&a, "data", c1, false).unwrap();
    assert!(again.up_to_date, "{again:?}");
    {
        let p = Repo::open(p_dir.path(), Access::Read, &|_| {}).unwrap();
        assert_eq!(p.history().ref_target("refs/heads/data").unwrap(), Some(c1));
        p.verify(Some(&c1.to_string())).unwrap();
    }

    // A second commit fast-forwards; a rewritten history is refused without force.
    std::fs::write(a_dir.path().join("y.txt"), b"changed").unwrap();
    a.add(&[String::new()]).unwrap();
    let c2 = gix::ObjectId::from_hex(a.commit("two", false).unwrap().commit.as_bytes()).unwrap();
    let rep = r.push(&a, "data", c2, false).unwrap();
    assert_eq!(rep.old, Some(c1.to_string()));
    let b_dir = tempfile::tempdir().unwrap();
    let (b, other) = dataset_with(b_dir.path(), &[("z.bin", 50_000, 5)]);
    drop(b);
    let b = Repo::open(b_dir.path(), Access::Read, &|_| {}).unwrap();
    std::fs::copy(
        node::key_path(a.colony_dir()),
        node::key_path(b.colony_dir()),
    )
    .unwrap();
    let err = r.push(&b, "data", other, false).unwrap_err().to_string();
    assert!(err.contains("fast-forward"), "{err}");
    let rep = r.push(&b, "data", other, true).unwrap();
    assert_eq!(rep.old, Some(c2.to_string()));
}
