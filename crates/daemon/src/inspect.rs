//! Read-side container operations: inspect, list, logs, top; and the small
//! writes that go with them (rename, resize).

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_api_types::container::{
    ContainerState, InspectResponse, MountPoint, Propagation, State, Summary, SummaryHostConfig,
    SummaryNetworkSettings, TopResponse,
};
use berth_api_types::filters::Filters;
use berth_api_types::network::EndpointSettings;
use berth_api_types::storage::DriverData;
use berth_api_types::time::{ZERO_TIME, format_rfc3339_nano};
use bytes::Bytes;
use chrono::Utc;
use tokio::sync::mpsc;

use crate::container::{Container, MountKind, Record, Status, human_duration};
use crate::error::{Error, Result};
use crate::network::NetworkMode;
use crate::{Daemon, logs, names};

impl Daemon {
    pub fn container_inspect(&self, key: &str, size: bool) -> Result<InspectResponse> {
        let c = self.lookup(key)?;
        let rec = c.record();
        let st = &rec.state;
        let t = |d: Option<chrono::DateTime<Utc>>| {
            d.map(format_rfc3339_nano)
                .unwrap_or_else(|| ZERO_TIME.to_string())
        };
        let mut resp = InspectResponse {
            id: rec.id.clone(),
            created: format_rfc3339_nano(rec.created),
            path: rec.path.clone(),
            args: rec.args.clone(),
            state: State {
                status: ContainerState::new(st.status.as_str()),
                running: st.status.is_live(),
                paused: st.status == Status::Paused,
                restarting: st.status == Status::Restarting,
                oom_killed: st.oom_killed,
                dead: st.status == Status::Dead,
                pid: i64::from(st.pid),
                exit_code: i64::from(st.exit_code),
                error: st.error.clone(),
                started_at: t(st.started_at),
                finished_at: t(st.finished_at),
                health: st.health.clone(),
            },
            image: rec.image_id.clone(),
            name: rec.name.clone(),
            restart_count: rec.restart_count as i64,
            driver: self.storage_driver.to_string(),
            platform: "linux".into(),
            host_config: rec.host_config.clone(),
            mounts: mount_points(&rec),
            config: rec.config.clone(),
            ..Default::default()
        };
        if rec.has_been_started {
            resp.resolv_conf_path = c.dir.join("resolv.conf").to_string_lossy().into_owned();
            resp.hostname_path = c.dir.join("hostname").to_string_lossy().into_owned();
            resp.hosts_path = c.dir.join("hosts").to_string_lossy().into_owned();
        }
        resp.log_path = c.log_path().to_string_lossy().into_owned();
        let execs = self.execs.ids_of(&c.id);
        resp.exec_ids = (!execs.is_empty()).then_some(execs);
        resp.graph_driver = Some(self.graph_driver_data(&rec));
        resp.network_settings.networks = Some(networks(&rec));
        // The top-level fields API 1.52 dropped; the docker 28 CLI (1.50)
        // and scripts' `{{.NetworkSettings.IPAddress}}` still read them.
        resp.network_settings.legacy = Some(
            berth_api_types::container::LegacyNetworkSettings::from_endpoint(
                &EndpointSettings::default(),
            ),
        );
        resp.network_settings.sandbox_key = if st.status.is_live()
            && matches!(
                NetworkMode::parse(&rec.host_config.network_mode),
                Ok(NetworkMode::Private(_))
            ) {
            crate::network::netns_path(&self.cfg.exec_root, &rec.id)
                .to_string_lossy()
                .into_owned()
        } else {
            String::new()
        };
        resp.network_settings.ports = Some(BTreeMap::new());
        if size {
            let (rw, root) = self.container_sizes(&rec);
            resp.size_rw = Some(rw);
            resp.size_root_fs = Some(root);
        }
        Ok(resp)
    }

