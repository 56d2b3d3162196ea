//! `docker stats`: samples of a container's cgroup (v1 or v2).
//! (Stub: filled in by the stats work.)

use std::sync::Arc;

use berth_api_types::stats::StatsResponse;
use futures_util::stream::BoxStream;

use crate::Daemon;
use crate::error::{Error, ErrorKind, Result};

impl Daemon {
    pub async fn container_stats(
        self: &Arc<Self>,
        key: &str,
        _stream: bool,
        _one_shot: bool,
    ) -> Result<BoxStream<'static, StatsResponse>> {
        let _c = self.lookup(key)?;
        Err(Error::new(
            ErrorKind::NotImplemented,
            "stats are not implemented yet",
        ))
    }
}
