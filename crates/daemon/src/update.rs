//! `docker update`: resources applied to a live container through the OCI
//! runtime, and recorded with the restart policy.
//! (Stub: filled in by the update work.)

use std::sync::Arc;

use berth_api_types::container::{UpdateConfig, UpdateResponse};

use crate::Daemon;
use crate::error::{Error, ErrorKind, Result};

impl Daemon {
    pub async fn container_update(
        self: &Arc<Self>,
        key: &str,
        _update: UpdateConfig,
    ) -> Result<UpdateResponse> {
        let _c = self.lookup(key)?;
        Err(Error::new(
            ErrorKind::NotImplemented,
            "update is not implemented yet",
        ))
    }
}
