//! `docker exec`: create, start (hijacked like attach), resize, inspect.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_api_types as t;

use super::{hijack, parse_json_body, tty_size};
use crate::backend::{Backend, ExecStart};
use crate::error::{ApiError, ApiResult};
use crate::params::Params;

pub fn routes<B: Backend>() -> Router<Arc<B>> {
    Router::new()
        .route("/containers/{id}/exec", post(create::<B>))
        .route("/exec/{id}/start", post(start::<B>))
        .route("/exec/{id}/resize", post(resize::<B>))
        .route("/exec/{id}/json", get(inspect::<B>))
}

async fn create<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let req: t::container::ExecCreateRequest = parse_json_body(&body)?;
    if req.cmd.as_ref().is_none_or(|c| c.is_empty()) {
        return Err(ApiError::invalid("No exec command specified"));
    }
    let id = b.exec_create(&id, req).await?;
    Ok((StatusCode::CREATED, axum::Json(t::IdResponse { id })).into_response())
}

async fn start<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let upgrade = req.headers().contains_key(header::UPGRADE);
    let on_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let body = axum::body::to_bytes(std::mem::take(req.body_mut()), 1 << 20)
        .await
        .map_err(|e| ApiError::invalid(format!("read body: {e}")))?;
    let start: t::container::ExecStartRequest = parse_json_body(&body)?;
    match b.exec_start(&id, start).await? {
        ExecStart::Detached => Ok(StatusCode::OK.into_response()),
        ExecStart::Attached(session) => {
            let Some(on_upgrade) = on_upgrade else {
                // Clients that do not ask for an upgrade are not served: every
                // client since API 1.24 sends `Upgrade: tcp`.
                return Err(ApiError::invalid(
                    "exec start needs a connection upgrade (Upgrade: tcp)",
                ));
            };
            Ok(hijack(session, on_upgrade))
        }
    }
}

async fn resize<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    let (h, w) = tty_size(&q)?;
    b.exec_resize(&id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

async fn inspect<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(b.exec_inspect(&id).await?).into_response())
}
