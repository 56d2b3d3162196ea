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
    let shared = SharedBody::new(req.into_body().into_data_stream());
    let result = b
        .container_extract(&id, &path, opts, Box::pin(shared.clone()))
        .await;
    if result.is_err() {
        // Refused before reading the upload (read-only, no such directory):
        // read some of it before answering, as Go's server does, or the
        // client is still writing when the connection closes and reports
        // "broken pipe" instead of our message.
        shared.drain(DRAIN_LIMIT).await;
    }
    result?;
    Ok(StatusCode::OK.into_response())
}

/// How much of an unread upload is read away before an error answer
/// (Go's net/http reads up to 256 KiB).
const DRAIN_LIMIT: usize = 1 << 20;

/// The request body, shared between the backend and this handler so that
/// the handler can drain what the backend left unread.
#[derive(Clone)]
struct SharedBody(Arc<std::sync::Mutex<Option<axum::body::BodyDataStream>>>);

impl SharedBody {
    fn new(s: axum::body::BodyDataStream) -> Self {
        SharedBody(Arc::new(std::sync::Mutex::new(Some(s))))
    }

    async fn drain(&self, limit: usize) {
        let Some(mut s) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let mut read = 0;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        while read < limit {
            match tokio::time::timeout_at(deadline, s.next()).await {
                Ok(Some(Ok(chunk))) => read += chunk.len(),
                _ => break,
            }
        }
    }
}

impl futures_util::Stream for SharedBody {
    type Item = std::io::Result<axum::body::Bytes>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match g.as_mut() {
            Some(s) => s
                .poll_next_unpin(cx)
                .map(|o| o.map(|r| r.map_err(std::io::Error::other))),
            None => std::task::Poll::Ready(None),
        }
    }
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
