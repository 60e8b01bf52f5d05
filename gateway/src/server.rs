//! The accept loop: one tokio runtime on the gateway's thread, hyper HTTP/1.1
//! connections, each request checked against [`Auth`] and handed to the S3 or the plain
//! HTTP side (see [`crate::route`]).

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Request, Response, StatusCode, Uri, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::sync::{Semaphore, oneshot};

use crate::body::{Body, BoxError, full};
use crate::revisions::Revisions;
use crate::s3_api::ColonyS3;
use crate::{Auth, GatewayOptions, S3_ACCESS_KEY, http_api, route};

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 256;
/// Time a client has to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// What every connection shares.
pub(crate) struct State {
    revisions: Arc<Revisions>,
    bucket: String,
    auth: Auth,
    s3: S3Service,
}

impl State {
    pub(crate) fn new(root: &Path, bucket: &str, opts: &GatewayOptions) -> State {
        let revisions = Arc::new(
            Revisions::new(root, opts.reader.clone(), opts.open_revisions)
                .only(opts.only_commit.clone()),
        );
        let mut s3 = S3ServiceBuilder::new(ColonyS3::new(bucket, revisions.clone()));
        if let Auth::Token(t) = &opts.auth {
            s3.set_auth(SimpleAuth::from_single(S3_ACCESS_KEY, t.as_str()));
        }
        State {
            revisions,
            bucket: bucket.to_string(),
            auth: opts.auth.clone(),
            s3: s3.build(),
        }
    }
}

/// Serves `listener` until `stopped` fires (or its sender is dropped), then ends every
/// connection.
pub(crate) fn run(
    runtime: tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    state: Arc<State>,
    stopped: oneshot::Receiver<()>,
) {
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("colony gateway: cannot listen: {e}");
                return;
            }
        };
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut stopped = stopped;
        loop {
            let permit = tokio::select! {
                _ = &mut stopped => return,
                p = slots.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let stream = tokio::select! {
                _ = &mut stopped => return,
                accepted = listener.accept() => match accepted {
                    Ok((s, _)) => s,
                    Err(_) => {
                        // Out of file descriptors and the like: wait, don't spin.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let state = state.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(serve(state, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
                drop(permit);
            });
        }
    });
    // Connections still open are dropped with the runtime.
    runtime.shutdown_timeout(Duration::from_secs(2));
}

/// Answers one request.
async fn serve(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let (mut parts, body) = req.into_parts();
    if route::parts_are_s3(&parts) {
        if !matches!(state.auth, Auth::Token(_)) {
            // Without a token nothing is checked: the client's keys are whatever it was
            // configured with, so its signature is dropped rather than failed.
            strip_signature(&mut parts.headers, &mut parts.uri);
        }
        let req = Request::from_parts(parts, s3s::Body::from(body));
        return match state.s3.call(req).await {
            Ok(resp) => resp.map(|b| b.map_err(|e| -> BoxError { e }).boxed_unsync()),
            Err(e) => plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("{:?}", BoxError::from(e)),
            ),
        };
    }
    if let Auth::Token(token) = &state.auth
        && !bearer_matches(&parts.headers, token)
    {
        return plain(
            StatusCode::FORBIDDEN,
            "this gateway needs `Authorization: Bearer <token>` (the token given to `--token`)",
        );
    }
    drop(body);
    http_api::handle(
        state.revisions.clone(),
        &state.bucket,
        Request::from_parts(parts, ()),
    )
    .await
}

/// Removes S3 signature material (header and presigned query) from a request.
fn strip_signature(headers: &mut HeaderMap, uri: &mut Uri) {
    headers.remove(header::AUTHORIZATION);
    let Some(q) = uri.query() else {
        return;
    };
    let kept: Vec<&str> = q
        .split('&')
        .filter(|kv| {
            let k = kv.split_once('=').map_or(*kv, |(k, _)| k);
            !((k.len() > 6 && k[..6].eq_ignore_ascii_case("x-amz-"))
                || k == "AWSAccessKeyId"
                || k == "Signature"
                || k == "Expires")
        })
        .collect();
    let path = uri.path();
    let pq = if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    let mut p = std::mem::take(uri).into_parts();
    if let Ok(pq) = pq.parse() {
        p.path_and_query = Some(pq);
    }
    if let Ok(u) = Uri::from_parts(p) {
        *uri = u;
    }
}

/// Whether `Authorization: Bearer <token>` is present, compared in constant time.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
    else {
        return false;
    };
    let want = token.as_bytes();
    given.len() == want.len()
        && given
            .iter()
            .zip(want)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn plain(status: StatusCode, message: &str) -> Response<Body> {
    let text = serde_json::to_vec(&serde_json::json!({ "error": message })).unwrap_or_default();
    let mut r = Response::new(full(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_stripped() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "AWS4-HMAC-SHA256 x".parse().unwrap());
        let mut u: Uri = "/b/k?X-Amz-Signature=1&x-id=GetObject&X-Amz-Credential=c"
            .parse()
            .unwrap();
        strip_signature(&mut h, &mut u);
        assert!(h.get(header::AUTHORIZATION).is_none());
        assert_eq!(u.to_string(), "/b/k?x-id=GetObject");
    }

    #[test]
    fn bearer() {
        let mut h = HeaderMap::new();
        assert!(!bearer_matches(&h, "t0k"));
        h.insert(header::AUTHORIZATION, "Bearer t0k".parse().unwrap());
        assert!(bearer_matches(&h, "t0k"));
        assert!(!bearer_matches(&h, "t0K"));
        assert!(!bearer_matches(&h, "t0kk"));
    }
}
