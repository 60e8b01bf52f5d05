//! Plain HTTP: `GET`/`HEAD /<rev>/<path>`.
//!
//! - A file answers its bytes with `ETag: "<blake3 hex>"` (the hash the snapshot root
//!   commits to), `Accept-Ranges: bytes`, `Last-Modified` (the commit's time) and
//!   `X-Colony-Commit`; `Range` as [`crate::range`] describes; `If-None-Match` with the
//!   ETag (or `*`) answers 304; `If-Range` with another ETag sends the whole file.
//! - A folder, `/<rev>` or `/<rev>/`, answers a JSON listing of its direct children:
//!   `{"revision", "commit", "root", "path", "entries": [{"path", "kind", "size", "hash",
//!   "mode", "target"}]}`.
//! - `/` answers a JSON index: the bucket name and the revisions that can be named.
//!
//! `<rev>` is percent-decoded (so `feature%2Fx` names branch `feature/x`); every segment
//! of `<path>` is percent-decoded on its own and must not decode to one holding `/`, `\`
//! or NUL; the result goes through the reader's path check, which refuses `..`,
//! absolute paths and colony's metadata (400). Errors are JSON `{"error": "..."}` with
//! 400 (bad path), 404 (unknown revision or path), 405 (other methods), 416, 422 (a
//! revision holding paths colony refuses), 500 (a chunk or file that failed
//! verification: the message names the file and the shard; nothing of it is sent).

use std::sync::Arc;

use bytes::Bytes;
use colony_store::{NodeKind, StoreError};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use percent_encoding::percent_decode_str;

use crate::body::{Body, Pieces, empty, full};
use crate::range::{Wanted, wanted};
use crate::revisions::Revisions;

/// A response ready to send (status, headers, body).
pub(crate) type Answer = Response<Body>;

/// Answers one plain-HTTP request (already authorised).
pub(crate) async fn handle<B>(revisions: Arc<Revisions>, bucket: &str, req: Request<B>) -> Answer {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "this gateway is read-only: only GET and HEAD",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let head = req.method() == Method::HEAD;
    let Some((rev, path)) = (match split_target(req.uri().path()) {
        Ok(t) => t,
        Err(why) => return error(StatusCode::BAD_REQUEST, &why),
    }) else {
        return index(revisions, bucket).await;
    };
    let looked = {
        let revisions = revisions.clone();
        let (rev, path) = (rev.clone(), path.clone());
        tokio::task::spawn_blocking(move || {
            let opened = revisions.open(&rev)?;
            let node = opened.reader.stat(&path)?;
            let listing = match node.kind {
                NodeKind::Dir => Some(opened.reader.list(&path, false)?),
                _ => None,
            };
            Ok::<_, StoreError>((opened, node, listing))
        })
        .await
    };
    let (opened, node, listing) = match looked {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return store_error(&e),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    if let Some(entries) = listing {
        let body = serde_json::json!({
            "revision": rev,
            "commit": opened.reader.commit().to_string(),
            "root": opened.reader.root().to_string(),
            "path": node.path,
            "entries": entries,
        });
        return json(StatusCode::OK, &body, head);
    }
    let hash = node.hash.expect("files have a hash").to_string();
    let etag = format!("\"{hash}\"");
    let mut headers = HeaderMap::new();
    let hv = |s: &str| HeaderValue::from_str(s).expect("ASCII header");
    headers.insert(header::ETAG, hv(&etag));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::LAST_MODIFIED,
        hv(&httpdate::fmt_http_date(opened.time)),
    );
    headers.insert("x-colony-commit", hv(&opened.reader.commit().to_string()));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(inm) = req.headers().get(header::IF_NONE_MATCH)
        && etag_matches(inm, &hash)
    {
        return answer(StatusCode::NOT_MODIFIED, headers, empty());
    }
    let size = node.size;
    let mut range = wanted(
        req.headers()
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok()),
        size,
    );
    if let Some(ir) = req.headers().get(header::IF_RANGE)
        && !etag_matches(ir, &hash)
    {
        range = Wanted::Whole;
    }
    let (status, part) = match range {
        Wanted::Whole => (StatusCode::OK, 0..size),
        Wanted::Part(r) => {
            headers.insert(
                header::CONTENT_RANGE,
                hv(&format!("bytes {}-{}/{size}", r.start, r.end - 1)),
            );
            (StatusCode::PARTIAL_CONTENT, r)
        }
        Wanted::Unsatisfiable => {
            headers.insert(header::CONTENT_RANGE, hv(&format!("bytes */{size}")));
            let mut r = error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                &format!("the range asked for is not inside the file's {size} bytes"),
            );
            r.headers_mut().extend(headers);
            return r;
        }
    };
    headers.insert(
        header::CONTENT_LENGTH,
        hv(&(part.end - part.start).to_string()),
    );
    if head {
        return answer(status, headers, empty());
    }
    match Pieces::start(opened, node.path, part).await {
        Ok(pieces) => answer(status, headers, pieces.into_body()),
        Err(e) => store_error(&e),
    }
}

