use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use berth_api_types as t;
use futures_util::StreamExt;

use super::{hijack, no_content, parse_json_body, raw_stream_type, timestamp, tty_size};
use crate::backend::{
    AttachOptions, Backend, ContainerListOptions, LogsOptions, RemoveOptions, StopOptions,
    WaitCondition,
};
use crate::error::{ApiError, ApiResult};
use crate::params::Params;

pub fn routes<B: Backend>() -> Router<Arc<B>> {
    Router::new()
        .route("/containers/json", get(list::<B>))
        .route("/containers/create", post(create::<B>))
        .route("/containers/{id}/json", get(inspect::<B>))
        .route("/containers/{id}/start", post(start::<B>))
        .route("/containers/{id}/stop", post(stop::<B>))
        .route("/containers/{id}/restart", post(restart::<B>))
        .route("/containers/{id}/kill", post(kill::<B>))
        .route("/containers/{id}/wait", post(wait::<B>))
        .route("/containers/{id}", delete(remove::<B>))
        .route("/containers/{id}/{alias}", delete(remove_link::<B>))
        .route("/containers/{id}/attach", post(attach::<B>))
        .route("/containers/{id}/logs", get(logs::<B>))
        .route("/containers/{id}/resize", post(resize::<B>))
        .route("/containers/{id}/rename", post(rename::<B>))
        .route("/containers/{id}/top", get(top::<B>))
        .route("/containers/{id}/pause", post(pause::<B>))
        .route("/containers/{id}/unpause", post(unpause::<B>))
        .route("/containers/{id}/stats", get(stats::<B>))
        .route("/containers/prune", post(prune::<B>))
        .route("/containers/{id}/update", post(update::<B>))
}

async fn list<B: Backend>(State(b): State<Arc<B>>, q: Params) -> ApiResult<Response> {
    let limit = q.int("limit")?.filter(|n| *n > 0).map(|n| n as usize);
    let opts = ContainerListOptions {
        all: q.bool("all"),
        limit,
        size: q.bool("size"),
        filters: q.filters()?,
    };
    Ok(axum::Json(b.container_list(opts).await?).into_response())
}

async fn create<B: Backend>(
    State(b): State<Arc<B>>,
    q: Params,
    body: Bytes,
) -> ApiResult<Response> {
    let req: t::container::CreateRequest = parse_json_body(&body)?;
    let name = q.nonempty("name").map(str::to_string);
    let resp = b.container_create(name, req).await?;
    Ok((StatusCode::CREATED, axum::Json(resp)).into_response())
}

async fn inspect<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    Ok(axum::Json(b.container_inspect(&id, q.bool("size")).await?).into_response())
}

async fn start<B: Backend>(State(b): State<Arc<B>>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(if b.container_start(&id).await? {
        no_content()
    } else {
        StatusCode::NOT_MODIFIED.into_response()
    })
}

fn stop_options(q: &Params) -> ApiResult<StopOptions> {
    Ok(StopOptions {
        signal: q.nonempty("signal").map(str::to_string),
        timeout: q.int("t")?,
    })
}

async fn stop<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    Ok(if b.container_stop(&id, stop_options(&q)?).await? {
        no_content()
    } else {
        StatusCode::NOT_MODIFIED.into_response()
    })
}

async fn restart<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    b.container_restart(&id, stop_options(&q)?).await?;
    Ok(no_content())
}

async fn kill<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    b.container_kill(&id, q.nonempty("signal").map(str::to_string))
        .await?;
    Ok(no_content())
}

async fn wait<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    let condition = match q.nonempty("condition") {
        None | Some("not-running") => WaitCondition::NotRunning,
        Some("next-exit") => WaitCondition::NextExit,
        Some("removed") => WaitCondition::Removed,
        Some(other) => {
            return Err(ApiError::invalid(format!("invalid condition: \"{other}\"")));
        }
    };
    let result = b.container_wait(&id, condition).await?;
    // The headers go out now; the body when the condition is met.
    let body = futures_util::stream::once(async move {
        let r = result.await;
        let mut line = serde_json::to_vec(&r).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::io::Error>(Bytes::from(line))
    });
    Ok(super::json_stream_response(Box::pin(body)))
}

