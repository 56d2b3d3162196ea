//! `POST /containers/create`: validation, merging with the image's config,
//! mounts and volumes, the writable snapshot, and the record.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use berth_api_types::container::{
    Config, CreateRequest, CreateResponse, HostConfig, NetworkMode as ApiNetworkMode,
};
use chrono::Utc;

use crate::container::{
    Container, MountKind, MountRecord, Record, StateRecord, Status, save_record,
};
use crate::error::{Error, Result};
use crate::network::NetworkMode;
use crate::{Daemon, names};

impl Daemon {
    pub async fn container_create(
        &self,
        name: Option<String>,
        req: CreateRequest,
    ) -> Result<CreateResponse> {
        let mut config = req.config;
        let mut host_config = req.host_config.unwrap_or_default();

        if let Some(n) = &name
            && !names::valid_name(n.trim_start_matches('/'))
        {
            return Err(Error::invalid(format!(
                "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        if config.image.is_empty() {
            return Err(Error::invalid(
                "config cannot be empty in order to create a container",
            ));
        }
        crate::restart::validate(&host_config.restart_policy)?;
        if host_config.auto_remove && !host_config.restart_policy.is_none() {
            return Err(Error::invalid(
                "can't create 'AutoRemove' container with restart policy",
            ));
        }
        let image = {
            let images = self.images.clone();
            let name = config.image.clone();
            tokio::task::spawn_blocking(move || images.get(&name))
                .await
                .map_err(|e| Error::internal(e.to_string()))??
        };
        merge_image_config(&mut config, &image.config.config);
        let mut args: Vec<String> = config.entrypoint.clone().unwrap_or_default();
        args.extend(config.cmd.clone().unwrap_or_default());
        if args.is_empty() {
            return Err(Error::invalid("no command specified"));
        }
        normalize_host_config(&mut host_config)?;
        for link in host_config.links.iter().flatten() {
            let (target, _) = crate::lifecycle::parse_link(link)?;
            self.lookup(target)
                .map_err(|_| Error::not_found(format!("could not get container for {target}")))?;
        }
        if let Some(target) = NetworkMode::parse(&host_config.network_mode)?.container_target() {
            // Fail early, as Docker does, for a container that does not exist.
            self.lookup(&target)?;
        }

        let id = names::random_id();
        if config.hostname.is_empty() {
            config.hostname = if host_config.network_mode.as_str() == "host" {
                rustix::system::uname()
                    .nodename()
                    .to_string_lossy()
                    .into_owned()
            } else {
                id[..12].to_string()
            };
        }

        // Reserve the name first: two creates racing for one name must not
        // both win.
        let name = {
            let mut index = self.containers.write().unwrap();
            match name {
                Some(n) => {
                    let n = n.trim_start_matches('/').to_string();
                    index.reserve_name(&n, &id)?;
                    n
                }
                None => {
                    let mut attempt = 0;
                    loop {
                        let n = names::random_name(attempt);
                        if !index.name_taken(&n) {
                            index.reserve_name(&n, &id)?;
                            break n;
                        }
                        attempt += 1;
                    }
                }
            }
        };
        let result = self
            .create_with_name(&id, &name, config, host_config, &image)
            .await;
        match result {
            Ok(warnings) => Ok(CreateResponse { id, warnings }),
            Err(e) => {
                self.containers.write().unwrap().release_name(&name, &id);
                Err(e)
            }
        }
    }

    async fn create_with_name(
        &self,
        id: &str,
        name: &str,
        config: Config,
        host_config: HostConfig,
        image: &berth_image::Image,
    ) -> Result<Vec<String>> {
        let mut warnings = Vec::new();
        if host_config.init == Some(true) {
            warnings.push("berth has no init binary yet; --init is ignored".to_string());
        }
        let mounts = self.resolve_mounts(&config, &host_config, image)?;
        let dir = self.cfg.data_root.join("containers").join(id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;

        if let Err(e) = self.prepare_rootfs(id, image.top_layer.clone()).await {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }

        let mut all_args: Vec<String> = config.entrypoint.clone().unwrap_or_default();
        all_args.extend(config.cmd.clone().unwrap_or_default());
        let rec = Record {
            id: id.to_string(),
            name: format!("/{name}"),
            created: Utc::now(),
            image: config.image.clone(),
            image_id: image.id.to_string(),
            path: all_args[0].clone(),
            args: all_args[1..].to_vec(),
            config,
            host_config,
            state: StateRecord {
                status: Status::Created,
                pid: 0,
                exit_code: 0,
                error: String::new(),
                started_at: None,
                finished_at: None,
                oom_killed: false,
                health: None,
            },
            mounts,
            restart_count: 0,
            manually_stopped: false,
            has_been_started: false,
            snapshot_key: id.to_string(),
        };
        if let Err(e) = save_record(&dir, &rec) {
            let _ = self.remove_rootfs(id);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        let c = Container::new(
            rec,
            dir,
            crate::task::TaskPaths::new(&self.cfg.exec_root, id),
        );
        self.containers.write().unwrap().insert(c.clone());
        self.container_event(&c, "create", &[]);
        Ok(warnings)
    }

    /// The container's layers: an init layer over the image (see
    /// `fsview::fill_init_layer`), then the writable snapshot keyed by the
    /// container id.
    async fn prepare_rootfs(&self, id: &str, image_top: Option<String>) -> Result<()> {
        let snapshotter = self.images.snapshotter().clone();
        let init_active = format!("{id}-init-active");
        let init_name = init_snapshot(id);
        let mount_dir = self.cfg.exec_root.join("views").join(format!("{id}-init"));
        std::fs::create_dir_all(&mount_dir)
            .map_err(|e| Error::io("create init layer mount point", e))?;
        let (s, a, dir) = (snapshotter.clone(), init_active.clone(), mount_dir.clone());
        let mounts = tokio::task::spawn_blocking(move || {
            s.prepare(&a, image_top.as_deref(), BTreeMap::new())
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
        let filled = tokio::task::spawn_blocking(move || {
            crate::fsview::with_private_mount(mounts, dir, crate::fsview::fill_init_layer)
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?;
        let _ = std::fs::remove_dir(&mount_dir);
        let key = id.to_string();
        let result = filled.and_then(|()| {
            snapshotter.commit(&init_name, &init_active, BTreeMap::new())?;
            snapshotter.prepare(&key, Some(&init_name), BTreeMap::new())?;
            Ok(())
        });
        if result.is_err() {
            let _ = snapshotter.remove(&key);
            let _ = snapshotter.remove(&init_active);
            let _ = snapshotter.remove(&init_name);
        }
        result
    }

    /// Removes the container's writable and init snapshots.
    pub(crate) fn remove_rootfs(&self, id: &str) -> Result<()> {
        let snapshotter = self.images.snapshotter();
        for key in [id.to_string(), init_snapshot(id)] {
            match snapshotter.remove(&key) {
                Ok(()) => {}
                Err(e) if e.kind() == berth_snapshot::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Binds, `--mount`s, `--tmpfs` and the image's VOLUMEs, with the
    /// volumes they name created (named ones persist; anonymous ones belong
    /// to the container).
    fn resolve_mounts(
        &self,
        config: &Config,
        host_config: &HostConfig,
        image: &berth_image::Image,
    ) -> Result<Vec<MountRecord>> {
        let mut out: Vec<MountRecord> = Vec::new();
        let mut seen = BTreeSet::new();
        let mut add = |m: MountRecord, out: &mut Vec<MountRecord>| -> Result<()> {
            let dest = clean_path(&m.destination);
            if !seen.insert(dest.clone()) {
                return Err(Error::invalid(format!("Duplicate mount point: {dest}")));
            }
            out.push(MountRecord {
                destination: dest,
                ..m
            });
            Ok(())
        };
        for spec in host_config.binds.iter().flatten() {
            add(parse_bind(spec)?, &mut out)?;
        }
        for m in &host_config.mounts {
            add(parse_mount(m)?, &mut out)?;
        }
        for (dest, opts) in &host_config.tmpfs {
            let mut options: Vec<String> = vec!["noexec".into(), "nosuid".into(), "nodev".into()];
            options.extend(
                opts.split(',')
                    .filter(|o| !o.is_empty())
                    .map(str::to_string),
            );
            add(
                MountRecord {
                    kind: MountKind::Tmpfs,
                    name: None,
                    source: String::new(),
                    destination: dest.clone(),
                    rw: !opts.split(',').any(|o| o == "ro"),
                    mode: opts.clone(),
                    propagation: String::new(),
                    copy_data: false,
                    options,
                    anonymous: false,
                    create_source: false,
                },
                &mut out,
            )?;
        }
        // VOLUMEs of the image and of the config that nothing else covers
        // become anonymous volumes.
        let mut implicit: BTreeSet<String> = BTreeSet::new();
        if let Some(v) = &image.config.config.volumes {
            implicit.extend(v.keys().cloned());
        }
        if let Some(v) = &config.volumes {
            implicit.extend(v.keys().cloned());
        }
        for dest in implicit {
            if out.iter().any(|m| m.destination == clean_path(&dest)) {
                continue;
            }
            add(
                MountRecord {
                    kind: MountKind::Volume,
                    name: None,
                    source: String::new(),
                    destination: dest,
                    rw: true,
                    mode: String::new(),
                    propagation: String::new(),
                    copy_data: true,
                    options: Vec::new(),
                    anonymous: true,
                    create_source: false,
                },
                &mut out,
            )?;
        }
        // Create the volumes (and host dirs of `-v` binds) only once every
        // spec has parsed, so a bad spec leaves nothing behind.
        for m in out.iter_mut() {
            match m.kind {
                MountKind::Volume => {
                    let (v, _) = self.volumes.create(
                        m.name.as_deref(),
                        None,
                        BTreeMap::new(),
                        BTreeMap::new(),
                    )?;
                    self.volume_event("create", &v.name, &[]);
                    m.anonymous = v.anonymous;
                    m.source = self
                        .volumes
                        .data_path(&v.name)
                        .to_string_lossy()
                        .into_owned();
                    m.name = Some(v.name);
                }
                MountKind::Bind => {
                    let p = Path::new(&m.source);
                    if !p.exists() {
                        if m.create_source {
                            std::fs::create_dir_all(p).map_err(|e| {
                                Error::io(format!("create bind source {}", p.display()), e)
                            })?;
                        } else {
                            return Err(Error::invalid(format!(
                                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                                m.source
                            )));
                        }
                    }
                }
                MountKind::Tmpfs => {}
            }
        }
        Ok(out)
    }
}

fn init_snapshot(id: &str) -> String {
    format!("{id}-init")
}

/// moby's `mergeAndVerifyConfig`: what the client left unset comes from the
/// image.
fn merge_image_config(config: &mut Config, img: &berth_image::RuntimeConfig) {
    if config.user.is_empty() {
        config.user = img.user.clone().unwrap_or_default();
    }
    if config.working_dir.is_empty() {
        config.working_dir = img.working_dir.clone().unwrap_or_default();
    }
    // Env: the image's, overridden key by key by the client's.
    let mut env: Vec<String> = img.env.clone().unwrap_or_default();
    for kv in config.env.clone().unwrap_or_default() {
        let key = kv.split('=').next().unwrap_or("").to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    }
    config.env = Some(env);
    // `--entrypoint ""` arrives as [""]: it clears the image's entrypoint.
    let entrypoint_cleared =
        matches!(&config.entrypoint, Some(e) if e.len() == 1 && e[0].is_empty());
    if entrypoint_cleared {
        config.entrypoint = None;
    }
    let client_entrypoint = config.entrypoint.as_ref().is_some_and(|e| !e.is_empty());
    if config.cmd.as_ref().is_none_or(|c| c.is_empty()) && !client_entrypoint {
        config.cmd = img.cmd.clone();
    }
    if !client_entrypoint && !entrypoint_cleared {
        config.entrypoint = img.entrypoint.clone().filter(|e| !e.is_empty());
    }
    if let Some(ports) = &img.exposed_ports {
        for k in ports.keys() {
            config.exposed_ports.entry(k.clone()).or_default();
        }
    }
    if let Some(v) = &img.volumes {
        let vols = config.volumes.get_or_insert_with(BTreeMap::new);
        for k in v.keys() {
            vols.entry(k.clone()).or_default();
        }
    }
    if let Some(l) = &img.labels {
        let labels = config.labels.get_or_insert_with(BTreeMap::new);
        for (k, v) in l {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if config.stop_signal.is_empty() {
        config.stop_signal = img.stop_signal.clone().unwrap_or_default();
    }
    if config.shell.as_ref().is_none_or(|s| s.is_empty()) {
        config.shell = img.shell.clone();
    }
    if config.on_build.is_empty() {
        config.on_build = img.on_build.clone().unwrap_or_default();
    }
}

fn normalize_host_config(hc: &mut HostConfig) -> Result<()> {
    let mode = hc.network_mode.as_str();
    NetworkMode::parse(mode)?;
    if mode.is_empty() || mode == "default" {
        hc.network_mode = ApiNetworkMode::new("bridge");
    }
    match hc.log_config.typ.as_str() {
        "" => hc.log_config.typ = "json-file".to_string(),
        "json-file" | "none" => {}
        "local" | "syslog" | "journald" | "gelf" | "fluentd" | "awslogs" | "splunk" | "etwlogs"
        | "gcplogs" | "logentries" => {
            return Err(Error::invalid(format!(
                "berth supports only the json-file and none log drivers, not {:?}",
                hc.log_config.typ
            )));
        }
        other => {
            return Err(Error::invalid(format!(
                "logger: no log driver named '{other}' is registered"
            )));
        }
    }
    // The runtime is runc or crun, whichever berthd runs; inspect names it
    // as dockerd does its default.
    if hc.runtime.is_empty() {
        hc.runtime = "runc".to_string();
    }
    // A size quota needs xfs project quotas under the snapshots; berth does
    // not set them up, so it refuses the option as dockerd's overlay2 does
    // off xfs, rather than ignore it.
    if !hc.storage_opt.is_empty() {
        return Err(Error::invalid(
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option",
        ));
    }
    if hc.shm_size < 0 {
        return Err(Error::invalid("SHM size can not be less than 0"));
    }
    // Unknown capability names are the client's error, at create as in Docker.
    berth_runtime::caps::tweak_capabilities(
        &berth_runtime::caps::DEFAULT_CAPS,
        hc.cap_add.as_deref().unwrap_or(&[]),
        hc.cap_drop.as_deref().unwrap_or(&[]),
        hc.privileged,
    )?;
    // Docker: a memory limit without a swap limit allows as much swap again.
    if hc.resources.memory > 0 && hc.resources.memory_swap == 0 {
        hc.resources.memory_swap = hc.resources.memory * 2;
    }
    Ok(())
}

fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

const PROPAGATIONS: &[&str] = &[
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

/// `-v SRC:DST[:MODE]` / `-v DST` as moby's Linux parser reads it.
pub fn parse_bind(spec: &str) -> Result<MountRecord> {
    let invalid = || Error::invalid(format!("invalid volume specification: '{spec}'"));
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, dest, mode) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => {
            if valid_mode(d) && !d.is_empty() && !d.starts_with('/') {
                return Err(invalid());
            }
            (*s, *d, "")
        }
        [s, d, m] => (*s, *d, *m),
        _ => return Err(invalid()),
    };
    if dest.is_empty() || !dest.starts_with('/') {
        return Err(Error::invalid(format!(
            "invalid volume specification: '{spec}': invalid mount config for type \"volume\": invalid mount path: '{dest}' mount path must be absolute"
        )));
    }
    if clean_path(dest) == "/" {
        return Err(Error::invalid(format!(
            "invalid volume specification: '{spec}': invalid mount config for type \"bind\": invalid specification: destination can't be '/'"
        )));
    }
    if !valid_mode(mode) {
        return Err(Error::invalid(format!("invalid mode: {mode}")));
    }
    let opts: Vec<&str> = mode.split(',').filter(|o| !o.is_empty()).collect();
    let rw = !opts.contains(&"ro");
    let propagation = opts
        .iter()
        .find(|o| PROPAGATIONS.contains(o))
        .map(|s| s.to_string())
        .unwrap_or_default();
    let nocopy = opts.contains(&"nocopy");
    if source.is_empty() {
        return Ok(MountRecord {
            kind: MountKind::Volume,
            name: None,
            source: String::new(),
            destination: dest.to_string(),
            rw,
            mode: mode.to_string(),
            propagation: String::new(),
            copy_data: !nocopy,
            options: Vec::new(),
            anonymous: true,
            create_source: false,
        });
    }
    if source.starts_with('/') {
        if nocopy {
            return Err(Error::invalid(format!("invalid mode: {mode}")));
        }
        return Ok(MountRecord {
            kind: MountKind::Bind,
            name: None,
            source: clean_path(source),
            destination: dest.to_string(),
            rw,
            mode: mode.to_string(),
            propagation: if propagation.is_empty() {
                "rprivate".into()
            } else {
                propagation
            },
            copy_data: false,
            options: Vec::new(),
            anonymous: false,
            create_source: true,
        });
    }
    if !names::valid_name(source) {
        return Err(Error::invalid(format!(
            "create {source}: \"{source}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(MountRecord {
        kind: MountKind::Volume,
        name: Some(source.to_string()),
        source: String::new(),
        destination: dest.to_string(),
        rw,
        mode: mode.to_string(),
        propagation: String::new(),
        copy_data: !nocopy,
        options: Vec::new(),
        anonymous: false,
        create_source: false,
    })
}

fn valid_mode(mode: &str) -> bool {
    mode.split(',').filter(|o| !o.is_empty()).all(|o| {
        matches!(
            o,
            "ro" | "rw" | "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated"
        ) || PROPAGATIONS.contains(&o)
    }) && mode
        .split(',')
        .filter(|o| matches!(*o, "ro" | "rw"))
        .count()
        <= 1
}

/// `--mount type=…` (the API's `HostConfig.Mounts`).
fn parse_mount(m: &berth_api_types::container::Mount) -> Result<MountRecord> {
    let typ = m.typ.as_str();
    let bad = |why: &str| Error::invalid(format!("invalid mount config for type \"{typ}\": {why}"));
    if m.target.is_empty() {
        return Err(bad("field Target must not be empty"));
    }
    if !m.target.starts_with('/') {
        return Err(bad(&format!(
            "invalid mount path: '{}' mount path must be absolute",
            m.target
        )));
    }
    let base = MountRecord {
        rw: !m.read_only,
        ..MountRecord::new(MountKind::Bind, m.target.clone())
    };
    match typ {
        "bind" => {
            if m.source.is_empty() {
                return Err(bad("field Source must not be empty"));
            }
            if !m.source.starts_with('/') {
                return Err(bad(&format!(
                    "invalid mount path: '{}' mount path must be absolute",
                    m.source
                )));
            }
            if m.volume_options.is_some() || m.tmpfs_options.is_some() {
                return Err(bad("only BindOptions may be set"));
            }
            let bo = m.bind_options.clone().unwrap_or_default();
            let propagation = if bo.propagation.is_empty() {
                "rprivate".to_string()
            } else {
                bo.propagation.to_string()
            };
            Ok(MountRecord {
                source: clean_path(&m.source),
                propagation,
                create_source: bo.create_mountpoint,
                ..base
            })
        }
        "volume" => {
            if m.bind_options.is_some() || m.tmpfs_options.is_some() {
                return Err(bad("only VolumeOptions may be set"));
            }
            let vo = m.volume_options.clone().unwrap_or_default();
            if !vo.subpath.is_empty() {
                return Err(bad("berth does not support volume subpaths yet"));
            }
            let name = (!m.source.is_empty()).then(|| m.source.clone());
            if let Some(n) = &name
                && !names::valid_name(n)
            {
                return Err(bad(&format!("invalid volume name {n:?}")));
            }
            Ok(MountRecord {
                kind: MountKind::Volume,
                anonymous: name.is_none(),
                name,
                copy_data: !vo.no_copy,
                ..base
            })
        }
        "tmpfs" => {
            if !m.source.is_empty() {
                return Err(bad("field Source must not be specified"));
            }
            if m.bind_options.is_some() || m.volume_options.is_some() {
                return Err(bad("only TmpfsOptions may be set"));
            }
            let mut options = vec![
                "nosuid".to_string(),
                "nodev".to_string(),
                "noexec".to_string(),
            ];
            if let Some(t) = &m.tmpfs_options {
                if t.size_bytes > 0 {
                    options.push(format!("size={}k", (t.size_bytes as u64).div_ceil(1024)));
                }
                if t.mode != 0 {
                    options.push(format!("mode={:o}", t.mode & 0o7777));
                }
            }
            if m.read_only {
                options.push("ro".into());
            }
            Ok(MountRecord {
                kind: MountKind::Tmpfs,
                options,
                ..base
            })
        }
        _ => Err(Error::invalid(format!(
            "mount type {typ:?} is not supported by berth"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_parse_like_docker() {
        let m = parse_bind("vol1:/data").unwrap();
        assert_eq!(
            (m.kind, m.name.as_deref(), m.rw),
            (MountKind::Volume, Some("vol1"), true)
        );
        let m = parse_bind("/host/dir:/c:ro").unwrap();
        assert_eq!(
            (m.kind, m.source.as_str(), m.rw),
            (MountKind::Bind, "/host/dir", false)
        );
        assert_eq!(m.propagation, "rprivate");
        let m = parse_bind("/anon").unwrap();
        assert!(m.anonymous && m.kind == MountKind::Volume);
        let m = parse_bind("/h:/c:ro,rshared").unwrap();
        assert_eq!(m.propagation, "rshared");
        let m = parse_bind("vv:/c:nocopy").unwrap();
        assert!(!m.copy_data);
        for bad in [
            "/c:rw",
            "rel",
            "v:rel",
            "/h:/c:bogus",
            "/h:/",
            "a:b:c:d",
            "/h:/c:ro,rw",
            "bad name:/c",
        ] {
            assert!(parse_bind(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn paths_are_cleaned() {
        assert_eq!(clean_path("/a//b/./c/"), "/a/b/c");
        assert_eq!(clean_path("/a/../.."), "/");
    }
}
