//! Start, exit, stop, kill, restart, pause, remove and wait.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_runtime::shim::{ExitStatus, ShimConfig};
use berth_runtime::spec::{
    self, MountKind as SpecMountKind, MountSpec, NamespaceMode, SpecOptions,
};
use chrono::Utc;

use crate::container::{Container, MountKind, Record, Status};
use crate::error::{Error, ErrorKind, Result};
use crate::network::{self, NetworkMode};
use crate::{Daemon, netfiles};
use crate::{restart, task};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

/// The largest /etc/passwd or /etc/group we read from a container.
const MAX_ID_FILE: u64 = 4 << 20;

impl Daemon {
    /// `Ok(false)`: already running (the API's 304).
    pub async fn container_start(self: &Arc<Self>, key: &str) -> Result<bool> {
        let c = self.lookup(key)?;
        let _ops = c.ops.lock().await;
        // Not while a stopped-container view has the rootfs mounted.
        let _fs = c.fs_lock.write().await;
        match c.status() {
            Status::Running | Status::Paused | Status::Restarting => return Ok(false),
            Status::Removing | Status::Dead => {
                return Err(Error::conflict(format!(
                    "cannot start container {}: it is being removed",
                    c.id
                )));
            }
            Status::Created | Status::Exited => {}
        }
        {
            // A start by a user resets the restart policy's count and
            // back-off (moby ResetRestartManager).
            let mut g = c.lock();
            g.rec.restart_count = 0;
            g.rec.manually_stopped = false;
            g.backoff = Duration::ZERO;
        }
        match self.start_task(&c).await {
            Ok(()) => Ok(true),
            Err(e) => {
                self.cleanup_task(&c);
                let auto_remove = {
                    let mut g = c.lock();
                    g.task_live = false;
                    g.rec.state.error = e.message.clone();
                    g.rec.state.exit_code = start_failure_code(&e.message);
                    let _ = c.commit(&g);
                    g.rec.host_config.auto_remove
                };
                // `docker run --rm` waits for the removal even when the
                // start fails, as dockerd removes such a container.
                if auto_remove {
                    self.spawn_auto_remove(c.id.clone());
                }
                Err(e)
            }
        }
    }

    async fn start_task(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        let rec = c.record();
        let paths = c.paths.clone();
        std::fs::create_dir_all(&paths.bundle)
            .map_err(|e| Error::io(format!("create bundle {}", paths.bundle.display()), e))?;
        let rootfs = paths.rootfs();
        std::fs::create_dir_all(&rootfs).map_err(|e| Error::io("create rootfs mount point", e))?;
        // A previous daemon may have died between mount and exit handling.
        let _ = berth_snapshot::unmount(&rootfs);
        let mounts = self.images.snapshotter().mounts(&rec.snapshot_key)?;
        berth_snapshot::mount_all(&mounts, &rootfs)?;

        let net = NetworkMode::parse(&rec.host_config.network_mode)?;
        let netns = match &net {
            NetworkMode::Private(_) => {
                NamespaceMode::Path(network::create_netns(&self.cfg.exec_root, &c.id)?)
            }
            NetworkMode::Host => NamespaceMode::Host,
            NetworkMode::Container(target) => {
                let other = self.lookup(target)?;
                let (status, pid) = {
                    let g = other.lock();
                    (g.rec.state.status, g.rec.state.pid)
                };
                if !status.is_live() {
                    return Err(Error::conflict(format!(
                        "cannot join network namespace of a non running container: container {} is {}",
                        other.id,
                        status.as_str()
                    )));
                }
                let pinned = network::netns_path(&self.cfg.exec_root, &other.id);
                NamespaceMode::Path(if pinned.exists() {
                    pinned
                } else {
                    PathBuf::from(format!("/proc/{pid}/ns/net"))
                })
            }
        };
        netfiles::write(&c.dir, &rec, &net)?;
        if !rec.has_been_started {
            self.populate_volumes(&rec, &rootfs)?;
        }
        let opts = self.spec_options(c, &rec, &rootfs, netns, &net)?;
        let spec = spec::generate(&opts)?;
        spec::write_bundle_config(&paths.bundle, &spec)?;

        let shim_cfg = ShimConfig {
            id: c.id.clone(),
            socket: paths.socket.clone(),
            console_socket: paths.console.clone(),
            runtime: self.runtime.binary().to_path_buf(),
            runtime_root: self.runtime.state_root().to_path_buf(),
            // `--log-driver none`: the output goes nowhere.
            log_path: if rec.host_config.log_config.typ == "none" {
                PathBuf::from("/dev/null")
            } else {
                c.log_path()
            },
            stdin: rec.config.open_stdin,
            stdin_once: rec.config.stdin_once,
            tty: rec.config.tty,
            cgroups_path: opts.cgroups_path.clone(),
        };
        let pid = task::spawn_shim(&self.cfg.shim_exe, &paths, &shim_cfg).await?;

        // Attach clients that came before the start get their streams now,
        // while the process still waits in the runtime's exec fifo.
        let pending = {
            let mut g = c.lock();
            g.task_live = true;
            std::mem::take(&mut g.pending)
        };
        let client = paths.client();
        for p in pending {
            match client.attach(p.stdin, p.stdout, p.stderr).await {
                Ok(stream) => {
                    let _ = p.tx.send(stream);
                }
                Err(e) => tracing::warn!(container = %c.id, error = %e, "connect pending attach"),
            }
        }
        if let Err(e) = self.runtime.start(&c.id).await {
            // A process that runs and exits at once can be reaped, and its
            // runtime state deleted by the shim, while `runc start` is still
            // cleaning up ("remove …/exec.fifo: no such file"). The start
            // did happen then: the shim has an exit status for it.
            let started = match client.state().await {
                Ok((_, exit)) => exit.is_some(),
                Err(_) => berth_runtime::shim::read_exit_file(&paths.bundle).is_some(),
            };
            if !started {
                let _ = self.runtime.delete(&c.id, true).await;
                return Err(e.into());
            }
            tracing::debug!(container = %c.id, error = %e, "start raced the exit; it did start");
        }
        {
            let mut g = c.lock();
            let st = &mut g.rec.state;
            st.status = Status::Running;
            st.pid = pid;
            st.exit_code = 0;
            st.error.clear();
            st.oom_killed = false;
            st.started_at = Some(Utc::now());
            st.finished_at = None;
            g.rec.has_been_started = true;
            c.commit(&g)?;
        }
        self.spawn_monitor(c.clone());
        self.volume_mount_events(c, "mount");
        self.container_event(c, "start", &[]);
        self.start_health_monitor(c);
        Ok(())
    }

