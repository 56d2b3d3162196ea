use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_api_types as t;

use super::{no_content, parse_json_body};
use crate::backend::Backend;
use crate::error::ApiResult;
use crate::params::Params;

pub fn routes<B: Backend>() -> Router<Arc<B>> {
    Router::new()
        .route("/volumes", get(list::<B>))
        .route("/volumes/create", post(create::<B>))
        .route("/volumes/prune", post(prune::<B>))
        .route("/volumes/{name}", get(inspect::<B>).delete(remove::<B>))
}

async fn list<B: Backend>(State(b): State<Arc<B>>, q: Params) -> ApiResult<Response> {
    Ok(axum::Json(b.volume_list(q.filters()?).await?).into_response())
}

async fn create<B: Backend>(State(b): State<Arc<B>>, body: Bytes) -> ApiResult<Response> {
    let opts: t::volume::CreateOptions = parse_json_body(&body)?;
    let v = b.volume_create(opts).await?;
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

async fn inspect<B: Backend>(
    State(b): State<Arc<B>>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(b.volume_inspect(&name).await?).into_response())
}

async fn remove<B: Backend>(
    State(b): State<Arc<B>>,
    Path(name): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    b.volume_remove(&name, q.bool("force")).await?;
    Ok(no_content())
}

async fn prune<B: Backend>(State(b): State<Arc<B>>, q: Params) -> ApiResult<Response> {
    Ok(axum::Json(b.volume_prune(q.filters()?).await?).into_response())
}
