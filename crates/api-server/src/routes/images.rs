use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use futures_util::StreamExt;

use crate::backend::{Backend, ImageListOptions, ImportOptions};
use crate::error::{ApiError, ApiResult};
use crate::params::Params;

pub fn routes<B: Backend>() -> Router<Arc<B>> {
    Router::new()
        .route("/images/json", get(list::<B>))
        .route("/images/create", post(create::<B>))
        // Image names contain '/', so per-image routes are matched by suffix.
        .route("/images/{*rest}", any(by_name::<B>))
}

async fn list<B: Backend>(State(b): State<Arc<B>>, q: Params) -> ApiResult<Response> {
    let opts = ImageListOptions {
        all: q.bool("all"),
        digests: q.bool("digests"),
        filters: q.filters()?,
    };
    Ok(axum::Json(b.image_list(opts).await?).into_response())
}

/// `POST /images/create`: import with `fromSrc`, pull with `fromImage`.
async fn create<B: Backend>(
    State(b): State<Arc<B>>,
    q: Params,
    req: Request,
) -> ApiResult<Response> {
    if let Some(image) = q.nonempty("fromImage") {
        let tag = q
            .nonempty("tag")
            .map(|t| format!(":{t}"))
            .unwrap_or_default();
        return Err(ApiError::not_implemented(format!(
            "berth cannot pull images yet (pull of {image}{tag} requested); import a root filesystem with `docker import` or load it later with `docker load`"
        )));
    }
    let Some(src) = q.nonempty("fromSrc") else {
        return Err(ApiError::invalid("fromImage or fromSrc is required"));
    };
    if src != "-" {
        return Err(ApiError::not_implemented(
            "berth imports only from the request body (fromSrc=-), not from a URL",
        ));
    }
    let opts = ImportOptions {
        repo: q.nonempty("repo").map(str::to_string),
        tag: q.nonempty("tag").map(str::to_string),
        changes: q
            .get_all("changes")
            .into_iter()
            .map(str::to_string)
            .collect(),
        message: q.get("message").unwrap_or("").to_string(),
        platform: q.nonempty("platform").map(str::to_string),
    };
    let body = req
        .into_body()
        .into_data_stream()
        .map(|r| r.map_err(std::io::Error::other));
    let id = b.image_import(opts, Box::pin(body)).await?;
    let mut line = serde_json::to_vec(&serde_json::json!({ "status": id }))?;
    line.push(b'\n');
    Ok((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        Bytes::from(line),
    )
        .into_response())
}

async fn by_name<B: Backend>(
    State(b): State<Arc<B>>,
    method: Method,
    Path(rest): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    let unimplemented = |what: &str| {
        Err(ApiError::not_implemented(format!(
            "berth does not implement {method} /images/{{name}}/{what} yet"
        )))
    };
    if method == Method::DELETE {
        let items = b
            .image_remove(&rest, q.bool("force"), q.bool("noprune"))
            .await?;
        return Ok(axum::Json(items).into_response());
    }
    let (name, action) = match rest.rsplit_once('/') {
        Some((n, a)) if !n.is_empty() => (n, a),
        _ => return Err(ApiError::not_found("page not found")),
    };
    match (method.as_str(), action) {
        ("GET", "json") => Ok(axum::Json(b.image_inspect(name).await?).into_response()),
        ("POST", "tag") => {
            let Some(repo) = q.nonempty("repo") else {
                return Err(ApiError::invalid("repository name is required"));
            };
            b.image_tag(name, repo, q.nonempty("tag")).await?;
            Ok((StatusCode::CREATED).into_response())
        }
        ("GET", "history") | ("GET", "get") | ("POST", "push") => unimplemented(action),
        _ => Err(ApiError::not_found("page not found")),
    }
}
