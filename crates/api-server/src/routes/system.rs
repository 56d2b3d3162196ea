use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::backend::Backend;
use crate::error::ApiResult;

pub fn routes<B: Backend>() -> Router<Arc<B>> {
    Router::new()
        .route("/_ping", get(ping).head(ping_head))
        .route("/version", get(version::<B>))
        .route("/info", get(info::<B>))
}

fn ping_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
}

async fn ping() -> Response {
    let mut resp = (StatusCode::OK, "OK").into_response();
    ping_headers(&mut resp);
    resp
}

async fn ping_head() -> Response {
    let mut resp = StatusCode::OK.into_response();
    ping_headers(&mut resp);
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

async fn version<B: Backend>(State(b): State<Arc<B>>) -> ApiResult<Response> {
    Ok(axum::Json(b.version().await?).into_response())
}

async fn info<B: Backend>(State(b): State<Arc<B>>) -> ApiResult<Response> {
    Ok(axum::Json(b.info().await?).into_response())
}
