//! The man pages in `man/` match the clap definitions, and every command has help.

mod common;

use std::path::Path;

#[test]
fn man_pages_are_up_to_date() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../man");
    let pages = colony_cli::man::render_all();
    if std::env::var_os("COLONY_UPDATE_MAN").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for old in std::fs::read_dir(&dir).unwrap().flatten() {
            if old.path().extension().is_some_and(|e| e == "1") {
                std::fs::remove_file(old.path()).unwrap();
            }
        }
        for (name, bytes) in &pages {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    let mut stale = Vec::new();
    for (name, bytes) in &pages {
        if std::fs::read(dir.join(name)).ok().as_deref() != Some(bytes.as_slice()) {
            stale.push(name.clone());
        }
    }
    let on_disk = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "1"))
                .count()
        })
        .unwrap_or(0);
    assert!(
        stale.is_empty() && on_disk == pages.len(),
        "man pages are stale ({stale:?}, {on_disk} on disk vs {} generated); regenerate with \
         `COLONY_UPDATE_MAN=1 cargo test -p colony-cli --test cli_docs`",
        pages.len()
    );
}

#[test]
fn completions_and_help_work() {
    let d = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let s = common::ok(d.path(), &["completions", shell]);
        assert!(s.contains("checkout"), "{shell} completion lacks commands");
    }
    let help = common::ok(d.path(), &["commit", "--help"]);
    assert!(
        help.contains("--message") && help.contains("durable"),
        "{help}"
    );
}

#[test]
fn a_reader_that_stops_early_ends_colony_quietly() {
    // `colony completions bash` writes ~150 KB: more than a pipe holds, so the write after
    // the reader is gone fails with a broken pipe, as `colony log | head` does.
    let mut child = common::cmd(Path::new("."), &["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    drop(out);
    let done = child.wait_with_output().unwrap();
    assert_eq!(done.status.code(), Some(141), "{done:?}");
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(!err.contains("panicked"), "no crash report: {err}");
}