async fn remove<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    let opts = RemoveOptions {
        force: q.bool("force"),
        volumes: q.bool("v"),
        link: q.bool("link"),
    };
    b.container_remove(&id, opts).await?;
    Ok(no_content())
}

async fn attach<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    q: Params,
    mut req: Request,
) -> ApiResult<Response> {
    let opts = AttachOptions {
        stream: q.bool("stream"),
        logs: q.bool("logs"),
        stdin: q.bool("stdin"),
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        detach_keys: q.nonempty("detachKeys").map(str::to_string),
    };
    let session = b.container_attach(&id, opts).await?;
    Ok(hijack(session, hyper::upgrade::on(&mut req)))
}

async fn logs<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    let tail = match q.nonempty("tail") {
        None | Some("all") => None,
        Some(n) => match n.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n as usize),
            // moby treats a negative or unparsable tail as "all".
            _ => None,
        },
    };
    let opts = LogsOptions {
        follow: q.bool("follow"),
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        since: timestamp(&q, "since")?,
        until: timestamp(&q, "until")?,
        timestamps: q.bool("timestamps"),
        tail,
    };
    if !(opts.stdout || opts.stderr) {
        return Err(ApiError::invalid(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let out = b.container_logs(&id, opts).await?;
    let body = out.body.map(|r| r.map_err(std::io::Error::other));
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, raw_stream_type(out.tty))
        .body(Body::from_stream(body))
        .expect("static response parts"))
}

async fn resize<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    let (h, w) = tty_size(&q)?;
    b.container_resize(&id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

async fn rename<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    let name = q.get("name").unwrap_or("");
    b.container_rename(&id, name).await?;
    Ok(no_content())
}

async fn top<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    let ps_args = q.nonempty("ps_args").map(str::to_string);
    Ok(axum::Json(b.container_top(&id, ps_args).await?).into_response())
}

async fn pause<B: Backend>(State(b): State<Arc<B>>, Path(id): Path<String>) -> ApiResult<Response> {
    b.container_pause(&id).await?;
    Ok(no_content())
}

async fn unpause<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    b.container_unpause(&id).await?;
    Ok(no_content())
}

/// `stream` defaults to true; `stream=false` answers one object (a sample
/// that waited for a second reading unless `one-shot`).
async fn stats<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<Response> {
    let stream = q.get("stream").is_none() || q.bool("stream");
    let one_shot = q.bool("one-shot");
    if one_shot && stream {
        return Err(ApiError::invalid(
            "cannot have stream=true and one-shot=true",
        ));
    }
    let samples = b.container_stats(&id, stream, one_shot).await?;
    let samples = if stream {
        samples
    } else {
        Box::pin(samples.take(1))
    };
    let body = samples.map(|s| {
        let mut line = serde_json::to_vec(&s).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::io::Error>(Bytes::from(line))
    });
    Ok(super::json_stream_response(Box::pin(body)))
}

async fn update<B: Backend>(
    State(b): State<Arc<B>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let update: t::container::UpdateConfig = parse_json_body(&body)?;
    Ok(axum::Json(b.container_update(&id, update).await?).into_response())
}

async fn prune<B: Backend>(State(b): State<Arc<B>>, q: Params) -> ApiResult<Response> {
    Ok(axum::Json(b.container_prune(q.filters()?).await?).into_response())
}

/// `DELETE /containers/{name}/{alias}?link=1`: a legacy link, by the name
/// the linked container has under the other's.
async fn remove_link<B: Backend>(
    State(b): State<Arc<B>>,
    Path((id, alias)): Path<(String, String)>,
    q: Params,
) -> ApiResult<Response> {
    if !q.bool("link") {
        return Err(ApiError::not_found(format!(
            "No such container: {id}/{alias}"
        )));
    }
    b.container_remove_link(&id, &alias).await?;
    Ok(no_content())
}
