//! `GET /events`: newline-delimited JSON messages, past ones first.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use futures_util::StreamExt;

use crate::backend::{Backend, EventsOptions};
use crate::error::ApiResult;
use crate::params::Params;
use crate::version::ApiVersion;

pub fn routes<B: Backend>() -> Router<Arc<B>> {
    Router::new().route("/events", get(events::<B>))
}

async fn events<B: Backend>(
    State(b): State<Arc<B>>,
    axum::Extension(version): axum::Extension<ApiVersion>,
    q: Params,
) -> ApiResult<Response> {
    let opts = EventsOptions {
        since: super::timestamp(&q, "since")?,
        until: super::timestamp(&q, "until")?,
        filters: q.filters()?,
    };
    let legacy = !version.at_least(1, 52);
    let stream = b.events(opts).await?.map(move |m| {
        let m = if legacy { m.with_legacy_fields() } else { m };
        let mut line = serde_json::to_vec(&m).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::io::Error>(Bytes::from(line))
    });
    Ok(super::json_stream_response(Box::pin(stream)))
}