    fn graph_driver_data(&self, rec: &Record) -> DriverData {
        let mut data = BTreeMap::new();
        let snap = self.images.snapshotter();
        if let Ok(upper) = snap.writable_dir(&rec.snapshot_key) {
            data.insert("UpperDir".to_string(), upper.to_string_lossy().into_owned());
            if let Some(parent) = upper.parent() {
                data.insert(
                    "WorkDir".to_string(),
                    parent.join("work").to_string_lossy().into_owned(),
                );
            }
        }
        if let Ok(lowers) = snap.parent_dirs(&rec.snapshot_key)
            && !lowers.is_empty()
        {
            let joined: Vec<String> = lowers
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            data.insert("LowerDir".to_string(), joined.join(":"));
        }
        data.insert(
            "MergedDir".to_string(),
            crate::task::TaskPaths::new(&self.cfg.exec_root, &rec.id)
                .rootfs()
                .to_string_lossy()
                .into_owned(),
        );
        DriverData {
            data: Some(data),
            name: self.storage_driver.to_string(),
        }
    }

    /// (writable layer, whole rootfs) in bytes, as `docker ps -s` shows.
    fn container_sizes(&self, rec: &Record) -> (i64, i64) {
        let rw = self
            .images
            .snapshotter()
            .usage(&rec.snapshot_key)
            .unwrap_or(0);
        let image = self.images.get(&rec.image_id).map(|i| i.size).unwrap_or(0);
        (rw as i64, (rw + image) as i64)
    }

