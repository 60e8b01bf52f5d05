//! The committed artifacts match a fresh compile of the sources. Runs only where `node` and
//! `dao-bridge/node_modules` are present; otherwise it says that it skipped.

use std::path::Path;
use std::process::Command;

#[test]
fn committed_artifacts_match_a_fresh_compile() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let has_node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let has_modules = root.join("node_modules/solc").is_dir()
        && root.join("node_modules/@openzeppelin/contracts").is_dir();
    if !has_node || !has_modules {
        eprintln!(
            "SKIPPED committed_artifacts_match_a_fresh_compile: needs `node` and \
             `npm ci --prefix dao-bridge` (node: {has_node}, node_modules: {has_modules})"
        );
        return;
    }
    let out = Command::new("node")
        .arg("scripts/build-contracts.mjs")
        .arg("--check")
        .current_dir(root)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "artifacts are stale; rebuild them with `npm run build --prefix dao-bridge`:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
