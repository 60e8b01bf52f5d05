//! `colony serve --http`: the read-only HTTP gateway and S3 API, driven by real clients
//! (curl, boto3, polars, pyarrow) against a `colony serve` child on loopback. Every
//! answer is compared with the bytes committed at that revision.

mod common;
mod pyhelp;
mod served;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use common::*;

/// A `colony serve --http 127.0.0.1:0 --no-p2p` child (plus `extra` arguments), killed
/// on drop.
struct Gateway {
    child: Child,
    url: String,
    bucket: String,
    _log: tempfile::TempDir,
    log: PathBuf,
}

impl Gateway {
    fn start(dir: &Path, extra: &[&str]) -> Gateway {
        let logdir = tempfile::tempdir().unwrap();
        let log = logdir.path().join("gateway.log");
        let mut args = vec!["serve", "--http", "127.0.0.1:0", "--no-p2p", "--json"];
        args.extend_from_slice(extra);
        let mut child = cmd(dir, &args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start colony serve");
        let v = served::first_json_line(&mut child, &log);
        Gateway {
            child,
            url: v["http"]["url"].as_str().unwrap().to_string(),
            bucket: v["http"]["bucket"].as_str().unwrap().to_string(),
            _log: logdir,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `curl -sS` with `args`; returns (status code, headers text, body bytes, exit status).
fn curl(args: &[&str]) -> (u16, String, Vec<u8>, bool) {
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("h");
    let body = dir.path().join("b");
    let out: Output = Command::new("curl")
        .args(["-sS", "--noproxy", "*", "--path-as-is", "-D"])
        .arg(&headers)
        .arg("-o")
        .arg(&body)
        .args(["-w", "%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let code = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (
        code,
        std::fs::read_to_string(&headers).unwrap_or_default(),
        std::fs::read(&body).unwrap_or_default(),
        out.status.success(),
    )
}

/// The value of header `name` in curl's dump of headers.
fn header(headers: &str, name: &str) -> Option<String> {
    headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// A Parquet table of `rows` rows (seeded by `seed`) written by pyarrow at `path`.
fn write_table(path: &Path, rows: usize, seed: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    pyhelp::run(
        r#"
import sys, pyarrow as pa, pyarrow.parquet as pq
path, rows, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ids = list(range(rows))
t = pa.table({
    "id": ids,
    "value": [(i * 7919 + seed) % 1000 / 10.0 for i in ids],
    "name": [f"row-{seed}-{i}" for i in ids],
})
pq.write_table(t, path, row_group_size=max(1, rows // 4))
"#,
        &[path.to_str().unwrap(), &rows.to_string(), &seed.to_string()],
    );
}

/// A dataset with two commits: tag `v1` (the older), then `main` moved on. Returns the
/// dataset, the committed files of each revision, and v1's commit id and snapshot root.
struct History {
    dir: tempfile::TempDir,
    v1: std::collections::BTreeMap<String, Vec<u8>>,
    v2: std::collections::BTreeMap<String, Vec<u8>>,
    v1_commit: String,
    v1_root: String,
}

fn history() -> History {
    let d = dataset();
    let root = d.path();
    write(root, "data/part0.bin", &random_bytes(3 << 20, 1));
    write(root, "data/part1.bin", &random_bytes(200_000, 2));
    write(root, "data/sub/deep.txt", b"deep\n");
    write(root, "notes/readme.txt", b"penguins and more\n");
    write(root, "weird name.txt", b"spaces are fine\n");
    write(root, "empty.txt", b"");
    write_table(&root.join("tables/t.parquet"), 2000, 1);
    let c1 = commit_all(root, "v1");
    ok(root, &["tag", "v1"]);
    let v1 = tree(root);
    write(root, "data/part0.bin", &random_bytes(3 << 20, 11));
    write_table(&root.join("tables/t.parquet"), 3000, 2);
    write(root, "notes/new.txt", b"only in v2\n");
    commit_all(root, "v2");
    let v2 = tree(root);
    History {
        dir: d,
        v1,
        v2,
        v1_commit: c1["commit"].as_str().unwrap().to_string(),
        v1_root: c1["root"].as_str().unwrap().to_string(),
    }
}

#[test]
fn curl_reads_files_ranges_and_listings_of_any_revision() {
    let h = history();
    let g = Gateway::start(h.dir.path(), &[]);
    let part0 = &h.v2["data/part0.bin"];
    let url = |p: &str| format!("{}/{p}", g.url);

    // Whole file, and its validators.
    let (code, hd, body, _) = curl(&[&url("main/data/part0.bin")]);
    assert_eq!(code, 200, "{hd}");
    assert!(body == *part0, "whole file differs");
    let etag = format!("\"{}\"", blake3::hash(part0).to_hex());
    assert_eq!(header(&hd, "etag"), Some(etag.clone()));
    assert_eq!(header(&hd, "accept-ranges").as_deref(), Some("bytes"));
    assert!(header(&hd, "last-modified").is_some(), "{hd}");

    // `curl -r`: inner, open-ended, suffix, clamped past the end.
    let size = part0.len();
    for (r, want) in [
        ("100-199".to_string(), 100..200),
        (format!("{}-", size - 10), size - 10..size),
        ("-77".to_string(), size - 77..size),
        (format!("{}-{}", size - 5, size + 1000), size - 5..size),
        ("1048570-1048590".to_string(), 1_048_570..1_048_591),
    ] {
        let (code, hd, body, _) = curl(&["-r", &r, &url("main/data/part0.bin")]);
        assert_eq!(code, 206, "{r}: {hd}");
        assert_eq!(body, part0[want.clone()], "{r}");
        assert_eq!(
            header(&hd, "content-range"),
            Some(format!("bytes {}-{}/{size}", want.start, want.end - 1)),
            "{r}"
        );
    }
    // Unsatisfiable (past the end, reversed, suffix of 0): 416 naming the size.
    for r in [format!("{size}-"), "500-100".into(), "-0".into()] {
        let (code, hd, body, _) = curl(&[
            "-H",
            &format!("Range: bytes={r}"),
            &url("main/data/part0.bin"),
        ]);
        assert_eq!(code, 416, "{r}: {hd}");
        assert_eq!(
            header(&hd, "content-range"),
            Some(format!("bytes */{size}"))
        );
        assert!(
            !body
                .windows(16)
                .any(|w| part0.windows(16).next() == Some(w))
        );
    }
    // Several ranges: the whole file, 200.
    let (code, _, body, _) = curl(&["-r", "0-9,20-29", &url("main/data/part0.bin")]);
    assert_eq!(code, 200);
    assert!(body == *part0);

    // HEAD, If-None-Match.
    let (code, hd, body, _) = curl(&["-I", &url("main/data/part0.bin")]);
    assert_eq!(code, 200);
    // With -I curl writes the headers as its output too: nothing else came.
    assert_eq!(String::from_utf8_lossy(&body), hd);
    assert_eq!(header(&hd, "content-length"), Some(size.to_string()));
    let (code, _, body, _) = curl(&[
        "-H",
        &format!("If-None-Match: {etag}"),
        &url("main/data/part0.bin"),
    ]);
    assert_eq!(code, 304);
    assert!(body.is_empty());
    let (code, ..) = curl(&[
        "-H",
        "If-None-Match: \"other\"",
        &url("main/data/part0.bin"),
    ]);
    assert_eq!(code, 200);

    // Older revisions by tag, commit id, and snapshot root; percent-encoded names; empty.
    for rev in ["v1", &h.v1_commit, &h.v1_root, "main~1"] {
        let (code, _, body, _) = curl(&[&url(&format!("{rev}/data/part0.bin"))]);
        assert_eq!(code, 200, "{rev}");
        assert!(body == h.v1["data/part0.bin"], "{rev}");
    }
    let (code, _, body, _) = curl(&[&url("main/weird%20name.txt")]);
    assert_eq!((code, body.as_slice()), (200, &b"spaces are fine\n"[..]));
    let (code, _, body, _) = curl(&[&url("main/empty.txt")]);
    assert_eq!((code, body.len()), (200, 0));
    let (code, _, _, _) = curl(&[&url("v1/notes/new.txt")]);
    assert_eq!(code, 404);

    // Folders answer JSON listings.
    for p in ["main/", "main", "main/data", "main/data/"] {
        let (code, hd, body, _) = curl(&[&url(p)]);
        assert_eq!(code, 200, "{p}");
        assert!(header(&hd, "content-type").unwrap().contains("json"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let names: Vec<&str> = v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["path"].as_str().unwrap())
            .collect();
        if p.starts_with("main/data") {
            assert_eq!(
                names,
                ["data/part0.bin", "data/part1.bin", "data/sub"],
                "{v}"
            );
            let e = &v["entries"][0];
            assert_eq!(e["size"], size);
            assert_eq!(e["kind"], "file");
        } else {
            assert_eq!(
                names,
                ["data", "empty.txt", "notes", "tables", "weird name.txt"],
                "{v}"
            );
        }
    }
    let (code, _, body, _) = curl(&[&url("")]);
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["bucket"], g.bucket.as_str());
    assert!(v["revisions"].as_array().unwrap().iter().any(|r| r == "v1"));
}

#[test]
fn hostile_requests_are_refused_and_leak_nothing() {
    let h = history();
    let secret = b"outside the dataset";
    // A file beside the dataset that an escape would reach.
    std::fs::write(h.dir.path().parent().unwrap().join("gw-secret.txt"), secret).ok();
    let g = Gateway::start(h.dir.path(), &[]);
    for (path, want) in [
        ("main/../main/notes/readme.txt", 400),
        ("main/data/../../x", 400),
        ("main/%2e%2e/%2e%2e/gw-secret.txt", 400),
        ("main/%2E%2E/notes/readme.txt", 400),
        ("main/notes%2freadme.txt", 400),
        ("main/notes%5creadme.txt", 400),
        ("main//etc/passwd", 400),
        ("main/%2fetc/passwd", 400),
        ("main/notes/readme.txt%00.png", 400),
        ("main/.colony/config.toml", 400),
        ("main/.git/config", 400),
        ("main/%ff", 400),
        ("no-such-rev/notes/readme.txt", 404),
        ("..%2f..%2fetc/passwd", 404),
        ("main/no/such/file", 404),
    ] {
        let (code, hd, body, _) = curl(&[&format!("{}/{path}", g.url)]);
        assert_eq!(code, want, "{path}: {hd}");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("\"error\""), "{path}: {text}");
        assert!(!text.contains("outside the dataset") && !text.contains("root:"));
    }
    // Writes are not offered.
    for m in ["POST", "PUT", "DELETE"] {
        let (code, hd, _, _) = curl(&["-X", m, &format!("{}/main/notes/readme.txt", g.url)]);
        assert_eq!(code, 405, "{m}");
        assert_eq!(header(&hd, "allow").as_deref(), Some("GET, HEAD"));
    }
    // The gateway still works afterwards.
    let (code, _, body, _) = curl(&[&format!("{}/main/notes/readme.txt", g.url)]);
    assert_eq!(
        (code, body.as_slice()),
        (200, &h.v2["notes/readme.txt"][..])
    );
}

#[test]
fn binding_and_tokens_are_enforced() {
    let h = history();
    let root = h.dir.path();
    // A non-loopback bind without a token is refused, with what to do.
    let e = fails(root, &["serve", "--http", "0.0.0.0:0", "--no-p2p"]);
    assert!(
        e.contains("without a token") && e.contains("--token"),
        "{e}"
    );
    let e = fails(
        root,
        &[
            "serve",
            "--http",
            "127.0.0.1:0",
            "--no-p2p",
            "--bucket",
            "Bad_Name",
        ],
    );
    assert!(e.contains("invalid bucket name"), "{e}");
    let e = fails(root, &["serve", "--token", "t"]);
    assert!(e.contains("--http"), "{e}");

    // With a token: HTTP needs the bearer, S3 the signature made with it.
    let g = Gateway::start(root, &["--token", "s3cret-t0ken"]);
    let url = format!("{}/main/notes/readme.txt", g.url);
    assert_eq!(curl(&[&url]).0, 403);
    assert_eq!(curl(&["-H", "Authorization: Bearer wrong", &url]).0, 403);
    let (code, _, body, _) = curl(&["-H", "Authorization: Bearer s3cret-t0ken", &url]);
    assert_eq!(
        (code, body.as_slice()),
        (200, &h.v2["notes/readme.txt"][..])
    );
    pyhelp::require(&["boto3"]);
    let out = pyhelp::run(
        &format!(
            "{BOTO}\n{}",
            r#"
import botocore.exceptions as bex
def code_of(secret):
    try:
        s3(secret).get_object(Bucket=bucket, Key="main/notes/readme.txt")["Body"].read()
        return "ok"
    except bex.ClientError as e:
        return e.response["Error"]["Code"]
print(code_of("s3cret-t0ken"), code_of("wrong"))
anon = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
    config=Config(signature_version=botocore.UNSIGNED, s3={"addressing_style": "path"}))
try:
    anon.get_object(Bucket=bucket, Key="main/notes/readme.txt")
    print("anonymous-ok")
except bex.ClientError as e:
    print(e.response["ResponseMetadata"]["HTTPStatusCode"])
"#
        ),
        &[&g.url, &g.bucket],
    );
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words, ["ok", "SignatureDoesNotMatch", "403"], "{out}");
    drop(g);

    // --public: any address, no checks.
    let mut child = cmd(
        root,
        &[
            "serve",
            "--http",
            "0.0.0.0:0",
            "--public",
            "--no-p2p",
            "--json",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let port = v["http"]["url"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(v["http"]["auth"], "public");
    let (code, ..) = curl(&[&format!("http://127.0.0.1:{port}/main/notes/readme.txt")]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, 200);
}

/// boto3 client factory: `url`, `bucket` from argv; `s3(secret)` makes a client.
const BOTO: &str = r#"
import sys, json, boto3, botocore
from botocore.config import Config
url, bucket = sys.argv[1], sys.argv[2]
def s3(secret="anything"):
    return boto3.client("s3", endpoint_url=url, aws_access_key_id="colony",
        aws_secret_access_key=secret, region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
"#;

#[test]
fn boto3_lists_pages_and_reads_ranges() {
    pyhelp::require(&["boto3"]);
    let h = history();
    let g = Gateway::start(h.dir.path(), &[]);
    let out = pyhelp::run(
        &format!(
            "{BOTO}\n{}",
            r#"
import botocore.exceptions as bex
c = s3()
out = {}
out["buckets"] = [b["Name"] for b in c.list_buckets()["Buckets"]]
c.head_bucket(Bucket=bucket)
r = c.list_objects_v2(Bucket=bucket, Prefix="", Delimiter="/")
out["revs"] = [p["Prefix"] for p in r.get("CommonPrefixes", [])]
r = c.list_objects_v2(Bucket=bucket, Prefix="main/", Delimiter="/")
out["root_keys"] = [o["Key"] for o in r.get("Contents", [])]
out["root_dirs"] = [p["Prefix"] for p in r.get("CommonPrefixes", [])]
def pages(**kw):
    keys, dirs, n = [], [], 0
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket, **kw):
        n += 1
        keys += [o["Key"] for o in page.get("Contents", [])]
        dirs += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return keys, dirs, n
out["all_main"], _, out["all_main_pages"] = pages(Prefix="main/", PaginationConfig={"PageSize": 2})
out["v1_data"], out["v1_data_dirs"], out["v1_data_pages"] = pages(Prefix="v1/data/", Delimiter="/", PaginationConfig={"PageSize": 1})
out["sizes"] = {o["Key"]: [o["Size"], o["ETag"]] for o in c.list_objects_v2(Bucket=bucket, Prefix="main/data/p")["Contents"]}
g = c.get_object(Bucket=bucket, Key="main/data/part0.bin", Range="bytes=1000-1999")
out["range"] = g["Body"].read().hex()
out["range_status"] = g["ResponseMetadata"]["HTTPStatusCode"]
out["content_range"] = g["ContentRange"]
out["v1_whole"] = c.get_object(Bucket=bucket, Key="v1/data/part1.bin")["Body"].read().hex()
hd = c.head_object(Bucket=bucket, Key="main/data/part0.bin")
out["head"] = [hd["ContentLength"], hd["ETag"]]
def err(f):
    try:
        f()
        return "ok"
    except bex.ClientError as e:
        return e.response["Error"]["Code"] or str(e.response["ResponseMetadata"]["HTTPStatusCode"])
out["errors"] = [
    err(lambda: c.get_object(Bucket=bucket, Key="no-such-rev/data/part1.bin")),
    err(lambda: c.get_object(Bucket=bucket, Key="main/no/such")),
    err(lambda: c.get_object(Bucket=bucket, Key="main/data")),
    err(lambda: c.get_object(Bucket=bucket, Key="main/../main/data/part1.bin")),
    err(lambda: c.get_object(Bucket=bucket, Key="main/data/part1.bin", Range="bytes=999999999-")),
    err(lambda: c.get_object(Bucket="other-bucket", Key="main/data/part1.bin")),
    err(lambda: c.put_object(Bucket=bucket, Key="main/x", Body=b"x")),
    err(lambda: c.delete_object(Bucket=bucket, Key="main/data/part1.bin")),
]
print(json.dumps(out))
"#
        ),
        &[&g.url, &g.bucket],
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["buckets"], serde_json::json!([g.bucket]));
    assert_eq!(v["revs"], serde_json::json!(["main/", "v1/"]), "{v}");
    assert_eq!(
        v["root_keys"],
        serde_json::json!(["main/empty.txt", "main/weird name.txt"])
    );
    assert_eq!(
        v["root_dirs"],
        serde_json::json!(["main/data/", "main/notes/", "main/tables/"])
    );
    let all: Vec<String> = h.v2.keys().map(|k| format!("main/{k}")).collect();
    assert_eq!(v["all_main"], serde_json::json!(all));
    assert_eq!(v["all_main_pages"], all.len().div_ceil(2));
    assert_eq!(
        v["v1_data"],
        serde_json::json!(["v1/data/part0.bin", "v1/data/part1.bin"])
    );
    assert_eq!(v["v1_data_dirs"], serde_json::json!(["v1/data/sub/"]));
    assert_eq!(v["v1_data_pages"], 3);
    let p0 = &h.v2["data/part0.bin"];
    assert_eq!(
        v["sizes"]["main/data/part0.bin"],
        serde_json::json!([p0.len(), format!("\"{}\"", blake3::hash(p0).to_hex())])
    );
    assert_eq!(v["range"], hex::encode(&p0[1000..2000]));
    assert_eq!(v["range_status"], 206);
    assert_eq!(v["content_range"], format!("bytes 1000-1999/{}", p0.len()));
    assert_eq!(v["v1_whole"], hex::encode(&h.v1["data/part1.bin"]));
    assert_eq!(v["head"][0], p0.len());
    assert_eq!(
        v["errors"],
        serde_json::json!([
            "NoSuchKey",
            "NoSuchKey",
            "NoSuchKey",
            "InvalidArgument",
            "InvalidRange",
            "NoSuchBucket",
            "AccessDenied",
            "AccessDenied"
        ]),
        "{}",
        g.log()
    );
}

#[test]
fn polars_and_pyarrow_read_tables_over_s3_and_http() {
    pyhelp::require(&["polars", "pyarrow", "boto3"]);
    let h = history();
    let g = Gateway::start(h.dir.path(), &[]);
    let local = tempfile::tempdir().unwrap();
    let (v1_path, v2_path) = (
        local.path().join("v1.parquet"),
        local.path().join("v2.parquet"),
    );
    std::fs::write(&v1_path, &h.v1["tables/t.parquet"]).unwrap();
    std::fs::write(&v2_path, &h.v2["tables/t.parquet"]).unwrap();
    let out = pyhelp::run(
        r#"
import sys, json
import polars as pl, pyarrow.parquet as pq, pyarrow.fs as pafs
url, bucket, v1_path, v2_path = sys.argv[1:5]
opts = {"aws_endpoint_url": url, "aws_access_key_id": "colony",
        "aws_secret_access_key": "anything", "aws_region": "us-east-1",
        "aws_allow_http": "true"}
want_v1, want_v2 = pl.read_parquet(v1_path), pl.read_parquet(v2_path)
out = {}
s3_main = pl.read_parquet(f"s3://{bucket}/main/tables/t.parquet", storage_options=opts)
out["polars_s3_main"] = s3_main.equals(want_v2) and s3_main.height == 3000
s3_v1 = pl.read_parquet(f"s3://{bucket}/v1/tables/t.parquet", storage_options=opts)
out["polars_s3_v1"] = s3_v1.equals(want_v1) and s3_v1.height == 2000
http_main = pl.read_parquet(f"{url}/main/tables/t.parquet")
out["polars_http_main"] = http_main.equals(want_v2)
http_v1 = pl.read_parquet(f"{url}/v1/tables/t.parquet")
out["polars_http_v1"] = http_v1.equals(want_v1)
fs = pafs.S3FileSystem(endpoint_override=url.removeprefix("http://"), scheme="http",
                       access_key="colony", secret_key="anything", region="us-east-1")
t = pq.read_table(f"{bucket}/v1/tables/t.parquet", filesystem=fs)
out["pyarrow_s3_v1"] = t.equals(pq.read_table(v1_path)) and t.num_rows == 2000
with fs.open_input_file(f"{bucket}/v1/tables/t.parquet") as f:
    raw = f.read()
out["pyarrow_v1_bytes"] = raw == open(v1_path, "rb").read()
info = fs.get_file_info(f"{bucket}/v1/tables")
out["pyarrow_dir"] = info.type == pafs.FileType.Directory
sel = fs.get_file_info(pafs.FileSelector(f"{bucket}/v1/data", recursive=True))
out["pyarrow_walk"] = sorted(i.path for i in sel if i.type == pafs.FileType.File)
print(json.dumps(out))
"#,
        &[
            &g.url,
            &g.bucket,
            v1_path.to_str().unwrap(),
            v2_path.to_str().unwrap(),
        ],
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    for k in [
        "polars_s3_main",
        "polars_s3_v1",
        "polars_http_main",
        "polars_http_v1",
        "pyarrow_s3_v1",
        "pyarrow_v1_bytes",
        "pyarrow_dir",
    ] {
        assert_eq!(v[k], true, "{k}: {v}\n{}", g.log());
    }
    let b = &g.bucket;
    assert_eq!(
        v["pyarrow_walk"],
        serde_json::json!([
            format!("{b}/v1/data/part0.bin"),
            format!("{b}/v1/data/part1.bin"),
            format!("{b}/v1/data/sub/deep.txt"),
        ])
    );
}

#[test]
fn a_corrupt_shard_never_sends_wrong_bytes() {
    pyhelp::require(&["boto3"]);
    let d = dataset();
    let root = d.path();
    let victim = random_bytes(6 << 20, 21);
    write(root, "victim.bin", &victim);
    commit_all(root, "victim");
    let shards = shard_files(root);
    assert_eq!(shards.len(), 1);
    let shard_id = shards[0].file_stem().unwrap().to_str().unwrap().to_string();
    write(root, "other.txt", b"fine\n");
    commit_all(root, "other");
    let mut bytes = std::fs::read(&shards[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&shards[0], bytes).unwrap();

    let g = Gateway::start(root, &[]);
    let url = format!("{}/main/victim.bin", g.url);
    // Whole file: either refused before the headers, or cut short; what came is right.
    let (code, _, body, complete) = curl(&[&url]);
    assert!(
        code == 500 || (code == 200 && !complete),
        "{code} {complete}"
    );
    assert!(code == 500 || (body.len() < victim.len() && victim.starts_with(&body)));
    // Every 1 MiB range: right bytes, or 500 naming the file and the shard.
    let mut refused = 0;
    for i in 0..6usize {
        let r = format!("{}-{}", i << 20, ((i + 1) << 20) - 1);
        let (code, _, body, _) = curl(&["-r", &r, &url]);
        match code {
            206 => assert!(body == victim[i << 20..(i + 1) << 20], "{r}: wrong bytes"),
            500 => {
                refused += 1;
                let text = String::from_utf8_lossy(&body);
                assert!(
                    text.contains("victim.bin") && text.contains(&shard_id),
                    "{text}"
                );
            }
            c => panic!("{r}: {c}"),
        }
    }
    assert!(refused >= 1, "the corrupt chunk was served");
    assert!(g.log().contains(&shard_id), "{}", g.log());
    // S3: an error or a short body, never wrong bytes.
    let out = pyhelp::run(
        &format!(
            "{BOTO}\n{}",
            r#"
import hashlib
c = s3()
try:
    got = c.get_object(Bucket=bucket, Key="main/victim.bin")["Body"].read()
    print("read", hashlib.sha256(got).hexdigest(), len(got))
except Exception as e:
    print("failed", type(e).__name__)
print(c.get_object(Bucket=bucket, Key="main/other.txt")["Body"].read().decode().strip())
"#
        ),
        &[&g.url, &g.bucket],
    );
    assert!(out.starts_with("failed"), "{out}");
    assert!(out.trim_end().ends_with("fine"), "{out}");
    // Other files still read.
    let (code, _, body, _) = curl(&[&format!("{}/main/other.txt", g.url)]);
    assert_eq!((code, body.as_slice()), (200, &b"fine\n"[..]));
}
