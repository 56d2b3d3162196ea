//! `/info` and `/version` with real values from this machine.

use std::collections::BTreeMap;

use berth_api_types::image::UsageSummary;
use berth_api_types::system::{
    ComponentVersion, DiskUsage, Info, PlatformInfo, RuntimeWithStatus, SwarmInfo, Version,
};
use berth_api_types::volume::UsageData;

use crate::Daemon;
use crate::container::Status;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

impl Daemon {
    pub async fn info(&self) -> Info {
        let (mut running, mut paused, mut stopped, mut total) = (0, 0, 0, 0);
        for c in self.containers.read().unwrap().all() {
            total += 1;
            match c.status() {
                Status::Running | Status::Restarting => running += 1,
                Status::Paused => paused += 1,
                _ => stopped += 1,
            }
        }
        let uname = rustix::system::uname();
        let kernel = uname.release().to_string_lossy().into_owned();
        let runtime_name = self.runtime.name().to_string();
        let mut runtimes = BTreeMap::new();
        runtimes.insert(
            runtime_name.clone(),
            RuntimeWithStatus {
                path: self.runtime.binary().to_string_lossy().into_owned(),
                ..Default::default()
            },
        );
        let runtime_version = self.runtime.version().await.unwrap_or_default();
        let cgroup_v1 = !self.cgroup_v2;
        Info {
            id: self.id.clone(),
            containers: total,
            containers_running: running,
            containers_paused: paused,
            containers_stopped: stopped,
            images: self.images.count() as i64,
            driver: self.storage_driver.to_string(),
            driver_status: Some(vec![[
                "driver-type".into(),
                "io.containerd.snapshotter.v1".into(),
            ]]),
            memory_limit: true,
            swap_limit: std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
                .exists()
                || !cgroup_v1,
            cpu_cfs_period: true,
            cpu_cfs_quota: true,
            cpu_shares: true,
            cpu_set: true,
            pids_limit: true,
            ipv4_forwarding: std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .map(|s| s.trim() == "1")
                .unwrap_or(false),
            debug: tracing::enabled!(tracing::Level::DEBUG),
            n_fd: std::fs::read_dir("/proc/self/fd")
                .map(|d| d.count() as i64)
                .unwrap_or(0),
            oom_kill_disable: cgroup_v1,
            n_goroutines: std::fs::read_dir("/proc/self/task")
                .map(|d| d.count() as i64)
                .unwrap_or(0),
            system_time: berth_api_types::time::format_rfc3339_nano(chrono::Utc::now()),
            logging_driver: "json-file".into(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: if cgroup_v1 { "1".into() } else { "2".into() },
            kernel_version: kernel,
            operating_system: os_release_name(),
            os_version: os_release_field("VERSION_ID"),
            os_type: "linux".into(),
            architecture: std::env::consts::ARCH.to_string(),
            index_server_address: "https://index.docker.io/v1/".into(),
            ncpu: std::thread::available_parallelism()
                .map(|n| n.get() as i64)
                .unwrap_or(1),
            mem_total: mem_total(),
            docker_root_dir: self.cfg.data_root.to_string_lossy().into_owned(),
            name: uname.nodename().to_string_lossy().into_owned(),
            server_version: VERSION.to_string(),
            default_runtime: runtime_name,
            runtimes,
            swarm: SwarmInfo {
                local_node_state: "inactive".into(),
                ..Default::default()
            },
            runc_commit: berth_api_types::system::Commit {
                id: runtime_version,
            },
            security_options: Some(vec!["name=seccomp,profile=builtin".into()]),
            plugins: berth_api_types::system::PluginsInfo {
                volume: Some(vec!["local".into()]),
                network: Some(vec!["host".into(), "null".into()]),
                authorization: None,
                log: Some(vec!["json-file".into()]),
            },
            ..Default::default()
        }
    }

    pub fn version(&self) -> Version {
        let kernel = rustix::system::uname()
            .release()
            .to_string_lossy()
            .into_owned();
        let mut details = BTreeMap::new();
        details.insert("ApiVersion".to_string(), "1.55".to_string());
        details.insert("MinAPIVersion".to_string(), "1.24".to_string());
        details.insert("Os".to_string(), "linux".to_string());
        details.insert(
            "Arch".to_string(),
            berth_api_types::oci::go_arch(std::env::consts::ARCH).to_string(),
        );
        details.insert("KernelVersion".to_string(), kernel.clone());
        Version {
            platform: PlatformInfo {
                name: "berth".into(),
            },
            components: vec![ComponentVersion {
                name: "Engine".into(),
                version: VERSION.into(),
                details,
            }],
            version: VERSION.into(),
            api_version: "1.55".into(),
            min_api_version: "1.24".into(),
            kernel_version: kernel,
            // Clients expect the field (docker-py's suite checks it); berth
            // has no Go toolchain to name.
            go_version: "n/a (berth is written in Rust)".into(),
            ..Default::default()
        }
    }
}

fn mem_total() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<i64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn os_release_field(key: &str) -> String {
    std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key}="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_default()
}

