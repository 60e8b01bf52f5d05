//! The streamable HTTP transport: rmcp's tower service, served by hyper on one address.
//!
//! A loopback address is the default and the only one served without `public`: the
//! server has no authentication, and the transport's Host check (which turns away DNS
//! rebinding from a browser) stays on for loopback.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tower_service::Service;

use crate::dataset::Dataset;
use crate::error::ServeError;
use crate::server::ColonyServer;

/// Serves the dataset around `start` over streamable HTTP at `http://ADDR/mcp` until the
/// process ends. `ready` is told the bound address (useful with port 0).
/// Errors: [`ServeError::NotLoopback`] for a non-loopback `addr` without `public`.
pub fn serve_http(
    start: &Path,
    addr: SocketAddr,
    public: bool,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    if !addr.ip().is_loopback() && !public {
        return Err(ServeError::NotLoopback { addr });
    }
    let data = Dataset::open(start)?;
    let rt = crate::runtime()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Io {
                what: format!("cannot listen on {addr}"),
                source,
            })?;
        let bound = listener.local_addr().map_err(|source| ServeError::Io {
            what: "cannot read the bound address".into(),
            source,
        })?;
        let mut config = StreamableHttpServerConfig::default();
        if public {
            config = config.disable_allowed_hosts();
        } else {
            config = config.with_allowed_hosts([
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
                bound.to_string(),
                format!("localhost:{}", bound.port()),
            ]);
        }
        let server = ColonyServer::new(data);
        let service = StreamableHttpService::new(
            move || Ok(server.clone()),
            Arc::new(LocalSessionManager::default()),
            config,
        );
        ready(bound);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                // A client that went away before it was accepted; go on serving.
                Err(_) => continue,
            };
            let service = service.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let mut s = service.clone();
                    async move {
                        // Only answers the path the transport lives at.
                        if req.uri().path() != "/mcp" {
                            let mut not_found = hyper::Response::new(
                                http_body_util::Full::new(bytes::Bytes::from_static(
                                    b"MCP is served at /mcp\n",
                                ))
                                .map_err(|never| match never {})
                                .boxed(),
                            );
                            *not_found.status_mut() = hyper::StatusCode::NOT_FOUND;
                            return Ok::<_, std::convert::Infallible>(not_found);
                        }
                        s.call(req).await
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}
