use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use futures_util::StreamExt;

use berth_api_types as t;

use super::{message_stream_response, parse_json_body};
use crate::backend::{Backend, CommitOptions, ImageListOptions, ImportOptions, PullOptions};
use crate::error::{ApiError, ApiResult};
use crate::params::Params;

pub fn routes<B: Backend>() -> Router<Arc<B>> {
    Router::new()
        .route("/images/json", get(list::<B>))
        .route("/images/create", post(create::<B>))
        .route("/images/get", get(save::<B>))
        .route("/images/load", post(load::<B>))
        .route("/images/prune", post(prune::<B>))
        .route("/commit", post(commit::<B>))
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
        let opts = PullOptions {
            image: image.to_string(),
            tag: q.nonempty("tag").map(str::to_string),
            platform: q.nonempty("platform").map(str::to_string),
            auth: registry_auth(req.headers()),
        };
        return message_stream_response(b.image_pull(opts).await?).await;
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
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
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
        ("GET", "history") => Ok(axum::Json(b.image_history(name).await?).into_response()),
        ("GET", "get") => Ok(tar_response(b.image_save(vec![name.to_string()]).await?)),
        ("POST", "push") => {
            let auth = registry_auth(&headers);
            let tag = q.nonempty("tag").map(str::to_string);
            message_stream_response(b.image_push(name, tag, auth).await?).await
        }
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// `X-Registry-Auth`: base64url JSON credentials; absent means anonymous.
fn registry_auth(headers: &axum::http::HeaderMap) -> t::registry::AuthConfig {
    headers
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
        .map(t::registry::AuthConfig::from_header)
        .unwrap_or_default()
}

fn tar_response(body: crate::backend::ByteStream) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(axum::http::header::CONTENT_TYPE, "application/x-tar")
        .body(axum::body::Body::from_stream(body))
        .expect("static response parts")
}

/// `GET /images/get?names=a&names=b`.
async fn save<B: Backend>(State(b): State<Arc<B>>, q: Params) -> ApiResult<Response> {
    let names: Vec<String> = q
        .get_all("names")
        .into_iter()
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        return Err(ApiError::invalid("no images specified"));
    }
    Ok(tar_response(b.image_save(names).await?))
}

/// `POST /images/load?quiet=`.
async fn load<B: Backend>(State(b): State<Arc<B>>, q: Params, req: Request) -> ApiResult<Response> {
    let body = req
        .into_body()
        .into_data_stream()
        .map(|r| r.map_err(std::io::Error::other));
    super::message_stream_response_in_band(b.image_load(q.bool("quiet"), Box::pin(body)).await?)
        .await
}

async fn prune<B: Backend>(State(b): State<Arc<B>>, q: Params) -> ApiResult<Response> {
    Ok(axum::Json(b.image_prune(q.filters()?).await?).into_response())
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`,
/// the body an optional container config.
async fn commit<B: Backend>(
    State(b): State<Arc<B>>,
    q: Params,
    body: Bytes,
) -> ApiResult<Response> {
    let Some(container) = q.nonempty("container") else {
        return Err(ApiError::not_found("No such container: "));
    };
    let config: Option<t::container::Config> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(parse_json_body(&body)?)
    };
    let opts = CommitOptions {
        container: container.to_string(),
        repo: q.nonempty("repo").map(str::to_string),
        tag: q.nonempty("tag").map(str::to_string),
        comment: q.get("comment").unwrap_or("").to_string(),
        author: q.get("author").unwrap_or("").to_string(),
        // Docker pauses unless told not to (`pause=0`).
        pause: q.get("pause").is_none_or(|_| q.bool("pause")),
        changes: q
            .get_all("changes")
            .into_iter()
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
        config,
    };
    let id = b.image_commit(opts).await?;
    Ok((StatusCode::CREATED, axum::Json(id)).into_response())
}