    /// dockerd's `mount` and `unmount` volume events, one per volume a
    /// container's task mounts.
    fn volume_mount_events(&self, c: &Container, action: &str) {
        let rec = c.record();
        for m in rec.mounts.iter().filter(|m| m.kind == MountKind::Volume) {
            let Some(name) = &m.name else { continue };
            let mut attrs = std::collections::BTreeMap::new();
            attrs.insert("driver".to_string(), "local".to_string());
            attrs.insert("container".to_string(), c.id.clone());
            if action == "mount" {
                attrs.insert("destination".to_string(), m.destination.clone());
                attrs.insert("read/write".to_string(), m.rw.to_string());
                attrs.insert("propagation".to_string(), m.propagation.clone());
            }
            self.emit_event(
                berth_api_types::events::EventType::VOLUME,
                action,
                name,
                attrs,
            );
        }
    }

    /// Waits for the task's exit (from the shim, or from what it left behind
    /// if it is gone) and records it.
    pub(crate) fn spawn_monitor(self: &Arc<Self>, c: Arc<Container>) {
        let d = self.clone();
        tokio::spawn(async move {
            let client = c.paths.client();
            let status = match client.wait().await {
                Ok(s) => s,
                Err(_) => {
                    // The shim died without cleaning up after the runtime.
                    let _ = d.runtime.delete(&c.id, true).await;
                    exit_after_shim_gone(&c.paths.bundle)
                }
            };
            d.handle_exit(&c, status).await;
        });
    }

