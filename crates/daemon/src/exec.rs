//! `docker exec`: processes started in a running container's namespaces
//! through its shim.

use std::sync::Arc;

use berth_api_types::container::{ExecCreateRequest, ExecInspect, ExecStartRequest};

use crate::Daemon;
use crate::attach::AttachSession;
use crate::error::{Error, ErrorKind, Result};

impl Daemon {
    pub async fn exec_create(self: &Arc<Self>, key: &str, _req: ExecCreateRequest) -> Result<String> {
        let _c = self.lookup(key)?;
        Err(Error::new(ErrorKind::NotImplemented, "exec is not implemented yet"))
    }

    /// `None`: detached.
    pub async fn exec_start(
        self: &Arc<Self>,
        _id: &str,
        _req: ExecStartRequest,
    ) -> Result<Option<AttachSession>> {
        Err(Error::new(ErrorKind::NotImplemented, "exec is not implemented yet"))
    }

    pub async fn exec_resize(self: &Arc<Self>, _id: &str, _h: u16, _w: u16) -> Result<()> {
        Err(Error::new(ErrorKind::NotImplemented, "exec is not implemented yet"))
    }

    pub fn exec_inspect(self: &Arc<Self>, _id: &str) -> Result<ExecInspect> {
        Err(Error::new(ErrorKind::NotImplemented, "exec is not implemented yet"))
    }
}
