use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::backend::Backend;
use crate::error::ApiResult;
use crate::version::ApiVersion;

pub fn routes<B: Backend>() -> Router<Arc<B>> {
    Router::new()
        .route("/_ping", get(ping).head(ping_head))
        .route("/version", get(version::<B>))
        .route("/info", get(info::<B>))
        .route("/auth", post(auth::<B>))
        .route("/system/df", get(df::<B>))
}

/// `POST /auth`: 200 with "Login Succeeded" once the registry accepted the
/// credentials; a refusal is the registry's 401.
async fn auth<B: Backend>(State(b): State<Arc<B>>, body: axum::body::Bytes) -> ApiResult<Response> {
    let mut cfg: berth_api_types::registry::AuthConfig = super::parse_json_body(&body)?;
    cfg.split_auth();
    Ok(axum::Json(b.auth(cfg).await?).into_response())
}

/// `GET /system/df`: API < 1.52 has the legacy lists only, 1.52 both, 1.53+
/// only the usage blocks (moby api/server/router/system).
async fn df<B: Backend>(
    State(b): State<Arc<B>>,
    axum::Extension(version): axum::Extension<ApiVersion>,
) -> ApiResult<Response> {
    let mut du = b.system_df().await?;
    if !version.at_least(1, 52) {
        du.image_usage = None;
        du.container_usage = None;
        du.volume_usage = None;
        du.build_cache_usage = None;
    } else if version.at_least(1, 53) {
        du.layers_size = 0;
        du.images = None;
        du.containers = None;
        du.volumes = None;
        du.build_cache = None;
    }
    Ok(axum::Json(du).into_response())
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
