//! The event log behind `GET /events`: a bounded ring of recent events
//! (so `since` can replay them) and a broadcast to live subscribers.
//! (Stub: filled in by the events work.)

use std::collections::BTreeMap;

use berth_api_types::events::{EventType, Message};
use berth_api_types::filters::Filters;
use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;

use crate::Daemon;
use crate::container::Container;
use crate::error::{Error, ErrorKind, Result};

#[derive(Default)]
pub(crate) struct EventBus {}

impl EventBus {
    pub(crate) fn new() -> EventBus {
        EventBus {}
    }
}

impl Daemon {
    /// Records and broadcasts one event, stamped now.
    pub(crate) fn emit_event(
        &self,
        _typ: EventType,
        _action: &str,
        _id: &str,
        _attrs: BTreeMap<String, String>,
    ) {
    }

    /// A container event with Docker's attributes: the container's labels,
    /// `image` and `name`, plus `extra` (`exitCode`, `signal`, `execID`, …).
    pub(crate) fn container_event(&self, _c: &Container, _action: &str, _extra: &[(&str, String)]) {}

    pub fn events(
        &self,
        _since: Option<DateTime<Utc>>,
        _until: Option<DateTime<Utc>>,
        _filters: &Filters,
    ) -> Result<BoxStream<'static, Message>> {
        Err(Error::new(ErrorKind::NotImplemented, "events are not implemented yet"))
    }
}