    pub(crate) async fn handle_exit(self: &Arc<Self>, c: &Arc<Container>, status: ExitStatus) {
        self.cleanup_task(c);
        self.execs.remove_container(&c.id);
        let (auto_remove, restart_in) = {
            let mut g = c.lock();
            g.task_live = false;
            if let Some(stop) = g.health_stop.take() {
                stop.cancel();
            }
            let finished_at = chrono::DateTime::parse_from_rfc3339(&status.exited_at)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|_| Utc::now());
            let ran_for = g
                .rec
                .state
                .started_at
                .and_then(|s| (finished_at - s).to_std().ok())
                .unwrap_or_default();
            let restart = !g.rec.host_config.auto_remove
                && g.rec.state.status != Status::Removing
                && restart::should_restart(
                    &g.rec.host_config.restart_policy,
                    status.code,
                    g.rec.manually_stopped,
                    g.rec.restart_count,
                );
            let restart_in = restart.then(|| {
                g.backoff = restart::next_backoff(g.backoff, ran_for);
                g.rec.restart_count += 1;
                g.backoff
            });
            let st = &mut g.rec.state;
            st.status = if restart {
                Status::Restarting
            } else {
                Status::Exited
            };
            st.pid = 0;
            st.exit_code = status.code;
            st.oom_killed = status.oom_killed;
            st.finished_at = Some(finished_at);
            if let Err(e) = c.commit(&g) {
                tracing::warn!(container = %c.id, error = %e, "save exit status");
            }
            (g.rec.host_config.auto_remove, restart_in)
        };
        tracing::debug!(container = %c.id, code = status.code, "exited");
        if status.oom_killed {
            self.container_event(c, "oom", &[]);
        }
        self.container_event(c, "die", &[("exitCode", status.code.to_string())]);
        self.volume_mount_events(c, "unmount");
        if let Some(wait) = restart_in {
            self.spawn_restart(c.clone(), wait);
        } else if auto_remove {
            self.spawn_auto_remove(c.id.clone());
        }
    }

    /// Starts a `Restarting` container again after `wait`, unless a stop,
    /// kill or removal cancelled the restart in the meantime.
    pub(crate) fn spawn_restart(self: &Arc<Self>, c: Arc<Container>, wait: Duration) {
        let d = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ops = c.ops.lock().await;
            let _fs = c.fs_lock.write().await;
            if c.status() != Status::Restarting {
                return;
            }
            match d.start_task(&c).await {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(container = %c.id, error = %e, "restart");
                    d.cleanup_task(&c);
                    let mut g = c.lock();
                    g.task_live = false;
                    g.rec.state.status = Status::Exited;
                    g.rec.state.error = e.message.clone();
                    g.rec.state.exit_code = start_failure_code(&e.message);
                    let _ = c.commit(&g);
                }
            }
        });
    }

    /// Cancels the pending restart of a `Restarting` container: it is
    /// stopped then, as far as anyone can tell. True if there was one.
    fn cancel_restart(&self, c: &Container) -> bool {
        let mut g = c.lock();
        if g.rec.state.status != Status::Restarting || g.task_live {
            return false;
        }
        g.rec.manually_stopped = true;
        g.rec.state.status = Status::Exited;
        let _ = c.commit(&g);
        true
    }

    /// `--rm`: removal with its anonymous volumes, after the ops lock frees.
    fn spawn_auto_remove(self: &Arc<Self>, id: String) {
        let d = self.clone();
        tokio::spawn(async move {
            let opts = RemoveOptions {
                force: true,
                volumes: true,
            };
            if let Err(e) = d.container_remove(&id, opts).await
                && e.kind != ErrorKind::NotFound
            {
                tracing::warn!(container = %id, error = %e, "auto-remove");
            }
        });
    }

    /// Releases what a task held on the host: the rootfs mount and the
    /// network namespace. Safe to call twice.
    pub(crate) fn cleanup_task(&self, c: &Container) {
        let _ = berth_snapshot::unmount(&c.paths.rootfs());
        network::remove_netns(&network::netns_path(&self.cfg.exec_root, &c.id));
        for f in ["config.json", "init.pid", "runtime.log"] {
            let _ = std::fs::remove_file(c.paths.bundle.join(f));
        }
    }

    fn spec_options(
        &self,
        c: &Container,
        rec: &Record,
        rootfs: &Path,
        netns: NamespaceMode,
        net: &NetworkMode,
    ) -> Result<SpecOptions> {
        let cfg = &rec.config;
        let hc = &rec.host_config;
        let (passwd, group) = match pathrs::Root::open(rootfs) {
            Ok(root) => read_id_files(&root),
            Err(_) => (None, None),
        };
        let user = berth_runtime::user::resolve(
            &cfg.user,
            passwd.as_deref(),
            group.as_deref(),
            hc.group_add.as_deref().unwrap_or(&[]),
        )?;
        let mut env: Vec<String> = cfg.env.clone().unwrap_or_default();
        let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
        if !has(&env, "PATH") {
            env.insert(
                0,
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            );
        }
        if !has(&env, "HOSTNAME") {
            env.insert(1.min(env.len()), format!("HOSTNAME={}", cfg.hostname));
        }
        if cfg.tty && !has(&env, "TERM") {
            env.push("TERM=xterm".into());
        }
        // Legacy links: the linked containers' variables, under the alias,
        // unless the container sets the same names itself.
        for e in self.link_env(rec)? {
            let key = e.split('=').next().unwrap_or("");
            if !has(&env, key) {
                env.push(e);
            }
        }
        if !has(&env, "HOME") {
            env.push(format!("HOME={}", user.home));
        }
        let mut mounts = Vec::new();
        for m in &rec.mounts {
            match m.kind {
                MountKind::Bind | MountKind::Volume => {
                    let mut options = vec!["rbind".to_string()];
                    options.push(if m.propagation.is_empty() {
                        "rprivate".into()
                    } else {
                        m.propagation.clone()
                    });
                    options.push(if m.rw { "rw".into() } else { "ro".into() });
                    mounts.push(MountSpec {
                        destination: m.destination.clone(),
                        source: m.source.clone(),
                        kind: SpecMountKind::Bind,
                        options,
                    });
                }
                MountKind::Tmpfs => mounts.push(MountSpec {
                    destination: m.destination.clone(),
                    source: "tmpfs".into(),
                    kind: SpecMountKind::Tmpfs,
                    options: m.options.clone(),
                }),
            }
        }
        // The daemon's network files, unless the user mounted over them.
        for (name, dest) in netfiles::FILES {
            if rec.mounts.iter().any(|m| m.destination == *dest) {
                continue;
            }
            mounts.push(MountSpec {
                destination: dest.to_string(),
                source: c.dir.join(name).to_string_lossy().into_owned(),
                kind: SpecMountKind::Bind,
                options: vec!["rbind".into(), "rprivate".into()],
            });
        }
        let res = &hc.resources;
        let pos = |v: i64| (v > 0).then_some(v);
        let resources = spec::Resources {
            memory: pos(res.memory),
            memory_reservation: pos(res.memory_reservation),
            memory_swap: (res.memory_swap != 0).then_some(res.memory_swap),
            memory_swappiness: res.memory_swappiness.filter(|v| *v >= 0),
            oom_kill_disable: res.oom_kill_disable,
            cpu_shares: pos(res.cpu_shares),
            nano_cpus: pos(res.nano_cpus),
            cpu_period: pos(res.cpu_period),
            cpu_quota: pos(res.cpu_quota),
            cpuset_cpus: (!res.cpuset_cpus.is_empty()).then(|| res.cpuset_cpus.clone()),
            cpuset_mems: (!res.cpuset_mems.is_empty()).then(|| res.cpuset_mems.clone()),
            pids_limit: res.pids_limit.filter(|v| *v != 0),
            blkio_weight: (res.blkio_weight > 0).then_some(res.blkio_weight),
            ..Default::default()
        };
        let rlimits = res
            .ulimits
            .iter()
            .flatten()
            .map(|u| (u.name.clone(), u.soft.max(0) as u64, u.hard.max(0) as u64))
            .collect();
        let devices = res
            .devices
            .iter()
            .flatten()
            .map(|d| spec::DeviceMapping {
                path_on_host: d.path_on_host.clone(),
                path_in_container: d.path_in_container.clone(),
                cgroup_permissions: d.cgroup_permissions.clone(),
            })
            .collect();
        let console_size = (hc.console_size[0] > 0 && hc.console_size[1] > 0)
            .then(|| (hc.console_size[0] as u16, hc.console_size[1] as u16));
        Ok(SpecOptions {
            rootfs: rootfs.to_path_buf(),
            readonly_rootfs: hc.readonly_rootfs,
            args: std::iter::once(rec.path.clone())
                .chain(rec.args.iter().cloned())
                .collect(),
            env,
            cwd: if cfg.working_dir.is_empty() {
                "/".into()
            } else {
                cfg.working_dir.clone()
            },
            terminal: cfg.tty,
            console_size,
            user,
            hostname: cfg.hostname.clone(),
            domainname: cfg.domainname.clone(),
            privileged: hc.privileged,
            cap_add: hc.cap_add.clone().unwrap_or_default(),
            cap_drop: hc.cap_drop.clone().unwrap_or_default(),
            security_opt: hc.security_opt.clone().unwrap_or_default(),
            default_net_sysctls: matches!(net, NetworkMode::Private(_)),
            network: netns,
            ipc: if hc.ipc_mode.as_str() == "host" {
                NamespaceMode::Host
            } else {
                NamespaceMode::Private
            },
            ipc_none: hc.ipc_mode.as_str() == "none",
            pid: if hc.pid_mode.as_str() == "host" {
                NamespaceMode::Host
            } else {
                NamespaceMode::Private
            },
            uts: if hc.uts_mode.as_str() == "host" {
                NamespaceMode::Host
            } else {
                NamespaceMode::Private
            },
            cgroupns: if hc.cgroupns_mode.as_str() == "private"
                || (hc.cgroupns_mode.is_empty() && self.cgroup_v2)
            {
                NamespaceMode::Private
            } else {
                NamespaceMode::Host
            },
            mounts,
            cgroups_path: format!("/berth/{}", c.id),
            shm_size: if hc.shm_size > 0 {
                hc.shm_size as u64
            } else {
                spec::DEFAULT_SHM_SIZE
            },
            sysctls: hc.sysctls.clone(),
            rlimits,
            oom_score_adj: Some(hc.oom_score_adj as i32),
            resources,
            masked_paths: hc.masked_paths.clone(),
            readonly_paths: hc.readonly_paths.clone(),
            devices,
            device_cgroup_rules: res.device_cgroup_rules.clone().unwrap_or_default(),
            annotations: hc.annotations.clone(),
            init_process: hc.init == Some(true),
        })
    }

    /// Fills each empty volume from the image's content at its mount point,
    /// as Docker does the first time a volume is used (unless `nocopy`).
    fn populate_volumes(&self, rec: &Record, rootfs: &Path) -> Result<()> {
        for m in &rec.mounts {
            let (MountKind::Volume, true, Some(name)) = (m.kind, m.copy_data, m.name.as_deref())
            else {
                continue;
            };
            if !self.volumes.is_empty_dir(name) {
                continue;
            }
            berth_archive::copy_into_volume(rootfs, &m.destination, Path::new(&m.source))?;
        }
        Ok(())
    }

    /// `Ok(false)`: it was not running (304).
    pub async fn container_stop(
        self: &Arc<Self>,
        key: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<bool> {
        let c = self.lookup(key)?;
        let _ops = c.ops.lock().await;
        self.stop_locked(&c, signal, timeout).await
    }

    async fn stop_locked(
        &self,
        c: &Container,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<bool> {
        let (status, stop_signal, stop_timeout) = {
            let g = c.lock();
            (
                g.rec.state.status,
                g.rec.config.stop_signal.clone(),
                g.rec.config.stop_timeout,
            )
        };
        if status == Status::Restarting && self.cancel_restart(c) {
            self.container_event(c, "stop", &[]);
            return Ok(true);
        }
        if !status.is_live() {
            return Ok(false);
        }
        {
            let mut g = c.lock();
            g.rec.manually_stopped = true;
            c.commit(&g)?;
        }
        let sig_name = signal
            .filter(|s| !s.is_empty())
            .or_else(|| (!stop_signal.is_empty()).then_some(stop_signal))
            .unwrap_or_else(|| "SIGTERM".into());
        let sig = berth_runtime::signal::parse_signal(&sig_name)?;
        let timeout = timeout.or(stop_timeout).unwrap_or(10);
        self.signal(c, sig).await?;
        let exited = if timeout < 0 {
            self.wait_not_live(c, None).await
        } else {
            self.wait_not_live(c, Some(Duration::from_secs(timeout as u64)))
                .await
        };
        if !exited {
            tracing::debug!(container = %c.id, "stop timeout; killing");
            self.signal(c, libc::SIGKILL).await?;
            if !self.wait_not_live(c, Some(Duration::from_secs(30))).await {
                return Err(Error::internal(format!(
                    "container {} did not exit after SIGKILL",
                    c.id
                )));
            }
        }
        self.container_event(c, "stop", &[]);
        Ok(true)
    }

    /// Sends `sig` to the container's init; a paused container is thawed
    /// after a SIGKILL so that it can die.
    async fn signal(&self, c: &Container, sig: i32) -> Result<()> {
        // A container waiting to be restarted has no process: killing it
        // cancels the restart.
        if self.cancel_restart(c) {
            return Ok(());
        }
        let paused = c.status() == Status::Paused;
        self.container_event(c, "kill", &[("signal", sig.to_string())]);
        match self.runtime.kill(&c.id, sig, false).await {
            Ok(()) => {}
            // It exited in the meantime: the monitor records it.
            Err(e)
                if matches!(
                    e.kind(),
                    berth_runtime::ErrorKind::NotFound | berth_runtime::ErrorKind::Conflict
                ) =>
            {
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        if paused && sig == libc::SIGKILL {
            let _ = self.runtime.resume(&c.id).await;
        }
        Ok(())
    }

    /// True once the container's exit is recorded (it is no longer live);
    /// false on timeout.
    pub(crate) async fn wait_exit_recorded(&self, c: &Container, timeout: Duration) -> bool {
        self.wait_not_live(c, Some(timeout)).await
    }

    /// True once the container is no longer live; false on timeout.
    async fn wait_not_live(&self, c: &Container, timeout: Option<Duration>) -> bool {
        let mut rx = c.subscribe();
        let wait = rx.wait_for(|w| !w.status.is_live());
        match timeout {
            None => wait.await.is_ok(),
            Some(t) => matches!(tokio::time::timeout(t, wait).await, Ok(Ok(_))),
        }
    }

    pub async fn container_restart(
        self: &Arc<Self>,
        key: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.lookup(key)?;
        {
            let _ops = c.ops.lock().await;
            self.stop_locked(&c, signal, timeout).await?;
        }
        // The monitor may still be releasing the old task.
        self.wait_not_live(&c, Some(Duration::from_secs(5))).await;
        self.container_start(&c.id).await?;
        self.container_event(&c, "restart", &[]);
        Ok(())
    }

    pub async fn container_kill(self: &Arc<Self>, key: &str, signal: Option<String>) -> Result<()> {
        let c = self.lookup(key)?;
        let sig = berth_runtime::signal::parse_signal(
            signal
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or("SIGKILL"),
        )?;
        if !c.status().is_live() {
            let name = c.name();
            let name = name.trim_start_matches('/');
            return Err(Error::conflict(format!(
                "cannot kill container: {name}: container {} is not running",
                c.id
            )));
        }
        {
            // Killed with the signal that stops it: no restart policy
            // applies (moby sets HasBeenManuallyStopped).
            let mut g = c.lock();
            let stop_signal = match g.rec.config.stop_signal.as_str() {
                "" => libc::SIGTERM,
                s => berth_runtime::signal::parse_signal(s).unwrap_or(libc::SIGTERM),
            };
            if sig == libc::SIGKILL || sig == stop_signal {
                g.rec.manually_stopped = true;
                c.commit(&g)?;
            }
        }
        self.signal(&c, sig).await?;
        // dockerd's kill with SIGKILL returns once the container is gone
        // (clients remove it right after), within a bound.
        if sig == libc::SIGKILL {
            self.wait_not_live(&c, Some(Duration::from_secs(10))).await;
        }
        Ok(())
    }

    pub async fn container_pause(self: &Arc<Self>, key: &str) -> Result<()> {
        let c = self.lookup(key)?;
        let _ops = c.ops.lock().await;
        match c.status() {
            Status::Running => {}
            Status::Paused => {
                return Err(Error::conflict(format!(
                    "container {} is already paused",
                    c.id
                )));
            }
            _ => {
                return Err(Error::conflict(format!(
                    "container {} is not running",
                    c.id
                )));
            }
        }
        self.runtime.pause(&c.id).await?;
        {
            let mut g = c.lock();
            g.rec.state.status = Status::Paused;
            c.commit(&g)?;
        }
        self.container_event(&c, "pause", &[]);
        Ok(())
    }

    pub async fn container_unpause(self: &Arc<Self>, key: &str) -> Result<()> {
        let c = self.lookup(key)?;
        let _ops = c.ops.lock().await;
        if c.status() != Status::Paused {
            return Err(Error::conflict(format!("container {} is not paused", c.id)));
        }
        self.runtime.resume(&c.id).await?;
        {
            let mut g = c.lock();
            if g.rec.state.status == Status::Paused {
                g.rec.state.status = Status::Running;
            }
            c.commit(&g)?;
        }
        self.container_event(&c, "unpause", &[]);
        Ok(())
    }

    pub async fn container_remove(self: &Arc<Self>, key: &str, opts: RemoveOptions) -> Result<()> {
        let c = self.lookup(key)?;
        let _ops = c.ops.lock().await;
        // Someone else removed it while we waited for the lock.
        if self.lookup(&c.id).is_err() {
            return Err(Error::no_such_container(key));
        }
        let status = c.status();
        if status.is_live() {
            if !opts.force {
                let verb = if status == Status::Paused {
                    "paused"
                } else {
                    "running"
                };
                return Err(Error::conflict(format!(
                    "cannot remove container \"{}\": container is {verb}: stop the container before removing or force remove",
                    c.name()
                )));
            }
            {
                // Killed to be removed: no restart policy applies.
                let mut g = c.lock();
                g.rec.manually_stopped = true;
                c.commit(&g)?;
            }
            self.signal(&c, libc::SIGKILL).await?;
            if !self.wait_not_live(&c, Some(Duration::from_secs(30))).await {
                return Err(Error::internal(format!(
                    "could not kill container {}",
                    c.id
                )));
            }
        }
        // Streams (docker cp, export) finish first.
        let _fs = c.fs_lock.write().await;
        let rec = {
            let mut g = c.lock();
            g.rec.state.status = Status::Removing;
            g.pending.clear();
            g.rec.clone()
        };
        // The shim removed the runtime's state when the task ended.
        self.cleanup_task(&c);
        let d = self.clone();
        let id = c.id.clone();
        let removed = tokio::task::spawn_blocking(move || d.remove_rootfs(&id))
            .await
            .map_err(|e| Error::internal(e.to_string()))?;
        match removed {
            Ok(()) => {}
            Err(e) => {
                let mut g = c.lock();
                g.rec.state.status = Status::Dead;
                g.rec.state.error = format!("remove rootfs: {e}");
                let _ = c.commit(&g);
                return Err(e);
            }
        }
        let _ = std::fs::remove_dir_all(&c.paths.bundle);
        if let Err(e) = std::fs::remove_dir_all(&c.dir) {
            tracing::warn!(container = %c.id, error = %e, "remove container dir");
        }
        self.containers.write().unwrap().remove(&c.id);
        if opts.volumes {
            for m in rec.mounts.iter().filter(|m| m.anonymous) {
                let Some(name) = &m.name else { continue };
                if self.volume_users(name).is_empty() {
                    match self.volumes.remove(name) {
                        Ok(_) => self.volume_event("destroy", name, &[]),
                        Err(e) => {
                            tracing::warn!(volume = %name, error = %e, "remove anonymous volume")
                        }
                    }
                }
            }
        }
        self.container_event(&c, "destroy", &[]);
        c.mark_removed();
        Ok(())
    }

    /// `docker container prune` (moby ContainersPrune): every container
    /// that is not running, created before `until`, matching the labels.
    pub async fn container_prune(
        self: &Arc<Self>,
        filters: &berth_api_types::filters::Filters,
    ) -> Result<berth_api_types::container::PruneReport> {
        filters
            .validate(&["until", "label", "label!"])
            .map_err(|e| Error::invalid(e.to_string()))?;
        let until = crate::images::until_filter(filters)?;
        let candidates: Vec<Record> = self
            .containers
            .read()
            .unwrap()
            .all()
            .iter()
            .map(|c| c.record())
            .filter(|r| !r.state.status.is_live())
            .collect();
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for rec in candidates {
            if until.is_some_and(|u| rec.created >= u) {
                continue;
            }
            let labels = rec.config.labels.clone().unwrap_or_default();
            if (filters.contains("label") && !filters.match_kv_list("label", &labels))
                || (filters.contains("label!") && filters.match_kv_list("label!", &labels))
            {
                continue;
            }
            let size = self
                .images
                .snapshotter()
                .usage(&rec.snapshot_key)
                .unwrap_or(0);
            match self
                .container_remove(&rec.id, RemoveOptions::default())
                .await
            {
                Ok(()) => {
                    reclaimed += size;
                    deleted.push(rec.id);
                }
                Err(e) => tracing::warn!(container = %rec.id, error = %e, "prune"),
            }
        }
        let mut attrs = std::collections::BTreeMap::new();
        attrs.insert("reclaimed".to_string(), reclaimed.to_string());
        self.emit_event(
            berth_api_types::events::EventType::CONTAINER,
            "prune",
            "",
            attrs,
        );
        Ok(berth_api_types::container::PruneReport {
            containers_deleted: (!deleted.is_empty()).then_some(deleted),
            space_reclaimed: reclaimed,
        })
    }

    /// Registers the waiter now; the returned future resolves at the
    /// condition with the exit code.
    pub fn container_wait(
        &self,
        key: &str,
        condition: WaitCondition,
    ) -> Result<impl std::future::Future<Output = Result<i64>> + Send + 'static> {
        let c = self.lookup(key)?;
        let mut rx = c.subscribe();
        let start = *rx.borrow();
        Ok(async move {
            let code = match condition {
                WaitCondition::NotRunning => rx
                    .wait_for(|w| !w.status.is_live() || w.exits > start.exits)
                    .await
                    .map(|w| w.exit_code),
                WaitCondition::NextExit => rx
                    .wait_for(|w| w.exits > start.exits)
                    .await
                    .map(|w| w.exit_code),
                WaitCondition::Removed => rx.wait_for(|w| w.removed).await.map(|w| w.exit_code),
            };
            // The sender lives as long as the container object, which the
            // future holds through `rx`'s channel; an error means the daemon
            // is shutting down.
            code.map(i64::from)
                .map_err(|_| Error::new(ErrorKind::Unavailable, "daemon is shutting down"))
        })
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveOptions {
    pub force: bool,
    pub volumes: bool,
}

/// The exit status a dead shim left, or Docker's 255 when it left none.
pub(crate) fn exit_after_shim_gone(bundle: &Path) -> ExitStatus {
    berth_runtime::shim::read_exit_file(bundle).unwrap_or_else(|| ExitStatus {
        code: 255,
        exited_at: Utc::now().to_rfc3339(),
        oom_killed: false,
    })
}

/// The CLI turns these into `docker run`'s 127 and 126, as dockerd does.
fn start_failure_code(msg: &str) -> i32 {
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        127
    } else if msg.contains("permission denied") {
        126
    } else {
        128
    }
}

/// The container's /etc/passwd and /etc/group, read inside its root (never
/// the host's, never through nss: CVE-2019-14271), as regular files only and
/// with a size cap, since the container may have put anything there.
pub(crate) fn read_id_files(root: &pathrs::Root) -> (Option<String>, Option<String>) {
    let read = |p: &str| -> Option<String> {
        let f = root
            .open_subpath(
                p,
                pathrs::flags::OpenFlags::O_RDONLY | pathrs::flags::OpenFlags::O_NONBLOCK,
            )
            .ok()?;
        if !f.metadata().ok()?.is_file() {
            return None;
        }
        let mut s = String::new();
        f.take(MAX_ID_FILE).read_to_string(&mut s).ok()?;
        Some(s)
    };
    (read("/etc/passwd"), read("/etc/group"))
}

impl Daemon {
    /// moby's `Link.ToEnv` for each of the container's `--link`s: `ALIAS_NAME`
    /// and `ALIAS_ENV_*` (the linked container's variables but HOME and
    /// PATH). There are no addresses to give: berth's containers have only
    /// loopback networking.
    fn link_env(&self, rec: &Record) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for link in rec.host_config.links.iter().flatten() {
            let (target, alias) = parse_link(link)?;
            let other = self.lookup(target)?;
            let orec = other.record();
            if !orec.state.status.is_live() {
                return Err(Error::conflict(format!(
                    "Cannot link to a non running container: {} AS {}/{alias}",
                    orec.name, rec.name
                )));
            }
            let prefix = alias.to_ascii_uppercase().replace('-', "_");
            out.push(format!("{prefix}_NAME={}/{alias}", rec.name));
            for e in orec.config.env.iter().flatten() {
                if let Some((k, v)) = e.split_once('=')
                    && k != "HOME"
                    && k != "PATH"
                {
                    out.push(format!("{prefix}_ENV_{k}={v}"));
                }
            }
        }
        Ok(out)
    }

    /// `DELETE /containers/{name}/{alias}?link=1`: drops the container's
    /// link under that alias.
    pub async fn container_remove_link(&self, parent: &str, alias: &str) -> Result<()> {
        let c = self.lookup(parent)?;
        let _ops = c.ops.lock().await;
        let mut g = c.lock();
        let links = g.rec.host_config.links.clone().unwrap_or_default();
        let kept: Vec<String> = links
            .iter()
            .filter(|l| parse_link(l).map(|(_, a)| a != alias).unwrap_or(true))
            .cloned()
            .collect();
        if kept.len() == links.len() {
            return Err(Error::not_found(format!(
                "Could not find entity for /{}/{alias}",
                g.rec.name.trim_start_matches('/')
            )));
        }
        g.rec.host_config.links = Some(kept);
        c.commit(&g)
    }
}

/// `name:alias` (or `name`, its own alias), as `--link` takes it.
pub(crate) fn parse_link(link: &str) -> Result<(&str, &str)> {
    let link = link.trim_start_matches('/');
    let (name, alias) = link.split_once(':').unwrap_or((link, link));
    let alias = alias.rsplit('/').next().unwrap_or(alias);
    if name.is_empty() || alias.is_empty() {
        return Err(Error::invalid(format!("invalid link: {link:?}")));
    }
    Ok((name.trim_start_matches('/'), alias))
}
