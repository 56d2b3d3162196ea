//! The volume API on top of the volume store: in-use checks against the
//! containers, filters, prune.

use berth_api_types::filters::Filters;
use berth_api_types::volume::{CreateOptions, ListResponse, PruneReport, Volume};

use crate::Daemon;
use crate::error::{Error, Result};
use crate::volumes::VolumeRecord;

impl Daemon {
    fn volume_view(&self, v: &VolumeRecord) -> Volume {
        Volume {
            created_at: berth_api_types::time::format_rfc3339_nano(v.created_at),
            driver: "local".into(),
            labels: Some(v.labels.clone()),
            mountpoint: self
                .volumes
                .data_path(&v.name)
                .to_string_lossy()
                .into_owned(),
            name: v.name.clone(),
            options: Some(v.options.clone()),
            scope: "local".into(),
            ..Default::default()
        }
    }

    pub fn volume_create(&self, opts: CreateOptions) -> Result<Volume> {
        let (v, _) = self.volumes.create(
            Some(opts.name.as_str()).filter(|n| !n.is_empty()),
            Some(opts.driver.as_str()),
            opts.labels,
            opts.driver_opts,
        )?;
        self.volume_event("create", &v.name, &[]);
        Ok(self.volume_view(&v))
    }

    pub fn volume_inspect(&self, name: &str) -> Result<Volume> {
        let v = self
            .volumes
            .get(name)
            .ok_or_else(|| Error::not_found(format!("get {name}: no such volume")))?;
        Ok(self.volume_view(&v))
    }

    pub fn volume_list(&self, filters: &Filters) -> Result<ListResponse> {
        filters
            .validate(&["name", "label", "dangling", "driver"])
            .map_err(|e| Error::invalid(e.to_string()))?;
        let dangling = match filters.get("dangling").first() {
            None => None,
            Some(&("true" | "1")) => Some(true),
            Some(&("false" | "0")) => Some(false),
            Some(v) => return Err(Error::invalid(format!("invalid filter 'dangling={v}'"))),
        };
        let mut volumes = Vec::new();
        for v in self.volumes.list() {
            if filters.contains("name") && !filters.fuzzy_match("name", &v.name) {
                continue;
            }
            if filters.contains("driver") && !filters.exact_match("driver", "local") {
                continue;
            }
            if filters.contains("label") && !filters.match_kv_list("label", &v.labels) {
                continue;
            }
            if let Some(d) = dangling
                && self.volume_users(&v.name).is_empty() != d
            {
                continue;
            }
            volumes.push(self.volume_view(&v));
        }
        Ok(ListResponse {
            volumes,
            warnings: Vec::new(),
        })
    }

    pub fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        if self.volumes.get(name).is_none() {
            if force {
                return Ok(());
            }
            return Err(Error::not_found(format!("get {name}: no such volume")));
        }
        let users = self.volume_users(name);
        if !users.is_empty() {
            return Err(Error::conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        self.volumes.remove(name)?;
        self.volume_event("destroy", name, &[]);
        Ok(())
    }

    /// Docker (API >= 1.42) prunes only anonymous volumes unless the filter
    /// `all=true` is given.
    pub fn volume_prune(&self, filters: &Filters) -> Result<PruneReport> {
        filters
            .validate(&["label", "label!", "all"])
            .map_err(|e| Error::invalid(e.to_string()))?;
        let all = filters
            .get_bool_or_default("all", false)
            .map_err(|e| Error::invalid(e.to_string()))?;
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for v in self.volumes.list() {
            if !all && !v.anonymous {
                continue;
            }
            if filters.contains("label") && !filters.match_kv_list("label", &v.labels) {
                continue;
            }
            if filters.contains("label!") && filters.match_kv_list_negated("label!", &v.labels) {
                continue;
            }
            if !self.volume_users(&v.name).is_empty() {
                continue;
            }
            if let Ok(n) = self.volumes.remove(&v.name) {
                self.volume_event("destroy", &v.name, &[]);
                reclaimed += n;
                deleted.push(v.name);
            }
        }
        let mut attrs = std::collections::BTreeMap::new();
        attrs.insert("reclaimed".to_string(), reclaimed.to_string());
        self.emit_event(
            berth_api_types::events::EventType::VOLUME,
            "prune",
            "",
            attrs,
        );
        Ok(PruneReport {
            volumes_deleted: Some(deleted),
            space_reclaimed: reclaimed,
        })
    }
}
