//! Which API a request is for. Both share one port and one path space (`/<bucket>/<key>`
//! for S3, `/<rev>/<path>` for plain HTTP), so the request's form decides, not its path:
//!
//! a request is S3 when it is signed the way S3 clients sign (`Authorization:
//! AWS4-HMAC-SHA256 …` or `AWS …`, or a presigned URL's `X-Amz-Signature` /
//! `AWSAccessKeyId` query), or carries any `x-amz-*` or `amz-sdk-*` header (which every
//! AWS SDK, botocore, the Arrow C++ S3 client and object_store send). Everything else,
//! including `Authorization: Bearer …`, is plain HTTP. So S3 clients must sign their
//! requests (with any keys when the gateway has no token): an anonymous S3 client would
//! be answered as plain HTTP.

use http::request::Parts;
use http::{HeaderMap, Uri, header};

/// Whether a request with these headers and URI is for the S3 API.
pub fn is_s3(headers: &HeaderMap, uri: &Uri) -> bool {
    if let Some(auth) = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes())
        && (auth.starts_with(b"AWS4-HMAC-SHA256 ") || auth.starts_with(b"AWS "))
    {
        return true;
    }
    if headers.keys().any(|k| {
        let k = k.as_str();
        k.starts_with("x-amz-") || k.starts_with("amz-sdk-")
    }) {
        return true;
    }
    uri.query().is_some_and(|q| {
        q.split('&').any(|kv| {
            let k = kv.split_once('=').map_or(kv, |(k, _)| k);
            k.eq_ignore_ascii_case("X-Amz-Signature")
                || k.eq_ignore_ascii_case("X-Amz-Credential")
                || k == "AWSAccessKeyId"
        })
    })
}

/// [`is_s3`] of a request's parts.
pub(crate) fn parts_are_s3(parts: &Parts) -> bool {
    is_s3(&parts.headers, &parts.uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)], uri: &str) -> bool {
        let mut b = http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let (parts, ()) = b.body(()).unwrap().into_parts();
        parts_are_s3(&parts)
    }

    #[test]
    fn routing() {
        assert!(!req(&[], "/main/a.txt"));
        assert!(!req(&[("authorization", "Bearer t")], "/main/a.txt"));
        assert!(!req(&[("range", "bytes=0-1")], "/main/a.txt"));
        assert!(req(
            &[("authorization", "AWS4-HMAC-SHA256 Credential=colony/...")],
            "/b/main/a.txt"
        ));
        assert!(req(&[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")], "/b"));
        assert!(req(&[("amz-sdk-invocation-id", "1")], "/b"));
        assert!(req(&[], "/b/k?X-Amz-Algorithm=A&X-Amz-Signature=abc"));
        assert!(!req(&[], "/main/a.txt?list-type=2"));
    }
}
