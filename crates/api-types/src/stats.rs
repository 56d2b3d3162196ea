//! `GET /containers/{id}/stats` bodies (moby `container.StatsResponse`).

use serde::{Deserialize, Serialize};

/// One sample. (Filled in by the stats work; see the issue.)
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsResponse {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub id: String,
}