/// `/`: what this gateway serves.
async fn index(revisions: Arc<Revisions>, bucket: &str) -> Answer {
    match tokio::task::spawn_blocking(move || revisions.names()).await {
        Ok(Ok(names)) => json(
            StatusCode::OK,
            &serde_json::json!({
                "bucket": bucket,
                "revisions": names,
                "usage": "GET /<rev>/<path> (a branch, tag, pin, commit id or snapshot root); \
                          S3: endpoint = this URL, bucket as above, key = <rev>/<path>",
            }),
            false,
        ),
        Ok(Err(e)) => store_error(&e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// Splits a request path into (revision, path in the snapshot), percent-decoded; `None`
/// for `/`. Refuses segments that decode to `/`, `\` or NUL, and bytes that are not
/// UTF-8.
pub fn split_target(raw: &str) -> Result<Option<(String, String)>, String> {
    let Some(rest) = raw.strip_prefix('/') else {
        return Err("the request path must start with `/`".into());
    };
    if rest.is_empty() {
        return Ok(None);
    }
    let decode = |seg: &str| -> Result<String, String> {
        let s = percent_decode_str(seg)
            .decode_utf8()
            .map_err(|_| format!("`{seg}` does not decode to UTF-8"))?;
        if s.contains('\0') {
            return Err(format!("`{seg}` holds NUL"));
        }
        Ok(s.into_owned())
    };
    let (rev, path) = rest.split_once('/').unwrap_or((rest, ""));
    let rev = decode(rev)?;
    let mut parts = Vec::new();
    for seg in path.split('/') {
        let s = decode(seg)?;
        if s.contains('/') || s.contains('\\') {
            return Err(format!(
                "`{seg}` decodes to a path separator; write `/` between folders instead"
            ));
        }
        parts.push(s);
    }
    Ok(Some((rev, parts.join("/"))))
}

/// Whether an `If-None-Match` / `If-Range` value names entity tag `hash` (or is `*`).
fn etag_matches(v: &HeaderValue, hash: &str) -> bool {
    let Ok(s) = v.to_str() else {
        return false;
    };
    s.split(',').map(str::trim).any(|t| {
        let t = t.strip_prefix("W/").unwrap_or(t);
        t == "*" || t.trim_matches('"') == hash
    })
}

/// The HTTP status for a store error.
pub(crate) fn status_of(e: &StoreError) -> StatusCode {
    match e {
        StoreError::AtPath { source, .. } => status_of(source),
        StoreError::InvalidPath { .. } => StatusCode::BAD_REQUEST,
        StoreError::UnknownRevision { .. } | StoreError::NoSuchPath { .. } => StatusCode::NOT_FOUND,
        StoreError::HostilePath { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        StoreError::NotAFolder { .. } | StoreError::IsAFolder { .. } => StatusCode::NOT_FOUND,
        StoreError::LockTimeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn store_error(e: &StoreError) -> Answer {
    let status = status_of(e);
    if status.is_server_error() {
        eprintln!("colony gateway: {e}");
    }
    error(status, &e.to_string())
}

fn error(status: StatusCode, message: &str) -> Answer {
    json(status, &serde_json::json!({ "error": message }), false)
}

fn json(status: StatusCode, v: &serde_json::Value, head: bool) -> Answer {
    let mut text = serde_json::to_vec_pretty(v).unwrap_or_default();
    text.push(b'\n');
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
    let body = if head {
        empty()
    } else {
        full(Bytes::from(text))
    };
    answer(status, headers, body)
}

fn answer(status: StatusCode, headers: HeaderMap, body: Body) -> Answer {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let ok = |raw: &str| split_target(raw).unwrap();
        assert_eq!(ok("/"), None);
        assert_eq!(ok("/main"), Some(("main".into(), String::new())));
        assert_eq!(ok("/main/"), Some(("main".into(), String::new())));
        assert_eq!(ok("/main/a/b.txt"), Some(("main".into(), "a/b.txt".into())));
        assert_eq!(
            ok("/feature%2Fx/a%20b"),
            Some(("feature/x".into(), "a b".into()))
        );
        // `..` decodes fine here; the reader's path check refuses it.
        assert_eq!(ok("/main/%2e%2e/x"), Some(("main".into(), "../x".into())));
        for bad in [
            "main",
            "/main/a%2fb",
            "/main/a%5Cb",
            "/main/a%00b",
            "/main/%ff",
        ] {
            assert!(split_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn etags() {
        let m = |v: &str| etag_matches(&HeaderValue::from_str(v).unwrap(), "abc");
        assert!(m("\"abc\""));
        assert!(m("W/\"abc\""));
        assert!(m("\"x\", \"abc\""));
        assert!(m("*"));
        assert!(!m("\"abd\""));
    }
}
