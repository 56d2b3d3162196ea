//! The container filesystem: docker cp (HEAD/GET/PUT archive), export,
//! changes.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_api_types::container::{PATH_STAT_HEADER, PathStat};
use futures_util::StreamExt;

use crate::backend::{Backend, ExtractOptions};
use crate::error::{ApiError, ApiResult};
use crate::params::Params;

pub fn routes<B: Backend>() -> Router<Arc<B>> {
    Router::new()
        .route(
            "/containers/{id}/archive",
            get(archive::<B>).head(stat::<B>).put(extract::<B>),
        )
        .route("/containers/{id}/export", get(export::<B>))
        .route("/containers/{id}/changes", get(changes::<B>))
}

fn path_param(q: &Params) -> ApiResult<String> {
    match q.get("path") {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ApiError::invalid("Path cannot be empty")),
    }
}

fn stat_header(stat: &PathStat) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(&stat.to_header_value())
        .map_err(|e| ApiError::internal(format!("path stat header: {e}")))
}

async fn stat<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    let path = path_param(&q)?;
    let st = b.container_stat_path(&id, &path).await?;
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut()
        .insert(PATH_STAT_HEADER, stat_header(&st)?);
    Ok(resp)
}

fn tar_response(body: crate::backend::ByteStream) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/x-tar")
        .body(Body::from_stream(body))
        .expect("static response parts")
}

async fn archive<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    let path = path_param(&q)?;
    let (st, body) = b.container_archive(&id, &path).await?;
    let mut resp = tar_response(body);
    resp.headers_mut()
        .insert(PATH_STAT_HEADER, stat_header(&st)?);
    Ok(resp)
}

async fn extract<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    q: Params,
    req: Request,
) -> ApiResult<Response> {
    let path = path_param(&q)?;
    let opts = ExtractOptions {
        no_overwrite_dir_non_dir: q.bool("noOverwriteDirNonDir"),
        copy_uid_gid: q.bool("copyUIDGID"),
    };
    let body = req
        .into_body()
        .into_data_stream()
        .map(|r| r.map_err(std::io::Error::other));
    b.container_extract(&id, &path, opts, Box::pin(body))
        .await?;
    Ok(StatusCode::OK.into_response())
}

async fn export<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(tar_response(b.container_export(&id).await?))
}

async fn changes<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(b.container_changes(&id).await?).into_response())
}
