//! The routers, one module per API area.

mod archive;
mod containers;
mod events;
mod exec;
mod images;
mod system;
mod volumes;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::backend::{Backend, ByteStream, HijackSession, MessageStream};
use crate::endpoints::DOCKER_ENDPOINTS;
use crate::error::ApiError;
use crate::params::Params;

pub fn router<B: Backend>(backend: Arc<B>) -> Router {
    Router::new()
        .merge(system::routes::<B>())
        .merge(containers::routes::<B>())
        .merge(exec::routes::<B>())
        .merge(events::routes::<B>())
        .merge(archive::routes::<B>())
        .merge(images::routes::<B>())
        .merge(volumes::routes::<B>())
        .fallback(fallback)
        .with_state(backend)
}

/// Docker endpoints we do not serve yet answer 501 naming themselves; any
/// other path is not Docker's and gets dockerd's 404.
async fn fallback(method: Method, uri: axum::http::Uri) -> Response {
    let path = uri.path();
    match DOCKER_ENDPOINTS
        .iter()
        .find(|(m, p)| *m == method.as_str() && template_matches(p, path))
    {
        Some((m, p)) => ApiError::not_implemented(format!("berth does not implement {m} {p} yet"))
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"message": "page not found"})),
        )
            .into_response(),
    }
}

/// `{param}` matches one or more path segments (image names contain `/`).
fn template_matches(template: &str, path: &str) -> bool {
    fn go(t: &[&str], p: &[&str]) -> bool {
        match (t.first(), p.first()) {
            (None, None) => true,
            // Image and plugin names (`{name}`) contain `/`; ids do not,
            // so `/containers/a/b/json` is no Docker endpoint (a 404 the
            // CLI's `docker inspect` reads as "not a container").
            (Some(seg), Some(_)) if *seg == "{name}" => (1..=p.len()).any(|n| go(&t[1..], &p[n..])),
            (Some(seg), Some(_)) if seg.starts_with('{') => go(&t[1..], &p[1..]),
            (Some(seg), Some(ps)) if seg == ps => go(&t[1..], &p[1..]),
            _ => false,
        }
    }
    let t: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
    let p: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    go(&t, &p)
}

fn json_stream_response(body: ByteStream) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(body))
        .expect("static response parts")
}

/// A pull/push/load progress stream as dockerd writes it: nothing is sent
/// until the first message, so an early failure is a plain HTTP error (the
/// CLI prints "Error response from daemon: ..."); a later one is an
/// `errorDetail` line, after which the stream ends.
async fn message_stream_response(stream: MessageStream) -> Result<Response, ApiError> {
    stream_messages(stream, false).await
}

/// `docker load`'s stream: dockerd answers 200 and reports even the first
/// error in the body (docker-py's `images.load` raises ImageLoadError
/// from that line).
async fn message_stream_response_in_band(stream: MessageStream) -> Result<Response, ApiError> {
    stream_messages(stream, true).await
}

async fn stream_messages(
    mut stream: MessageStream,
    errors_in_band: bool,
) -> Result<Response, ApiError> {
    use futures_util::StreamExt;
    let first = match stream.next().await {
        None => {
            return Ok(json_stream_response(
                Box::pin(futures_util::stream::empty()),
            ));
        }
        Some(Err(e)) if !errors_in_band => return Err(e),
        Some(Err(e)) => berth_api_types::JsonMessage::error(e.message),
        Some(Ok(m)) => m,
    };
    let encode = |m: &berth_api_types::JsonMessage| {
        let mut line = serde_json::to_vec(m).unwrap_or_default();
        line.push(b'\n');
        bytes::Bytes::from(line)
    };
    let head = futures_util::stream::once(futures_util::future::ready(Ok(encode(&first))));
    let rest = futures_util::stream::unfold(Some(stream), move |s| async move {
        let mut s = s?;
        match s.next().await {
            None => None,
            Some(Ok(m)) => Some((Ok(encode(&m)), Some(s))),
            Some(Err(e)) => Some((
                Ok(encode(&berth_api_types::JsonMessage::error(e.message))),
                None,
            )),
        }
    });
    Ok(json_stream_response(Box::pin(head.chain(rest))))
}

/// The content type of an attach or exec stream.
fn raw_stream_type(tty: bool) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_static(if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    })
}

/// Answers `101 UPGRADED` and runs the attach or exec session on the
/// connection once hyper hands it over.
fn hijack(session: HijackSession, on_upgrade: hyper::upgrade::OnUpgrade) -> Response {
    let tty = session.tty;
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => (session.run)(Box::new(hyper_util::rt::TokioIo::new(upgraded))).await,
            Err(e) => tracing::debug!(error = %e, "connection upgrade failed"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "tcp")
        .header(header::CONTENT_TYPE, raw_stream_type(tty))
        .body(Body::empty())
        .expect("static response parts")
}

/// The `h` and `w` of a resize.
fn tty_size(q: &Params) -> Result<(u16, u16), ApiError> {
    let h = q.int("h")?.unwrap_or(0);
    let w = q.int("w")?.unwrap_or(0);
    match (u16::try_from(h), u16::try_from(w)) {
        (Ok(h), Ok(w)) => Ok((h, w)),
        _ => Err(ApiError::invalid("invalid height or width")),
    }
}

/// A `since`/`until` query value (Unix time, RFC 3339 or a duration ago).
fn timestamp(q: &Params, key: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    match q.nonempty(key) {
        None => Ok(None),
        Some(v) => berth_api_types::time::parse_timestamp(v, chrono::Utc::now())
            .map(Some)
            .map_err(|e| ApiError::invalid(e.to_string())),
    }
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Docker rejects a body that is not JSON; an empty body is "no options".
fn parse_json_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    Ok(serde_json::from_slice(body)?)
}

#[cfg(test)]
mod tests {
    use super::template_matches;

    #[test]
    fn templates() {
        assert!(template_matches(
            "/containers/{id}/archive",
            "/containers/abc/archive"
        ));
        assert!(!template_matches(
            "/containers/{id}/archive",
            "/containers/abc"
        ));
        assert!(template_matches(
            "/images/{name}/push",
            "/images/localhost:5000/a/b/push"
        ));
        assert!(!template_matches("/_ping", "/pong"));
        assert!(!template_matches(
            "/containers/{id}/json",
            "/containers/127.0.0.1:5000/x:1/json"
        ));
    }
}