fn os_release_name() -> String {
    let pretty = os_release_field("PRETTY_NAME");
    if pretty.is_empty() {
        "Linux".into()
    } else {
        pretty
    }
}

impl Daemon {
    /// `docker system df`: images (layers counted once), containers with
    /// their writable-layer sizes, volumes with their sizes and users. The
    /// build cache is empty: berth has no builder.
    pub async fn system_df(self: &std::sync::Arc<Self>) -> crate::Result<DiskUsage> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.system_df_blocking())
            .await
            .map_err(|e| crate::Error::internal(e.to_string()))?
    }

    fn system_df_blocking(&self) -> crate::Result<DiskUsage> {
        let (images, layers_size) = self.image_usage()?;
        let containers = self.container_list(
            true,
            None,
            true,
            &berth_api_types::filters::Filters::default(),
        )?;
        let mut volumes = self
            .volume_list(&berth_api_types::filters::Filters::default())?
            .volumes;
        for v in &mut volumes {
            let size = berth_archive::fsutil::disk_usage(&self.volumes.data_path(&v.name))
                .map(|s| s as i64)
                .unwrap_or(-1);
            v.usage_data = Some(UsageData {
                ref_count: self.volume_users(&v.name).len() as i64,
                size,
            });
        }

        let active_images = images.iter().filter(|i| i.containers > 0).count() as i64;
        let reclaimable_images: i64 = images
            .iter()
            .filter(|i| i.containers <= 0)
            .map(|i| i.size - i.shared_size.max(0))
            .sum();
        let running = |c: &berth_api_types::container::Summary| {
            matches!(c.state.as_str(), "running" | "paused" | "restarting")
        };
        let active_containers = containers.iter().filter(|c| running(c)).count() as i64;
        let containers_size: i64 = containers.iter().map(|c| c.size_rw).sum();
        let reclaimable_containers: i64 = containers
            .iter()
            .filter(|c| !running(c))
            .map(|c| c.size_rw)
            .sum();
        let used = |v: &berth_api_types::volume::Volume| {
            v.usage_data.as_ref().is_some_and(|u| u.ref_count > 0)
        };
        let volume_size = |v: &berth_api_types::volume::Volume| {
            v.usage_data.as_ref().map(|u| u.size.max(0)).unwrap_or(0)
        };
        let active_volumes = volumes.iter().filter(|v| used(v)).count() as i64;
        let volumes_size: i64 = volumes.iter().map(volume_size).sum();
        let reclaimable_volumes: i64 = volumes.iter().filter(|v| !used(v)).map(volume_size).sum();

        Ok(DiskUsage {
            layers_size,
            image_usage: Some(UsageSummary {
                active_count: active_images,
                items: Vec::new(),
                reclaimable: reclaimable_images,
                total_count: images.len() as i64,
                total_size: layers_size,
            }),
            container_usage: Some(UsageSummary {
                active_count: active_containers,
                items: Vec::new(),
                reclaimable: reclaimable_containers,
                total_count: containers.len() as i64,
                total_size: containers_size,
            }),
            volume_usage: Some(UsageSummary {
                active_count: active_volumes,
                items: Vec::new(),
                reclaimable: reclaimable_volumes,
                total_count: volumes.len() as i64,
                total_size: volumes_size,
            }),
            build_cache_usage: Some(UsageSummary {
                active_count: 0,
                items: Vec::new(),
                reclaimable: 0,
                total_count: 0,
                total_size: 0,
            }),
            images: Some(images),
            containers: Some(containers),
            volumes: Some(volumes),
            build_cache: Some(Vec::new()),
        })
    }
}
