//! Python helpers for the end-to-end tests that check tables with pyarrow.

#![allow(dead_code)]

use std::process::Command;

/// Fails the test with the install command unless python3 imports every module.
pub fn require(modules: &[&str]) {
    let imports = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    let hint = "install the test dependencies: `scripts/setup.sh` (or `pip install -r scripts/requirements-test.txt`, i.e. palmerpenguins and pyarrow)";
    match Command::new("python3").args(["-c", &imports]).output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "`python3 -c \"{imports}\"` failed: {}\n{hint}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("python3 cannot run ({e}); {hint}"),
    }
}

/// Runs `python3 -c script args...`; panics with its output unless it succeeds.
pub fn run(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed:\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Reads a table file with pyarrow (every CSV cell as text; Parquet and JSON Lines as
/// typed, then rendered as text) and prints it as JSON: `{"columns": [...], "rows":
/// [[...], ...]}` with `null` for missing values.
pub const READ_WITH_PYARROW: &str = r#"
import json, sys
import pyarrow as pa, pyarrow.csv as pacsv, pyarrow.parquet as pq, pyarrow.json as pajson
path = sys.argv[1]
if path.endswith(".csv"):
    with open(path, newline="") as f:
        cols = f.readline().rstrip("\n").split(",")
    t = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types={c: pa.string() for c in cols}, strings_can_be_null=False))
elif path.endswith(".parquet"):
    t = pq.read_table(path)
else:
    t = pajson.read_json(path)
def cell(v):
    if v is None: return None
    if isinstance(v, float) and v.is_integer(): return str(int(v))
    return str(v)
rows = [[cell(v) for v in r.values()] for r in t.to_pylist()]
print(json.dumps({"columns": t.schema.names, "rows": rows}))
"#;

/// The table at `path` as read by pyarrow: (columns, rows of cell texts).
pub fn read_table(path: &std::path::Path) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let out = run(READ_WITH_PYARROW, &[path.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let cols = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let rows = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .collect();
    (cols, rows)
}
