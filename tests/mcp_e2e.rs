//! `colony mcp`: the official Python MCP client (PyPI package `mcp`, driven by
//! tests/mcp_client.py) talks to the server over stdio and streamable HTTP, calls every
//! tool on a dataset with two forks, a table and a recorded run, and gets what the CLI
//! prints with `--json`; bad arguments get MCP errors and the server goes on serving.
//! The DAO tools run against a real anvil (tests/devnet.rs).

mod common;
mod devnet;
mod pyhelp;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use base64::Engine;
use common::*;
use devnet::*;
use serde_json::{Value, json};

const TOOLS: [&str; 10] = [
    "log",
    "ls",
    "stat",
    "read",
    "query",
    "diff",
    "lineage",
    "anchored_head",
    "verify",
    "runs",
];

fn client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/mcp_client.py")
}

/// Runs `calls` in one session of the Python client; returns one answer per call.
fn drive(transport: Value, calls: Vec<Value>) -> Vec<Value> {
    pyhelp::require(&["mcp"]);
    let mut plan = transport;
    plan["calls"] = Value::Array(calls);
    let mut child = Command::new("python3")
        .arg(client_script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(plan.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the MCP client failed:\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("answers as JSON")
}

fn stdio(dir: &Path) -> Value {
    json!({ "stdio": [bin().to_str().unwrap(), "mcp", "-C", dir.to_str().unwrap()] })
}

fn tool(name: &str, args: Value) -> Value {
    json!({ "tool": name, "args": args })
}

/// The structured result of a tool call that must have succeeded.
fn ok_result(a: &Value) -> &Value {
    assert_eq!(a["is_error"], false, "tool failed: {a}");
    &a["structured"]
}

/// The message of a tool call that must have failed as a tool error.
fn tool_error(a: &Value) -> String {
    assert_eq!(a["is_error"], true, "expected a tool error: {a}");
    a["text"].as_str().unwrap().to_owned()
}

/// `colony --json ARGS` that may exit non-zero: its stdout as JSON.
fn json_any_exit(dir: &Path, args: &[&str]) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let out = run(dir, &full);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// An origin with a table, text and binary files; its fork `curated`, which changes the
/// table, fetches the origin's newer head and records a training run.
struct Forks {
    _top: tempfile::TempDir,
    _origin: tempfile::TempDir,
    fork: PathBuf,
    blob: Vec<u8>,
}

fn two_forks_with_a_table_and_a_run() -> Forks {
    let origin = dataset_with_points();
    let a = origin.path();
    let mut species = String::from("id,name,count\n");
    for i in 1..=40 {
        species.push_str(&format!("{i},species{i},{}\n", i * 3));
    }
    write(a, "species.csv", species.as_bytes());
    write(
        a,
        "notes/readme.txt",
        "penguins, and more — ünïcode\n".as_bytes(),
    );
    let blob = random_bytes(300_000, 7);
    write(a, "data/blob.bin", &blob);
    commit_all(a, "v2");

    let top = tempfile::tempdir().unwrap();
    let fork = top.path().join("curated");
    ok(
        a,
        &["fork", ".", fork.to_str().unwrap(), "--name", "curated"],
    );
    // The fork curates the table: one row changed, one removed, one added.
    let curated = species
        .replace("3,species3,9\n", "3,species3,10\n")
        .replace("7,species7,21\n", "")
        + "41,species41,123\n";
    write(&fork, "species.csv", curated.as_bytes());
    write(&fork, "notes/curation.txt", b"fixed species 3\n");
    commit_all(&fork, "curate");
    // The origin moves on; the fork fetches it, so both heads are revisions of the fork.
    write(a, "notes/readme.txt", b"penguins v3\n");
    commit_all(a, "v3");
    ok(&fork, &["remote", "add", "origin", a.to_str().unwrap()]);
    ok(&fork, &["fetch", "origin"]);
    let trained = json(
        &fork,
        &[
            "train",
            "main",
            "--model",
            "mlp",
            "--label",
            "kind",
            "--path",
            "points.csv",
            "--steps",
            "6",
            "--checkpoint-every",
            "3",
            "--batch",
            "16",
        ],
    );
    assert!(trained["run"].is_string(), "{trained}");
    Forks {
        _top: top,
        _origin: origin,
        fork,
        blob,
    }
}

#[test]
fn every_tool_answers_what_the_cli_prints_and_bad_calls_are_refused() {
    let f = two_forks_with_a_table_and_a_run();
    let d = f.fork.as_path();
    let head = head_commit(d);
    let table_sql = r#"SELECT count(*) AS n, sum("count") AS total FROM "species.csv""#;
    let calls = vec![
        json!({ "list_tools": true }),
        tool("log", json!({})),
        tool("log", json!({ "rev": "origin/main", "max_count": 2 })),
        tool(
            "ls",
            json!({ "rev": "main", "path": "", "recursive": true }),
        ),
        tool("ls", json!({ "path": "notes" })),
        tool("ls", json!({ "path": "", "limit": 2 })),
        tool("stat", json!({ "path": "data/blob.bin" })),
        tool("stat", json!({ "rev": "main", "path": "data" })),
        tool("read", json!({ "path": "notes/readme.txt" })),
        tool(
            "read",
            json!({ "rev": head, "path": "data/blob.bin", "offset": 1000, "length": 65536 }),
        ),
        tool("read", json!({ "path": "data/blob.bin" })),
        tool("query", json!({ "rev": "main", "sql": table_sql })),
        tool(
            "query",
            json!({ "sql": "SELECT id, name FROM species ORDER BY id", "max_rows": 5 }),
        ),
        tool("diff", json!({ "from": "origin/main", "to": "main" })),
        tool(
            "diff",
            json!({ "from": "origin/main", "to": "main", "table": "species.csv", "key": ["id"], "rows": true }),
        ),
        tool("lineage", json!({})),
        tool("runs", json!({ "rev": "main" })),
        tool("runs", json!({ "rev": "origin/main" })),
        json!({ "list_resources": null }),
        json!({ "templates": true }),
        json!({ "read_resource": format!("colony://{head}/notes/readme.txt") }),
        json!({ "read_resource": "colony://origin%2Fmain/data/blob.bin" }),
        // Bad arguments: each refused with a clear message …
        tool("log", json!({ "rev": "no-such-branch" })),
        tool("read", json!({ "path": "../../etc/passwd" })),
        tool("read", json!({ "path": "/etc/passwd" })),
        tool(
            "read",
            json!({ "path": "notes/readme.txt", "offset": 100000 }),
        ),
        tool(
            "read",
            json!({ "path": "data/blob.bin", "length": 100_000_000u64 }),
        ),
        tool("read", json!({ "path": "notes" })),
        tool(
            "query",
            json!({ "sql": "COPY (SELECT 1) TO '/tmp/colony-mcp-copy.csv'" }),
        ),
        tool(
            "query",
            json!({ "sql": "INSERT INTO species VALUES (99, 'x', 1)" }),
        ),
        tool("query", json!({ "sql": "DELETE FROM species" })),
        tool("query", json!({ "sql": "ATTACH 'other.db' AS o" })),
        tool(
            "query",
            json!({ "sql": "CREATE TABLE t AS SELECT * FROM species" }),
        ),
        tool(
            "query",
            json!({ "sql": "SELECT * FROM read_csv('/etc/passwd')" }),
        ),
        tool(
            "query",
            json!({ "sql": "SELECT 1 FROM species", "max_rows": 0 }),
        ),
        tool("diff", json!({ "from": "main", "to": "nowhere" })),
        tool("anchored_head", json!({})),
        json!({ "read_resource": "colony://no-such-rev/notes/readme.txt" }),
        json!({ "read_resource": "colony://main/../secret" }),
        json!({ "read_resource": "file:///etc/passwd" }),
        // … and the server still answers.
        tool("stat", json!({ "path": "notes/readme.txt" })),
    ];
    let answers = drive(stdio(d), calls);
    let mut a = answers.iter();
    let mut next = || a.next().expect("an answer per call");

    // The tools, with schemas and descriptions.
    let listed = next();
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut want = TOOLS.to_vec();
    want.sort();
    let mut got = names.clone();
    got.sort();
    assert_eq!(got, want);
    for t in listed["tools"].as_array().unwrap() {
        assert!(
            t["description"].as_str().unwrap().len() > 40,
            "{} needs a description: {t}",
            t["name"]
        );
        assert_eq!(t["input_schema"]["type"], "object", "{t}");
    }
    let read_tool = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "read")
        .unwrap();
    assert!(
        read_tool["description"]
            .as_str()
            .unwrap()
            .contains("1048576"),
        "the read cap is stated: {read_tool}"
    );
    assert!(read_tool["input_schema"]["properties"]["offset"].is_object());

    // log = `colony log --json`.
    assert_eq!(ok_result(next())["commits"], json(d, &["log"]));
    assert_eq!(
        ok_result(next())["commits"],
        json(d, &["log", "-n", "2", "origin/main"])
    );

    // ls: every file of the checkout, with its size and BLAKE3.
    let all = ok_result(next());
    let files = tree(d);
    let listed: Vec<(String, u64, String)> = all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["size"].as_u64().unwrap(),
                e["hash"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, u64, String)> = files
        .iter()
        .map(|(p, b)| {
            (
                p.clone(),
                b.len() as u64,
                blake3::hash(b).to_hex().to_string(),
            )
        })
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(all["commit"], head.as_str());
    let notes = ok_result(next());
    let names: Vec<&str> = notes["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["notes/curation.txt", "notes/readme.txt"]);
    let page = ok_result(next());
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    assert_eq!(page["next_cursor"], 2, "{page}");

    // stat.
    let s = ok_result(next());
    assert_eq!(s["kind"], "file");
    assert_eq!(s["size"], f.blob.len());
    assert_eq!(s["hash"], blake3::hash(&f.blob).to_hex().as_str());
    assert_eq!(ok_result(next())["kind"], "dir");

    // read: text as text, binary as base64, ranges exact; = `colony cat`.
    let r = ok_result(next());
    assert_eq!(r["encoding"], "utf-8");
    assert_eq!(
        r["text"].as_str().unwrap(),
        ok(d, &["cat", "main:notes/readme.txt"])
    );
    assert_eq!(r["eof"], true);
    let r = ok_result(next());
    assert_eq!(r["encoding"], "base64");
    assert_eq!(r["max_read_bytes"], 1 << 20);
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(
        b64.decode(r["base64"].as_str().unwrap()).unwrap(),
        &f.blob[1000..1000 + 65536]
    );
    assert_eq!(r["next_offset"], 1000 + 65536);
    let r = ok_result(next());
    assert_eq!(b64.decode(r["base64"].as_str().unwrap()).unwrap(), f.blob);

    // query = `colony query --json`, rows capped.
    let q = ok_result(next());
    assert_eq!(q["rows"], json(d, &["query", "main", table_sql]));
    assert_eq!(q["rows"][0]["n"], 40);
    let q = ok_result(next());
    assert_eq!(q["row_count"], 40);
    assert_eq!(q["returned"], 5);
    assert_eq!(q["truncated"], true);
    let full = json(
        d,
        &["query", "HEAD", "SELECT id, name FROM species ORDER BY id"],
    );
    assert_eq!(
        q["rows"].as_array().unwrap()[..],
        full.as_array().unwrap()[..5]
    );

    // diff = `colony diff --json`, files and rows.
    let df = ok_result(next());
    assert_eq!(df, &json(d, &["diff", "origin/main", "main"]));
    assert!(!df["modified"].as_array().unwrap().is_empty(), "{df}");
    let dt = ok_result(next());
    assert_eq!(
        dt,
        &json_any_exit(
            d,
            &[
                "diff",
                "origin/main",
                "main",
                "--key",
                "id",
                "--rows",
                "--",
                "species.csv"
            ]
        )
    );
    assert_eq!(
        (&dt["added"], &dt["removed"], &dt["modified"]),
        (&json!(1), &json!(1), &json!(1)),
        "{dt}"
    );

    // lineage = `colony lineage --json` (no DAO here).
    let l = ok_result(next());
    assert_eq!(l, &json(d, &["lineage"]));
    assert_eq!(l["parents"].as_array().unwrap().len(), 1, "{l}");

    // runs: those on the revision, as `colony run list --json` lists them, with claims.
    let runs = ok_result(next());
    let listed = json(d, &["run", "list"]);
    let on_head: Vec<Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["snapshot"] == head.as_str())
        .cloned()
        .collect();
    assert_eq!(on_head.len(), 1, "{listed}");
    let mut got = runs["runs"].as_array().unwrap().clone();
    assert_eq!(got.len(), 1, "{runs}");
    let claim = got[0].as_object_mut().unwrap().remove("claim").unwrap();
    assert_eq!(got, on_head);
    assert_eq!(
        claim["record_hash"].as_str().unwrap(),
        format!("0x{}", on_head[0]["record_hash"].as_str().unwrap())
    );
    assert!(
        ok_result(next())["runs"].as_array().unwrap().is_empty(),
        "no run on the origin's head"
    );

    // Resources: HEAD's files under its commit, and any revision through the template.
    let res = next();
    let uris: Vec<&str> = res["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    let want: Vec<String> = files
        .keys()
        .map(|p| format!("colony://{head}/{p}"))
        .collect();
    assert_eq!(uris, want);
    assert!(res["next_cursor"].is_null());
    assert_eq!(next()["templates"], json!(["colony://{rev}/{+path}"]));
    let rr = next();
    assert_eq!(
        rr["contents"][0]["text"].as_str().unwrap(),
        ok(d, &["cat", "main:notes/readme.txt"])
    );
    let rr = next();
    assert_eq!(
        b64.decode(rr["contents"][0]["blob"].as_str().unwrap())
            .unwrap(),
        f.blob
    );

    // The refusals.
    let e = tool_error(next());
    assert!(e.contains("no-such-branch"), "{e}");
    let e = tool_error(next());
    assert!(e.contains("`..`"), "{e}");
    let e = tool_error(next());
    assert!(e.contains("absolute"), "{e}");
    let e = tool_error(next());
    assert!(
        e.contains("range past the end") && e.contains("100000"),
        "{e}"
    );
    let e = tool_error(next());
    assert!(e.contains("read too large") && e.contains("1048576"), "{e}");
    let e = tool_error(next());
    assert!(e.contains("folder"), "{e}");
    for what in ["COPY", "INSERT", "DELETE", "ATTACH", "CREATE"] {
        let e = tool_error(next());
        assert!(e.contains("read-only") && e.contains(what), "{what}: {e}");
    }
    assert!(!Path::new("/tmp/colony-mcp-copy.csv").exists());
    let e = tool_error(next());
    assert!(e.contains("read-only") && e.contains("read_csv"), "{e}");
    let e = tool_error(next());
    assert!(e.contains("max_rows"), "{e}");
    let e = tool_error(next());
    assert!(e.contains("nowhere"), "{e}");
    let e = tool_error(next());
    assert!(e.contains("no DAO"), "{e}");
    let p = next();
    assert_eq!(p["protocol_error"]["code"], -32002, "{p}");
    assert!(
        p["protocol_error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-rev")
    );
    let p = next();
    assert_eq!(p["protocol_error"]["code"], -32602, "{p}");
    assert!(
        p["protocol_error"]["message"]
            .as_str()
            .unwrap()
            .contains("..")
    );
    let p = next();
    assert_eq!(p["protocol_error"]["code"], -32602, "{p}");
    assert_eq!(ok_result(next())["kind"], "file");
    assert!(a.next().is_none());

    // The CLI's own query refuses the same statements (one guard, in the library).
    let e = fails(d, &["query", "main", "COPY (SELECT 1) TO '/tmp/x.csv'"]);
    assert!(e.contains("read-only"), "{e}");
}

/// `colony mcp --http ADDR` in the background; killed when dropped.
struct HttpServer {
    child: Child,
    url: String,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_server(dir: &Path) -> HttpServer {
    let mut child = cmd(dir, &["mcp", "--http", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("serving MCP at ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    HttpServer { child, url }
}

#[test]
fn streamable_http_answers_on_loopback_and_other_binds_need_public() {
    let f = two_forks_with_a_table_and_a_run();
    let d = f.fork.as_path();
    let server = http_server(d);
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
    let answers = drive(
        json!({ "http": server.url }),
        vec![
            json!({ "list_tools": true }),
            tool("log", json!({ "max_count": 1 })),
            tool(
                "read",
                json!({ "path": "data/blob.bin", "offset": 5, "length": 10 }),
            ),
            tool(
                "query",
                json!({ "sql": r#"SELECT count(*) AS n FROM "species.csv""# }),
            ),
            tool("read", json!({ "path": "../x" })),
            tool("stat", json!({ "path": "species.csv" })),
        ],
    );
    assert_eq!(answers[0]["tools"].as_array().unwrap().len(), TOOLS.len());
    assert_eq!(
        ok_result(&answers[1])["commits"],
        json(d, &["log", "-n", "1"])
    );
    let r = ok_result(&answers[2]);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(r["base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes, &f.blob[5..15]);
    assert_eq!(
        ok_result(&answers[3])["rows"],
        json(
            d,
            &[
                "query",
                "HEAD",
                r#"SELECT count(*) AS n FROM "species.csv""#
            ]
        )
    );
    assert!(tool_error(&answers[4]).contains("`..`"));
    assert_eq!(ok_result(&answers[5])["kind"], "file");
    drop(server);

    // No authentication, so no other address without --public.
    let e = fails(d, &["mcp", "--http", "0.0.0.0:0"]);
    assert!(
        e.contains("not a loopback address") && e.contains("--public"),
        "{e}"
    );
}

#[test]
fn dao_tools_check_revisions_against_the_anchored_head() {
    let d = dataset();
    let root = d.path();
    write(root, "table.csv", b"id,species\n1,Adelie\n2,Gentoo\n");
    let c1 = commit_all(root, "v1");
    let c1_commit = c1["commit"].as_str().unwrap().to_owned();
    let _devnet = cli_devnet(root);
    json(root, &deploy_args("penguins", &[]));
    ok(root, &["dao", "delegate"]);
    let p = json(root, &["dao", "propose", "--locator", "here"]);
    let id = p["proposal_id"].as_str().unwrap().to_owned();
    ok(root, &["dao", "advance", "--blocks", "1"]);
    ok(root, &["dao", "vote", &id, "for"]);
    ok(root, &["dao", "advance", "--blocks", "6"]);
    ok(root, &["dao", "queue", &id]);
    ok(root, &["dao", "advance", "--seconds", "61"]);
    ok(root, &["dao", "execute", &id]);
    // A later commit nobody voted for.
    write(
        root,
        "table.csv",
        b"id,species\n1,Adelie\n2,Gentoo\n3,Chinstrap\n",
    );
    commit_all(root, "v2");

    let answers = drive(
        stdio(root),
        vec![
            tool("anchored_head", json!({})),
            tool("verify", json!({ "rev": c1_commit })),
            tool("verify", json!({ "rev": "HEAD" })),
            tool("lineage", json!({})),
            tool("verify", json!({ "rev": "nope" })),
            tool("anchored_head", json!({})),
        ],
    );
    assert_eq!(ok_result(&answers[0]), &json(root, &["dao", "head"]));
    let v = ok_result(&answers[1]);
    assert_eq!(v, &json(root, &["dao", "verify", &c1_commit]));
    assert_eq!(v["ok"], true);
    let v = ok_result(&answers[2]);
    assert_eq!(v, &json_any_exit(root, &["dao", "verify", "HEAD"]));
    assert_eq!(v["ok"], false);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("NOT the anchored head")
    );
    let l = ok_result(&answers[3]);
    assert_eq!(l, &json(root, &["lineage", "--dao"]));
    assert_eq!(l["chain"][0]["name"], "penguins", "{l}");
    assert!(tool_error(&answers[4]).contains("nope"));
    assert_eq!(ok_result(&answers[5]), ok_result(&answers[0]));
}
