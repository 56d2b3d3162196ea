//! Accepting connections and the per-request wrapper: version prefix,
//! Docker's response headers, draining on shutdown.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, Uri};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::version::{API_VERSION, split_version};

/// How long in-flight requests may run once shutdown starts. Hijacked
/// streams and `logs -f` are cut after this; the containers are not
/// affected (their shims keep running).
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` is cancelled, then stops
/// accepting and drains.
pub async fn serve(listener: UnixListener, app: Router, shutdown: CancellationToken) {
    let tracker = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let app = app.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(app.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection");
                    }
                }
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    tracker.close();
    if tokio::time::timeout(DRAIN, tracker.wait()).await.is_err() {
        tracing::info!("drain timed out; closing the remaining connections");
    }
}

async fn handle(app: Router, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let mut req = req.map(Body::new);
    let path = req.uri().path().to_string();
    let mut resp = match split_version(&path) {
        Err(e) => e.into_response(),
        Ok((version, rest)) => {
            if rest.len() != path.len() {
                let pq = match req.uri().query() {
                    Some(q) => format!("{rest}?{q}"),
                    None => rest.to_string(),
                };
                let mut parts = req.uri().clone().into_parts();
                parts.path_and_query = pq.parse().ok();
                if let Ok(uri) = Uri::from_parts(parts) {
                    *req.uri_mut() = uri;
                }
            }
            req.extensions_mut().insert(version);
            tracing::debug!(method = %req.method(), path = %path, "request");
            match app.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        }
    };
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(api_version_str()));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert(
        "Server",
        HeaderValue::from_static(concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    Ok(resp)
}

fn api_version_str() -> &'static str {
    // A const fn cannot format; keep the literal beside the constant it mirrors.
    const S: &str = "1.55";
    debug_assert_eq!(S, API_VERSION.to_string());
    S
}