    pub fn container_list(
        &self,
        all: bool,
        limit: Option<usize>,
        size: bool,
        filters: &Filters,
    ) -> Result<Vec<Summary>> {
        filters
            .validate(&[
                "id", "name", "label", "status", "ancestor", "exited", "before", "since", "volume",
                "network", "health", "is-task", "publish", "expose",
            ])
            .map_err(|e| Error::invalid(e.to_string()))?;
        for s in filters.get("status") {
            if !matches!(
                s,
                "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead"
            ) {
                return Err(Error::invalid(format!("invalid filter 'status={s}'")));
            }
        }
        let mut exited_codes = Vec::new();
        for e in filters.get("exited") {
            exited_codes.push(
                e.parse::<i32>()
                    .map_err(|_| Error::invalid(format!("invalid filter 'exited={e}'")))?,
            );
        }
        let ancestors: Vec<String> = filters
            .get("ancestor")
            .into_iter()
            .filter_map(|a| self.images.get(a).ok().map(|i| i.id.to_string()))
            .collect();
        let containers = self.containers.read().unwrap().all();
        let mut recs: Vec<(Arc<Container>, Record)> = containers
            .into_iter()
            .map(|c| {
                let r = c.record();
                (c, r)
            })
            .collect();
        // Newest first, as Docker lists them.
        recs.sort_by_key(|r| std::cmp::Reverse(r.1.created));
        let before = filters
            .get("before")
            .first()
            .and_then(|k| self.lookup(k).ok())
            .map(|c| c.record().created);
        let since = filters
            .get("since")
            .first()
            .and_then(|k| self.lookup(k).ok())
            .map(|c| c.record().created);
        let mut out = Vec::new();
        for (_c, rec) in recs {
            let status = rec.state.status;
            let explicit_status = filters.contains("status") || filters.contains("exited");
            if !all && !explicit_status && !status.is_live() {
                continue;
            }
            if filters.contains("id") && !filters.get("id").iter().any(|p| rec.id.starts_with(p)) {
                continue;
            }
            if filters.contains("name")
                && !filters.fuzzy_match("name", rec.name.trim_start_matches('/'))
            {
                continue;
            }
            if filters.contains("status") && !filters.get("status").contains(&status.as_str()) {
                continue;
            }
            if !exited_codes.is_empty()
                && (status != Status::Exited || !exited_codes.contains(&rec.state.exit_code))
            {
                continue;
            }
            if filters.contains("label") {
                let labels = rec.config.labels.clone().unwrap_or_default();
                if !filters.match_kv_list("label", &labels) {
                    continue;
                }
            }
            if filters.contains("health") {
                let h = match (&rec.state.health, status) {
                    (Some(h), Status::Running) => h.status.as_str().to_string(),
                    _ => "none".to_string(),
                };
                if !filters.get("health").contains(&h.as_str()) {
                    continue;
                }
            }
            if filters.contains("ancestor") && !ancestors.contains(&rec.image_id) {
                continue;
            }
            if filters.contains("volume")
                && !filters.get("volume").iter().any(|v| {
                    rec.mounts
                        .iter()
                        .any(|m| m.name.as_deref() == Some(*v) || m.destination == *v)
                })
            {
                continue;
            }
            if before.is_some_and(|b| rec.created >= b) || since.is_some_and(|s| rec.created <= s) {
                continue;
            }
            out.push(self.summary(&rec, size));
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }

    fn summary(&self, rec: &Record, size: bool) -> Summary {
        let mut command = rec.path.clone();
        for a in &rec.args {
            command.push(' ');
            command.push_str(a);
        }
        let (size_rw, size_root_fs) = if size {
            self.container_sizes(rec)
        } else {
            (0, 0)
        };
        Summary {
            id: rec.id.clone(),
            names: vec![rec.name.clone()],
            image: if rec.image.is_empty() {
                rec.image_id.clone()
            } else {
                rec.image.clone()
            },
            image_id: rec.image_id.clone(),
            command,
            created: rec.created.timestamp(),
            ports: Vec::new(),
            size_rw,
            size_root_fs,
            labels: Some(rec.config.labels.clone().unwrap_or_default()),
            state: ContainerState::new(rec.state.status.as_str()),
            status: status_text(rec),
            host_config: SummaryHostConfig {
                network_mode: rec.host_config.network_mode.to_string(),
                ..Default::default()
            },
            network_settings: SummaryNetworkSettings {
                networks: Some(networks(rec)),
            },
            mounts: mount_points(rec),
            ..Default::default()
        }
    }

    pub async fn container_logs(
        self: &Arc<Self>,
        key: &str,
        mut opts: logs::ReadOptions,
    ) -> Result<(bool, mpsc::Receiver<std::io::Result<Bytes>>)> {
        let c = self.lookup(key)?;
        let (tty, driver) = {
            let g = c.lock();
            (g.rec.config.tty, g.rec.host_config.log_config.typ.clone())
        };
        if driver == "none" {
            return Err(Error::not_implemented(
                "configured logging driver does not support reading",
            ));
        }
        opts.tty = tty;
        let (tx, rx) = mpsc::channel(64);
        let path = c.log_path();
        let watch = c.subscribe();
        tokio::task::spawn_blocking(move || {
            logs::read(path, opts, move || watch.borrow().status.is_live(), tx);
        });
        Ok((tty, rx))
    }

    pub async fn container_top(&self, key: &str, ps_args: Option<String>) -> Result<TopResponse> {
        let c = self.lookup(key)?;
        if !c.status().is_live() {
            return Err(Error::conflict(format!(
                "container {} is not running",
                c.id
            )));
        }
        let pids = self.runtime.ps(&c.id).await?;
        let args = ps_args.unwrap_or_else(|| "-ef".to_string());
        let out = tokio::process::Command::new("ps")
            .args(args.split_whitespace())
            .output()
            .await
            .map_err(|e| Error::io("run ps", e))?;
        if !out.status.success() {
            return Err(Error::internal(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }

    pub async fn container_rename(&self, key: &str, new_name: &str) -> Result<()> {
        let c = self.lookup(key)?;
        let new_name = new_name.trim_start_matches('/');
        if new_name.is_empty() {
            return Err(Error::invalid("Neither old nor new names may be empty"));
        }
        if !names::valid_name(new_name) {
            return Err(Error::invalid(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let old = c.name();
        if old.trim_start_matches('/') == new_name {
            return Err(Error::invalid(
                "Renaming a container with the same name as its current name",
            ));
        }
        let mut index = self.containers.write().unwrap();
        index.reserve_name(new_name, &c.id)?;
        index.release_name(old.trim_start_matches('/'), &c.id);
        let mut g = c.lock();
        g.rec.name = format!("/{new_name}");
        if let Err(e) = c.commit(&g) {
            g.rec.name = old.clone();
            index.release_name(new_name, &c.id);
            let _ = index.reserve_name(old.trim_start_matches('/'), &c.id);
            return Err(e);
        }
        drop(g);
        drop(index);
        self.container_event(&c, "rename", &[("oldName", old)]);
        Ok(())
    }

    pub async fn container_resize(&self, key: &str, height: u16, width: u16) -> Result<()> {
        let c = self.lookup(key)?;
        let (live, tty) = {
            let g = c.lock();
            (g.task_live, g.rec.config.tty)
        };
        if !live {
            return Err(Error::conflict(format!(
                "container {} is not running",
                c.id
            )));
        }
        // Resizing a container without a TTY is a no-op in Docker too.
        if !tty {
            return Ok(());
        }
        c.paths
            .client()
            .resize(height, width)
            .await
            .map_err(|e| Error::internal(format!("resize tty of {}: {e}", c.id)))
    }

    /// Containers that mount the volume (for "volume is in use").
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        self.containers
            .read()
            .unwrap()
            .all()
            .iter()
            .filter(|c| {
                c.lock()
                    .rec
                    .mounts
                    .iter()
                    .any(|m| m.kind == MountKind::Volume && m.name.as_deref() == Some(name))
            })
            .map(|c| c.id.clone())
            .collect()
    }
}

fn networks(rec: &Record) -> BTreeMap<String, EndpointSettings> {
    let mut m = BTreeMap::new();
    if let Ok(mode) = NetworkMode::parse(&rec.host_config.network_mode)
        && let Some(name) = mode.network_name()
    {
        m.insert(name.to_string(), EndpointSettings::default());
    }
    m
}

fn mount_points(rec: &Record) -> Vec<MountPoint> {
    rec.mounts
        .iter()
        .map(|m| MountPoint {
            typ: berth_api_types::container::MountType::new(m.kind.as_str()),
            name: m.name.clone().unwrap_or_default(),
            source: m.source.clone(),
            destination: m.destination.clone(),
            driver: if m.kind == MountKind::Volume {
                "local".into()
            } else {
                String::new()
            },
            mode: m.mode.clone(),
            rw: m.rw,
            propagation: Propagation::new(m.propagation.clone()),
        })
        .collect()
}

/// `docker ps`'s STATUS column.
fn status_text(rec: &Record) -> String {
    let now = Utc::now();
    let st = &rec.state;
    match st.status {
        Status::Created => "Created".into(),
        Status::Running | Status::Paused => {
            let up = human_duration(now - st.started_at.unwrap_or(now));
            if st.status == Status::Paused {
                format!("Up {up} (Paused)")
            } else {
                // moby's State.String: the health after the uptime.
                match st.health.as_ref().map(|h| h.status.as_str()) {
                    Some("starting") => format!("Up {up} (health: starting)"),
                    Some(h @ ("healthy" | "unhealthy")) => format!("Up {up} ({h})"),
                    _ => format!("Up {up}"),
                }
            }
        }
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            st.exit_code,
            human_duration(now - st.finished_at.unwrap_or(now))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Exited => match st.finished_at {
            Some(f) => format!("Exited ({}) {} ago", st.exit_code, human_duration(now - f)),
            None => format!("Exited ({})", st.exit_code),
        },
    }
}

/// moby's `parsePSOutput`: keep the header and the rows whose PID column
/// is one of the container's.
fn parse_ps(output: &str, pids: &[i32]) -> Result<TopResponse> {
    let mut lines = output.lines();
    let header = lines.next().unwrap_or("");
    let titles: Vec<String> = header.split_whitespace().map(str::to_string).collect();
    let pid_idx = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| Error::invalid("Couldn't find PID field in ps output"))?;
    let mut processes = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid) = fields.get(pid_idx).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        // The last column (the command) keeps its spaces.
        let n = titles.len();
        let mut row: Vec<String> = fields
            .iter()
            .take(n.saturating_sub(1))
            .map(|s| s.to_string())
            .collect();
        if fields.len() >= n {
            row.push(fields[n - 1..].join(" "));
        }
        processes.push(row);
    }
    Ok(TopResponse {
        titles: Some(titles),
        processes: Some(processes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_are_filtered_by_pid() {
        let out = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 /sbin/init\nroot 42 1 0 10:01 ? 00:00:00 sleep 100 now\n";
        let top = parse_ps(out, &[42]).unwrap();
        assert_eq!(top.titles.unwrap().len(), 8);
        let rows = top.processes.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][1], "42");
        assert_eq!(rows[0][7], "sleep 100 now");
    }
}
