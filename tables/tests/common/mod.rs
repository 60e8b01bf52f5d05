//! Helpers shared by the integration tests: running Python with pyarrow.
#![allow(dead_code)]

use std::process::Command;

/// Fails the test, naming the pip command, unless python3 can import `modules`.
pub fn require_python(modules: &[&str]) {
    let imports = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    let out = Command::new("python3").args(["-c", &imports]).output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "these tests check results with Python: `python3 -c \"{imports}\"` failed ({}); run `pip install pyarrow palmerpenguins`",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!(
            "these tests check results with Python but python3 cannot run ({e}); install Python 3 and run `pip install pyarrow palmerpenguins`"
        ),
    }
}

/// Runs `python3 -c script args...`, panics with its output if it fails, returns stdout.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python check failed:\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
