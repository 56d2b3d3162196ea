//! OCI bundle generation: the `config.json` dockerd would generate for the
//! same `docker run` flags (moby `daemon/pkg/oci/defaults.go` +
//! `daemon/oci_linux.go` `createSpec`).
//!
//! The caller (the daemon) has already resolved everything that needs the
//! container's filesystem or the daemon's state: the combined argv, the final
//! environment, the user (see [`crate::user`]), the namespace files to join,
//! and the list of mounts (volumes, binds, tmpfs, and the daemon's
//! `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`). This module only turns
//! them into a [`Spec`], applying Docker's defaults and rules.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use oci_spec::runtime::{
    BoxBuilder, Capabilities, Capability, LinuxBlockIo, LinuxCapabilities, LinuxCpu, LinuxDevice,
    LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory, LinuxNamespace, LinuxNamespaceType, LinuxPids,
    LinuxResources, LinuxSeccomp, LinuxThrottleDevice, LinuxThrottleDeviceBuilder,
    LinuxWeightDeviceBuilder, Mount, PosixRlimit, PosixRlimitBuilder, PosixRlimitType, Process,
    Root, Spec, User,
};

use crate::caps::{self, DEFAULT_CAPS};
use crate::error::{Error, ErrorKind};
use crate::seccomp;
use crate::user::ExecUser;

/// The OCI runtime-spec version written in `ociVersion` (what Docker's
/// vendored runtime-spec declares; runc 1.1 accepts any 1.0.x/1.1.x).
pub const OCI_VERSION: &str = "1.0.2-dev";

/// Docker's default `--shm-size`: 64 MiB.
pub const DEFAULT_SHM_SIZE: u64 = 64 * 1024 * 1024;

/// How a container gets one kind of namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NamespaceMode {
    /// A new namespace, created by the runtime.
    #[default]
    Private,
    /// Join the namespace at this path (a pinned namespace file, or
    /// `/proc/PID/ns/<kind>` of another container).
    Path(PathBuf),
    /// The host's (the daemon's) namespace: no namespace entry in the spec.
    Host,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// A bind mount of `source` (a host path: a bind, a volume's directory,
    /// one of the daemon's network files).
    Bind,
    /// A tmpfs (`--tmpfs`, `--mount type=tmpfs`); `options` are the tmpfs
    /// data options (`size=64m`, `mode=1777`, `exec`, ...).
    Tmpfs,
    /// Any other filesystem type, passed to the runtime as is.
    Other(String),
}

/// One user mount.
///
/// For [`MountKind::Bind`], `options` may hold `ro`/`rw`/`rro` (read-only,
/// recursively read-only — what Docker API >= 1.44 uses for read-only binds
/// when the kernel and runtime support it), `bind` (non-recursive, Docker's
/// `bind-recursive=disabled`; `rbind` is the default), a propagation mode
/// (`rprivate` default, `private`, `shared`, `rshared`, `slave`, `rslave`) and
/// any other mount flag (`nosuid`, ...), passed through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    pub destination: String,
    pub source: String,
    pub kind: MountKind,
    pub options: Vec<String>,
}

/// `--device host[:container[:perms]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    /// Any of `r`, `w`, `m`; Docker's default is `rwm`.
    pub cgroup_permissions: String,
}

/// `HostConfig.Resources` as far as the spec is concerned, with Docker's
/// "zero means unset" conventions (moby `daemon/daemon_unix.go`
/// `getMemoryResources`, `getCPUResources`, `getPidsLimit`,
/// `WithResources`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resources {
    /// `--memory`, bytes (>0 sets it).
    pub memory: Option<i64>,
    /// `--memory-reservation`, bytes (>0 sets it).
    pub memory_reservation: Option<i64>,
    /// `--memory-swap`: memory + swap, bytes (>0 sets it; -1 = unlimited is
    /// "not set"). Docker's daemon turns 0 into 2 × memory at create time;
    /// that is the caller's job.
    pub memory_swap: Option<i64>,
    /// `--memory-swappiness`, 0..=100 (-1 = unset).
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: Option<bool>,
    /// `--cpu-shares` (0 = unset; negative is an error, as in Docker).
    pub cpu_shares: Option<i64>,
    /// `--cpus` × 1e9; becomes a 100 ms period and the matching quota.
    pub nano_cpus: Option<i64>,
    /// `--cpu-period`, µs (non-zero sets it; overrides `nano_cpus`' period).
    pub cpu_period: Option<i64>,
    /// `--cpu-quota`, µs (non-zero sets it; overrides `nano_cpus`' quota).
    pub cpu_quota: Option<i64>,
    pub cpu_realtime_period: Option<i64>,
    pub cpu_realtime_runtime: Option<i64>,
    /// `--cpuset-cpus` (non-empty sets it).
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems` (non-empty sets it).
    pub cpuset_mems: Option<String>,
    /// `--pids-limit`: >0 limits; 0 or negative means unlimited (-1).
    pub pids_limit: Option<i64>,
    /// `--blkio-weight` (non-zero sets it).
    pub blkio_weight: Option<u16>,
    /// `--blkio-weight-device PATH:WEIGHT`.
    pub blkio_weight_device: Vec<(String, u16)>,
    /// `--device-read-bps PATH:RATE`.
    pub blkio_device_read_bps: Vec<(String, u64)>,
    /// `--device-write-bps PATH:RATE`.
    pub blkio_device_write_bps: Vec<(String, u64)>,
    /// `--device-read-iops PATH:RATE`.
    pub blkio_device_read_iops: Vec<(String, u64)>,
    /// `--device-write-iops PATH:RATE`.
    pub blkio_device_write_iops: Vec<(String, u64)>,
}

/// Everything [`generate`] needs. `SpecOptions::default()` is `docker run`
/// with no flags (apart from what only the caller can know: rootfs, args,
/// env, hostname, cgroups path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecOptions {
    /// Absolute host path of the mounted rootfs.
    pub rootfs: PathBuf,
    pub readonly_rootfs: bool,
    /// Entrypoint + cmd, already combined.
    pub args: Vec<String>,
    /// The final environment (the caller adds PATH, HOSTNAME, TERM, HOME).
    pub env: Vec<String>,
    /// "/" when empty.
    pub cwd: String,
    pub terminal: bool,
    /// `(height, width)`; used only with a terminal, as Docker does.
    pub console_size: Option<(u16, u16)>,
    pub user: ExecUser,
    /// Ignored when `uts` is `Host` (Docker clears it then).
    pub hostname: String,
    /// Set through the `kernel.domainname` sysctl, as Docker does.
    pub domainname: String,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `--security-opt`: `no-new-privileges[=|:true|false]`,
    /// `seccomp=unconfined|builtin|<profile JSON>`, `writable-cgroups[=bool]`,
    /// `apparmor=...` and `label=...` (accepted, ignored); anything else is an
    /// `InvalidArgument` error with Docker's text.
    pub security_opt: Vec<String>,
    pub network: NamespaceMode,
    pub ipc: NamespaceMode,
    pub pid: NamespaceMode,
    /// Note: `--network host` does *not* imply a host UTS namespace in
    /// Docker; it keeps a private one with the host's hostname.
    pub uts: NamespaceMode,
    /// Docker: private on cgroup v2, host on v1 by default.
    pub cgroupns: NamespaceMode,
    /// `--ipc none`: a private IPC namespace without `/dev/shm`.
    pub ipc_none: bool,
    /// Add Docker's network sysctls (`net.ipv4.ping_group_range=0 2147483647`,
    /// `net.ipv4.ip_unprivileged_port_start=0`) when they exist on the host.
    /// Docker does this when the container has a network namespace of its
    /// own (bridge, none, user networks): true for those, false for
    /// `container:<id>`. Never applied with a `Host` network.
    pub default_net_sysctls: bool,
    /// User mounts. They are applied parents first (stable sort by path
    /// depth, as moby's `sortMounts`), after the default mounts they do not
    /// replace.
    pub mounts: Vec<MountSpec>,
    /// e.g. "/berth/<id>"; omitted when empty.
    pub cgroups_path: String,
    /// `/dev/shm` size in bytes (Docker's default is [`DEFAULT_SHM_SIZE`]).
    pub shm_size: u64,
    pub sysctls: BTreeMap<String, String>,
    /// `("RLIMIT_NOFILE", soft, hard)`; the `RLIMIT_` prefix and case are
    /// optional.
    pub rlimits: Vec<(String, u64, u64)>,
    /// Docker always sets this (0 by default); `None` leaves it unset.
    pub oom_score_adj: Option<i32>,
    pub resources: Resources,
    /// `None` = Docker's defaults (none when privileged).
    pub masked_paths: Option<Vec<String>>,
    /// `None` = Docker's defaults (none when privileged).
    pub readonly_paths: Option<Vec<String>>,
    pub devices: Vec<DeviceMapping>,
    /// `--device-cgroup-rule`, e.g. `c 1:3 mr`, `a *:* rwm`.
    pub device_cgroup_rules: Vec<String>,
    pub annotations: BTreeMap<String, String>,
    /// `--init`: ignored for now (no docker-init binary).
    pub init_process: bool,
}

impl Default for SpecOptions {
    fn default() -> Self {
        SpecOptions {
            rootfs: PathBuf::new(),
            readonly_rootfs: false,
            args: Vec::new(),
            env: Vec::new(),
            cwd: "/".to_string(),
            terminal: false,
            console_size: None,
            user: ExecUser::default(),
            hostname: String::new(),
            domainname: String::new(),
            privileged: false,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            security_opt: Vec::new(),
            network: NamespaceMode::Private,
            ipc: NamespaceMode::Private,
            pid: NamespaceMode::Private,
            uts: NamespaceMode::Private,
            cgroupns: NamespaceMode::Host,
            ipc_none: false,
            default_net_sysctls: true,
            mounts: Vec::new(),
            cgroups_path: String::new(),
            shm_size: DEFAULT_SHM_SIZE,
            sysctls: BTreeMap::new(),
            rlimits: Vec::new(),
            oom_score_adj: Some(0),
            resources: Resources::default(),
            masked_paths: None,
            readonly_paths: None,
            devices: Vec::new(),
            device_cgroup_rules: Vec::new(),
            annotations: BTreeMap::new(),
            init_process: false,
        }
    }
}

/// Which seccomp profile `--security-opt` selected.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SeccompChoice {
    /// Not specified: Docker's default (none when privileged).
    Unset,
    /// `seccomp=builtin`: Docker's default profile by name. Like the unset
    /// case, a privileged container gets no profile (moby loads a profile for
    /// a privileged container only when a custom one is given).
    Builtin,
    Unconfined,
    /// A Docker-format profile's JSON.
    Custom(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SecurityOptions {
    no_new_privileges: bool,
    writable_cgroups: Option<bool>,
    seccomp: SeccompChoice,
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// moby `parseSecurityOpt` (daemon/daemon_unix.go), with its error texts.
fn parse_security_opts(opts: &[String]) -> Result<SecurityOptions, Error> {
    let mut out = SecurityOptions {
        no_new_privileges: false,
        writable_cgroups: None,
        seccomp: SeccompChoice::Unset,
    };
    for opt in opts {
        match opt.as_str() {
            "no-new-privileges" => {
                out.no_new_privileges = true;
                continue;
            }
            "writable-cgroups" => {
                out.writable_cgroups = Some(true);
                continue;
            }
            // SELinux "label=disable" shorthand; SELinux labels are ignored.
            "disable" => continue,
            _ => {}
        }
        // "=" is the separator; ":" is Docker's deprecated one.
        let kv = if opt.contains('=') {
            opt.split_once('=')
        } else {
            opt.split_once(':')
        };
        let Some((k, v)) = kv else {
            return Err(Error::invalid(format!("invalid --security-opt 1: {opt:?}")));
        };
        let invalid2 = || Error::invalid(format!("invalid --security-opt 2: {opt:?}"));
        match k {
            // SELinux and AppArmor are not supported by berth; Docker
            // accepts the options on hosts without them too.
            "label" | "apparmor" => {}
            "seccomp" => {
                out.seccomp = match v {
                    "unconfined" => SeccompChoice::Unconfined,
                    "builtin" => SeccompChoice::Builtin,
                    "" => SeccompChoice::Unset,
                    json => SeccompChoice::Custom(json.to_string()),
                }
            }
            "no-new-privileges" => {
                out.no_new_privileges = parse_go_bool(v).ok_or_else(invalid2)?;
            }
            "writable-cgroups" => {
                out.writable_cgroups = Some(parse_go_bool(v).ok_or_else(invalid2)?);
            }
            _ => return Err(invalid2()),
        }
    }
    Ok(out)
}

fn mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(destination));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(options.iter().map(|s| s.to_string()).collect()));
    m
}

/// Docker's default mounts (moby `DefaultLinuxSpec`), in Docker's order.
fn default_mounts() -> Vec<Mount> {
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777"],
        ),
    ]
}

/// Docker's default masked paths (moby `defaultLinuxMaskedPaths`), plus
/// `/sys/devices/system/cpu/cpuN/thermal_throttle` for each possible CPU
/// where it exists (GHSA-6fw5-f8r9-fgfm). Computed once, as moby does.
pub fn default_masked_paths() -> &'static [String] {
    static PATHS: OnceLock<Vec<String>> = OnceLock::new();
    PATHS.get_or_init(|| {
        let mut v: Vec<String> = [
            "/proc/acpi",
            "/proc/asound",
            "/proc/interrupts",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/sched_debug",
            "/proc/scsi",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/sys/devices/virtual/powercap",
            "/sys/firmware",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let possible =
            std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default();
        for cpu in parse_cpu_list(possible.trim()) {
            let p = format!("/sys/devices/system/cpu/cpu{cpu}/thermal_throttle");
            if Path::new(&p).exists() {
                v.push(p);
            }
        }
        v
    })
}

/// Docker's default read-only paths.
pub const DEFAULT_READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// "0-3,5,7-8" → [0, 1, 2, 3, 5, 7, 8].
fn parse_cpu_list(s: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    // A sanity bound: no machine has a million CPUs.
                    out.extend((a..=b).take(1 << 20));
                }
            }
            None => {
                if let Ok(a) = part.parse() {
                    out.push(a);
                }
            }
        }
    }
    out
}

fn cgroup_rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    mm: Option<(i64, i64)>,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(typ);
    r.set_major(mm.map(|m| m.0));
    r.set_minor(mm.map(|m| m.1));
    r.set_access(Some("rwm".to_string()));
    r
}

/// Docker's default device cgroup rules: deny everything, then allow
/// /dev/zero, /dev/null, /dev/urandom, /dev/random, /dev/tty, /dev/console
/// and deny /dev/fuse explicitly. (The runtime adds its own defaults after
/// these — `c *:* m`, `b *:* m`, /dev/pts/*, /dev/ptmx, /dev/net/tun — as
/// runc's `specconv.AllowedDevices` does.)
fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    let c = Some(LinuxDeviceType::C);
    vec![
        cgroup_rule(false, None, None),
        cgroup_rule(true, c, Some((1, 5))),
        cgroup_rule(true, c, Some((1, 3))),
        cgroup_rule(true, c, Some((1, 9))),
        cgroup_rule(true, c, Some((1, 8))),
        cgroup_rule(true, c, Some((5, 0))),
        cgroup_rule(true, c, Some((5, 1))),
        cgroup_rule(false, c, Some((10, 229))),
    ]
}

/// "lstat /dev/x: no such file or directory", as Go prints a PathError.
fn path_error(op: &str, path: &Path, err: &std::io::Error) -> String {
    let text = err.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    let text = match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect::<String>(),
        None => String::new(),
    };
    format!("{op} {}: {text}", path.display())
}

/// A device node's entry (containerd `oci.DeviceFromPath`): `None` when the
/// path is not a block/char/fifo device.
fn device_from_path(path: &Path) -> Result<Option<LinuxDevice>, std::io::Error> {
    let md = std::fs::symlink_metadata(path)?;
    let ft = md.file_type();
    let typ = if ft.is_block_device() {
        LinuxDeviceType::B
    } else if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_fifo() {
        LinuxDeviceType::P
    } else {
        return Ok(None);
    };
    let rdev = md.rdev();
    let mut d = LinuxDevice::default();
    d.set_path(path.to_path_buf());
    d.set_typ(typ);
    d.set_major(i64::from(rustix::fs::major(rdev)));
    d.set_minor(i64::from(rustix::fs::minor(rdev)));
    d.set_file_mode(Some(md.mode() & 0o7777));
    d.set_uid(Some(md.uid()));
    d.set_gid(Some(md.gid()));
    Ok(Some(d))
}

fn device_allow(d: &LinuxDevice, access: &str) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(true);
    r.set_typ(Some(d.typ()));
    r.set_major(Some(d.major()));
    r.set_minor(Some(d.minor()));
    r.set_access(Some(access.to_string()));
    r
}

/// moby `oci.DevicesFromPath`: a device node (symlinks on the host are
/// followed), or every device under a directory, mapped to
/// `path_in_container`.
fn devices_from_path(
    on_host: &str,
    in_container: &str,
    access: &str,
) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>), Error> {
    let mut resolved = PathBuf::from(on_host);
    if let Ok(md) = std::fs::symlink_metadata(on_host)
        && md.file_type().is_symlink()
        && let Ok(p) = std::fs::canonicalize(on_host)
    {
        resolved = p;
    }
    let gather_err = |detail: String| {
        Error::invalid(format!(
            "error gathering device information while adding custom device {on_host:?}: {detail}"
        ))
    };
    match device_from_path(&resolved) {
        Ok(Some(mut d)) => {
            d.set_path(PathBuf::from(in_container));
            let rule = device_allow(&d, access);
            return Ok((vec![d], vec![rule]));
        }
        Ok(None) => {}
        Err(e) => return Err(gather_err(path_error("lstat", &resolved, &e))),
    }
    let mut devs = Vec::new();
    let mut rules = Vec::new();
    if resolved.is_dir() {
        walk_devices(&resolved, &mut |p: &Path, mut d: LinuxDevice| {
            let rel = p.strip_prefix(&resolved).unwrap_or(p);
            d.set_path(Path::new(in_container).join(rel));
            rules.push(device_allow(&d, access));
            devs.push(d);
        });
    }
    if devs.is_empty() {
        return Err(gather_err("not a device node".to_string()));
    }
    Ok((devs, rules))
}

/// Every device node under `dir`, recursively (errors skipped, as moby's
/// `filepath.WalkDir` callback ignores them). Symlinks are not followed.
fn walk_devices(dir: &Path, f: &mut dyn FnMut(&Path, LinuxDevice)) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        match e.file_type() {
            Ok(ft) if ft.is_dir() => walk_devices(&p, f),
            Ok(_) => {
                if let Ok(Some(d)) = device_from_path(&p) {
                    f(&p, d);
                }
            }
            Err(_) => {}
        }
    }
}

/// Every device under the host's /dev, for privileged containers
/// (containerd `oci.HostDevices`): pts, shm, fd, mqueue and a few container
/// tool directories are skipped, as are `console` and fifos.
pub fn host_devices() -> Result<Vec<LinuxDevice>, Error> {
    let mut out = Vec::new();
    host_devices_in(Path::new("/dev"), &mut out)?;
    Ok(out)
}

fn host_devices_in(dir: &Path, out: &mut Vec<LinuxDevice>) -> Result<(), Error> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("read host devices in {}", dir.display()), e))?;
    let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            if matches!(
                name.as_ref(),
                "pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev"
            ) {
                continue;
            }
            host_devices_in(&p, out)?;
            continue;
        }
        if name == "console" {
            continue;
        }
        match device_from_path(&p) {
            Ok(Some(d)) if d.typ() != LinuxDeviceType::P => out.push(d),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::io(format!("stat host device {}", p.display()), e));
            }
        }
    }
    Ok(())
}

/// moby `AppendDevicePermissionsFromCgroupRules`: `^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$`.
fn parse_device_cgroup_rule(rule: &str) -> Result<LinuxDeviceCgroup, Error> {
    let bad = || Error::invalid(format!("invalid device cgroup rule format: '{rule}'"));
    let mut parts = rule.split(' ');
    let (Some(typ), Some(mm), Some(access), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let typ = match typ {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return Err(bad()),
    };
    let (maj, min) = mm.split_once(':').ok_or_else(bad)?;
    let num = |s: &str, what: &str| -> Result<i64, Error> {
        if s == "*" {
            return Ok(-1);
        }
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<i64>().map_err(|_| {
            Error::invalid(format!(
                "invalid {what} value in device cgroup rule format: '{rule}'"
            ))
        })
    };
    let maj = num(maj, "major")?;
    let min = num(min, "minor")?;
    if access.is_empty() || access.len() > 3 || !access.bytes().all(|b| b"rwm".contains(&b)) {
        return Err(bad());
    }
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(true);
    r.set_typ(Some(typ));
    r.set_major(Some(maj));
    r.set_minor(Some(min));
    r.set_access(Some(access.to_string()));
    Ok(r)
}

fn valid_device_permissions(p: &str) -> bool {
    !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b"rwm".contains(&b))
}

/// The tmpfs options moby computes (`MergeTmpfsOptions` over
/// `noexec,nosuid,nodev,rprivate` + the user's data): later options win over
/// earlier ones of the same flag (`exec` beats the default `noexec`), one
/// propagation mode, one value per data key.
pub fn merge_tmpfs_options(user: &[String]) -> Result<Vec<String>, Error> {
    let mut all: Vec<String> = ["noexec", "nosuid", "nodev", "rprivate"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for o in user {
        // Docker's data string is comma separated; accept either form.
        all.extend(o.split(',').filter(|s| !s.is_empty()).map(str::to_string));
    }
    let mut seen_flags: Vec<&'static str> = Vec::new();
    let mut seen_data: Vec<String> = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for opt in all.iter().rev() {
        if opt == "defaults" {
            continue;
        }
        if let Some(key) = tmpfs_flag_key(opt) {
            if !seen_flags.contains(&key) {
                out.push(opt.clone());
                seen_flags.push(key);
            }
            continue;
        }
        let (k, _) = opt
            .split_once('=')
            .ok_or_else(|| Error::invalid(format!("invalid tmpfs option {opt:?}")))?;
        if !matches!(
            k,
            "" | "size" | "mode" | "uid" | "gid" | "nr_inodes" | "nr_blocks" | "mpol"
        ) {
            return Err(Error::invalid(format!("invalid tmpfs option {k:?}")));
        }
        if !seen_data.iter().any(|d| d == k) {
            out.push(opt.clone());
            seen_data.push(k.to_string());
        }
    }
    out.reverse();
    Ok(out)
}

/// The collision key of a mount flag in moby's `flags` table; all
/// propagation and bind modes share one key.
fn tmpfs_flag_key(opt: &str) -> Option<&'static str> {
    Some(match opt {
        "ro" | "rw" => "rdonly",
        "suid" | "nosuid" => "nosuid",
        "dev" | "nodev" => "nodev",
        "exec" | "noexec" => "noexec",
        "sync" | "async" => "sync",
        "dirsync" => "dirsync",
        "remount" => "remount",
        "mand" | "nomand" => "mand",
        "atime" | "noatime" => "noatime",
        "diratime" | "nodiratime" => "nodiratime",
        "bind" | "rbind" | "unbindable" | "runbindable" | "private" | "rprivate" | "shared"
        | "rshared" | "slave" | "rslave" => "propagation",
        "relatime" | "norelatime" => "relatime",
        "strictatime" | "nostrictatime" => "strictatime",
        _ => return None,
    })
}

const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// Bind options as moby's `withMounts` writes them: `rbind` (or `bind`),
/// then `ro`/`rro` when read-only, then the propagation (`rprivate` by
/// default), then anything else given.
fn bind_options(opts: &[String]) -> (Vec<String>, String) {
    let mut recursive = true;
    let mut ro: Option<&str> = None;
    let mut propagation: Option<&str> = None;
    let mut rest = Vec::new();
    for o in opts {
        match o.as_str() {
            "bind" => recursive = false,
            "rbind" => recursive = true,
            "ro" => ro = Some("ro"),
            "rro" => ro = Some("rro"),
            "rw" => ro = None,
            p if PROPAGATIONS.contains(&p) => propagation = Some(p),
            other => rest.push(other.to_string()),
        }
    }
    let propagation = propagation.unwrap_or("rprivate");
    let mut out = vec![if recursive { "rbind" } else { "bind" }.to_string()];
    if let Some(r) = ro {
        out.push(r.to_string());
    }
    out.push(propagation.to_string());
    out.extend(rest);
    (out, propagation.to_string())
}

/// A path's lexical clean form, for comparing mount destinations
/// ("/dev/shm/" and "/dev//shm" are "/dev/shm").
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().unwrap_or("")),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    format!("/{}", parts.join("/"))
}

fn depth(p: &str) -> usize {
    clean(p).matches('/').count()
}

fn clear_readonly(m: &mut Mount) {
    if let Some(opts) = m.options().clone() {
        m.set_options(Some(opts.into_iter().filter(|o| o != "ro").collect()));
    }
}

fn to_capabilities(names: &[String]) -> Result<Capabilities, Error> {
    names
        .iter()
        .map(|n| {
            serde_json::from_value::<Capability>(serde_json::Value::String(n.clone()))
                .map_err(|_| Error::invalid(format!("unknown capability: {n:?}")))
        })
        .collect()
}

fn rlimit(name: &str, soft: u64, hard: u64) -> Result<PosixRlimit, Error> {
    let mut upper = name.to_ascii_uppercase();
    if !upper.starts_with("RLIMIT_") {
        upper = format!("RLIMIT_{upper}");
    }
    let typ: PosixRlimitType = serde_json::from_value(serde_json::Value::String(upper.clone()))
        .map_err(|_| Error::invalid(format!("invalid rlimit type: {name:?}")))?;
    PosixRlimitBuilder::default()
        .typ(typ)
        .soft(soft)
        .hard(hard)
        .build()
        .map_err(|e| Error::with_source(ErrorKind::Internal, "build rlimit", e))
}

fn namespace(typ: LinuxNamespaceType, path: Option<&Path>) -> LinuxNamespace {
    let mut ns = LinuxNamespace::default();
    ns.set_typ(typ);
    ns.set_path(path.map(Path::to_path_buf));
    ns
}

/// Whether this process runs in a user namespace other than the initial one
/// (moby `userns.RunningInUserNS`): Docker cannot set ping_group_range there.
fn running_in_userns() -> bool {
    static IN_USERNS: OnceLock<bool> = OnceLock::new();
    *IN_USERNS.get_or_init(|| match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(m) => {
            let fields: Vec<&str> = m.split_whitespace().collect();
            fields != ["0", "0", "4294967295"]
        }
        Err(_) => false,
    })
}

fn sysctl_exists(name: &str) -> bool {
    Path::new("/proc/sys").join(name.replace('.', "/")).exists()
}

fn stat_rdev(path: &str) -> Result<(i64, i64), Error> {
    let md = std::fs::metadata(path)
        .map_err(|e| Error::io(path_error("stat", Path::new(path), &e), e))?;
    let rdev = md.rdev();
    Ok((
        i64::from(rustix::fs::major(rdev)),
        i64::from(rustix::fs::minor(rdev)),
    ))
}

fn throttle(list: &[(String, u64)]) -> Result<Option<Vec<LinuxThrottleDevice>>, Error> {
    if list.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(list.len());
    for (path, rate) in list {
        let (major, minor) = stat_rdev(path)?;
        let d = LinuxThrottleDeviceBuilder::default()
            .major(major)
            .minor(minor)
            .rate(*rate)
            .build()
            .map_err(|e| Error::with_source(ErrorKind::Internal, "build throttle device", e))?;
        out.push(d);
    }
    Ok(Some(out))
}

/// moby `getMemoryResources`.
fn memory_resources(r: &Resources) -> Option<LinuxMemory> {
    let pos = |v: Option<i64>| v.filter(|v| *v > 0);
    let limit = pos(r.memory);
    let reservation = pos(r.memory_reservation);
    let swap = pos(r.memory_swap);
    let swappiness = r
        .memory_swappiness
        .filter(|v| (0..=100).contains(v))
        .map(|v| v as u64);
    if limit.is_none()
        && reservation.is_none()
        && swap.is_none()
        && swappiness.is_none()
        && r.oom_kill_disable.is_none()
    {
        return None;
    }
    let mut m = LinuxMemory::default();
    m.set_limit(limit);
    m.set_reservation(reservation);
    m.set_swap(swap);
    m.set_swappiness(swappiness);
    m.set_disable_oom_killer(r.oom_kill_disable);
    Some(m)
}

/// moby `getCPUResources`.
fn cpu_resources(r: &Resources) -> Result<Option<LinuxCpu>, Error> {
    let mut cpu = LinuxCpu::default();
    let mut any = false;
    if let Some(shares) = r.cpu_shares.filter(|s| *s != 0) {
        if shares < 0 {
            return Err(Error::invalid(format!(
                "invalid CPU shares ({shares}): value must be a positive integer"
            )));
        }
        cpu.set_shares(Some(shares as u64));
        any = true;
    }
    if let Some(c) = r.cpuset_cpus.as_ref().filter(|s| !s.is_empty()) {
        cpu.set_cpus(Some(c.clone()));
        any = true;
    }
    if let Some(m) = r.cpuset_mems.as_ref().filter(|s| !s.is_empty()) {
        cpu.set_mems(Some(m.clone()));
        any = true;
    }
    if let Some(nano) = r.nano_cpus.filter(|n| *n > 0) {
        // 100 ms period; quota = nano × period / 1e9 (kernel sched-bwc).
        let period: u64 = 100_000;
        cpu.set_period(Some(period));
        cpu.set_quota(Some(nano * period as i64 / 1_000_000_000));
        any = true;
    }
    if let Some(p) = r.cpu_period.filter(|p| *p != 0) {
        cpu.set_period(Some(p as u64));
        any = true;
    }
    if let Some(q) = r.cpu_quota.filter(|q| *q != 0) {
        cpu.set_quota(Some(q));
        any = true;
    }
    if let Some(p) = r.cpu_realtime_period.filter(|p| *p != 0) {
        cpu.set_realtime_period(Some(p as u64));
        any = true;
    }
    if let Some(rt) = r.cpu_realtime_runtime.filter(|p| *p != 0) {
        cpu.set_realtime_runtime(Some(rt));
        any = true;
    }
    Ok(any.then_some(cpu))
}

/// moby `WithResources` (block IO is always present, possibly empty, as in
/// Docker's spec).
fn apply_resources(res: &mut LinuxResources, r: &Resources) -> Result<(), Error> {
    let mut weight_devices = Vec::new();
    for (path, weight) in &r.blkio_weight_device {
        let (major, minor) = stat_rdev(path)?;
        let d = LinuxWeightDeviceBuilder::default()
            .major(major)
            .minor(minor)
            .weight(*weight)
            .build()
            .map_err(|e| Error::with_source(ErrorKind::Internal, "build weight device", e))?;
        weight_devices.push(d);
    }
    let mut bio = LinuxBlockIo::default();
    bio.set_weight(r.blkio_weight.filter(|w| *w != 0));
    bio.set_weight_device((!weight_devices.is_empty()).then_some(weight_devices));
    bio.set_throttle_read_bps_device(throttle(&r.blkio_device_read_bps)?);
    bio.set_throttle_write_bps_device(throttle(&r.blkio_device_write_bps)?);
    bio.set_throttle_read_iops_device(throttle(&r.blkio_device_read_iops)?);
    bio.set_throttle_write_iops_device(throttle(&r.blkio_device_write_iops)?);

    res.set_memory(memory_resources(r));
    res.set_cpu(cpu_resources(r)?);
    res.set_block_io(Some(bio));
    res.set_pids(r.pids_limit.map(|l| {
        let mut p = LinuxPids::default();
        // Docker: 0 or negative means "unlimited", which runc spells -1.
        p.set_limit(if l <= 0 { -1 } else { l });
        p
    }));
    Ok(())
}

/// Generates the OCI spec dockerd would for these options.
pub fn generate(opts: &SpecOptions) -> Result<Spec, Error> {
    if opts.args.is_empty() {
        return Err(Error::invalid("generate spec: no command specified"));
    }
    if !opts.rootfs.is_absolute() {
        return Err(Error::invalid(format!(
            "generate spec: rootfs {:?} is not an absolute path",
            opts.rootfs
        )));
    }
    let sec = parse_security_opts(&opts.security_opt)?;

    // Capabilities (moby WithCapabilities): bounding = effective = permitted;
    // inheritable and ambient stay empty (Docker >= 20.10.14 / containerd
    // no longer fill the inheritable set, CVE-2022-24769).
    let cap_names = caps::tweak_capabilities(
        &DEFAULT_CAPS,
        &opts.cap_add,
        &opts.cap_drop,
        opts.privileged,
    )?;
    let capset = to_capabilities(&cap_names)?;
    let mut lcaps = LinuxCapabilities::default();
    lcaps.set_bounding(Some(capset.clone()));
    lcaps.set_effective(Some(capset.clone()));
    lcaps.set_permitted(Some(capset));
    lcaps.set_inheritable(None);
    lcaps.set_ambient(None);

    // Process.
    let mut user = User::default();
    user.set_uid(opts.user.uid);
    user.set_gid(opts.user.gid);
    // moby getUser: the primary gid first, then the supplementary groups.
    let mut gids = vec![opts.user.gid];
    for g in &opts.user.additional_gids {
        if !gids.contains(g) {
            gids.push(*g);
        }
    }
    user.set_additional_gids(Some(gids));

    let mut rlimits = Vec::with_capacity(opts.rlimits.len());
    for (name, soft, hard) in &opts.rlimits {
        rlimits.push(rlimit(name, *soft, *hard)?);
    }

    let mut process = Process::default();
    process.set_terminal(opts.terminal.then_some(true));
    process.set_console_size(match (opts.terminal, opts.console_size) {
        (true, Some((h, w))) if h > 0 || w > 0 => Some(
            BoxBuilder::default()
                .height(u64::from(h))
                .width(u64::from(w))
                .build()
                .map_err(|e| Error::with_source(ErrorKind::Internal, "build console size", e))?,
        ),
        _ => None,
    });
    process.set_user(user);
    process.set_args(Some(opts.args.clone()));
    process.set_command_line(None);
    process.set_env(Some(opts.env.clone()));
    process.set_cwd(PathBuf::from(if opts.cwd.is_empty() {
        "/"
    } else {
        opts.cwd.as_str()
    }));
    process.set_capabilities(Some(lcaps));
    process.set_rlimits((!rlimits.is_empty()).then_some(rlimits));
    process.set_no_new_privileges(sec.no_new_privileges.then_some(true));
    process.set_apparmor_profile(None);
    process.set_oom_score_adj(opts.oom_score_adj);
    process.set_selinux_label(None);
    process.set_io_priority(None);
    process.set_scheduler(None);
    process.set_exec_cpu_affinity(None);

    let mut root = Root::default();
    root.set_path(opts.rootfs.clone());
    root.set_readonly(opts.readonly_rootfs.then_some(true));

    // Mounts (moby withMounts).
    let mut user_mounts: Vec<&MountSpec> = opts.mounts.iter().collect();
    user_mounts.sort_by_key(|m| depth(&m.destination));
    let user_dests: Vec<String> = user_mounts.iter().map(|m| clean(&m.destination)).collect();
    let user_has = |d: &str| user_dests.iter().any(|u| u == d);
    let mount_dev = user_has("/dev");

    let mut mounts = Vec::new();
    for mut m in default_mounts() {
        let dest = m.destination().to_string_lossy().to_string();
        if user_has(&dest) {
            continue;
        }
        if mount_dev && dest.starts_with("/dev/") {
            continue;
        }
        if dest == "/dev/shm" {
            if opts.ipc_none {
                continue;
            }
            let mut o = m.options().clone().unwrap_or_default();
            o.push(format!("size={}", opts.shm_size));
            m.set_options(Some(o));
        }
        mounts.push(m);
    }

    let mut rootfs_propagation: Option<String> = None;
    for um in &user_mounts {
        let mut m = Mount::default();
        m.set_destination(PathBuf::from(&um.destination));
        match &um.kind {
            MountKind::Tmpfs => {
                let source = if um.source.is_empty() {
                    "tmpfs"
                } else {
                    um.source.as_str()
                };
                m.set_typ(Some("tmpfs".to_string()));
                m.set_source(Some(PathBuf::from(source)));
                m.set_options(Some(merge_tmpfs_options(&um.options)?));
            }
            MountKind::Bind => {
                if um.source.is_empty() {
                    return Err(Error::invalid(format!(
                        "generate spec: bind mount at {} has no source",
                        um.destination
                    )));
                }
                let (o, propagation) = bind_options(&um.options);
                // moby: a shared (slave) bind needs the container's root
                // propagation to be shared (slave) too, or the events never
                // reach the container.
                let root = rootfs_propagation.as_deref();
                let wanted = match propagation.as_str() {
                    "shared" | "rshared" if !matches!(root, Some("shared" | "rshared")) => {
                        Some("shared")
                    }
                    "slave" | "rslave"
                        if !matches!(root, Some("shared" | "rshared" | "slave" | "rslave")) =>
                    {
                        Some("rslave")
                    }
                    _ => None,
                };
                if let Some(w) = wanted {
                    rootfs_propagation = Some(w.to_string());
                }
                m.set_typ(Some("bind".to_string()));
                m.set_source(Some(PathBuf::from(&um.source)));
                m.set_options(Some(o));
            }
            MountKind::Other(t) => {
                m.set_typ(Some(t.clone()));
                m.set_source(Some(PathBuf::from(if um.source.is_empty() {
                    t.as_str()
                } else {
                    um.source.as_str()
                })));
                m.set_options((!um.options.is_empty()).then(|| um.options.clone()));
            }
        }
        mounts.push(m);
    }

    if opts.readonly_rootfs {
        for m in mounts.iter_mut() {
            let dest = m.destination().to_string_lossy().to_string();
            if matches!(
                dest.as_str(),
                "/proc" | "/dev/pts" | "/dev/shm" | "/dev/mqueue" | "/dev"
            ) || user_has(&clean(&dest))
            {
                continue;
            }
            let mut o = m.options().clone().unwrap_or_default();
            if !o.iter().any(|x| x == "ro") {
                o.push("ro".to_string());
                m.set_options(Some(o));
            }
        }
    }

    let mut masked: Option<Vec<String>> = Some(default_masked_paths().to_vec());
    let mut readonly: Option<Vec<String>> = Some(
        DEFAULT_READONLY_PATHS
            .iter()
            .map(|s| s.to_string())
            .collect(),
    );
    if opts.privileged {
        for m in mounts.iter_mut() {
            if m.destination() == Path::new("/sys") {
                clear_readonly(m);
            }
        }
        masked = None;
        readonly = None;
    }
    // Writable cgroups: privileged by default, or --security-opt
    // writable-cgroups.
    if sec.writable_cgroups.unwrap_or(opts.privileged) {
        for m in mounts.iter_mut() {
            if m.typ().as_deref() == Some("cgroup") {
                clear_readonly(m);
            }
        }
    }
    // Explicit masked/readonly paths win, even for privileged containers
    // (moby applies them after withMounts).
    if let Some(p) = &opts.masked_paths {
        masked = Some(p.clone());
    }
    if let Some(p) = &opts.readonly_paths {
        readonly = Some(p.clone());
    }

    // Namespaces (moby DefaultLinuxSpec order + WithNamespaces).
    let mut namespaces = vec![namespace(LinuxNamespaceType::Mount, None)];
    for (typ, mode) in [
        (LinuxNamespaceType::Network, &opts.network),
        (LinuxNamespaceType::Uts, &opts.uts),
        (LinuxNamespaceType::Pid, &opts.pid),
        (LinuxNamespaceType::Ipc, &opts.ipc),
        (LinuxNamespaceType::Cgroup, &opts.cgroupns),
    ] {
        match mode {
            NamespaceMode::Private => namespaces.push(namespace(typ, None)),
            NamespaceMode::Path(p) => namespaces.push(namespace(typ, Some(p))),
            NamespaceMode::Host => {}
        }
    }

    // Devices and the device cgroup.
    let mut devices: Vec<LinuxDevice> = Vec::new();
    let mut dev_rules = default_device_rules();
    if opts.privileged {
        devices.extend(host_devices()?);
        for d in &opts.devices {
            // Host devices are all there already at the same path.
            if d.path_on_host == d.path_in_container {
                continue;
            }
            let (devs, _) = devices_from_path(&d.path_on_host, &d.path_in_container, "rwm")?;
            devices.extend(devs);
        }
        dev_rules = vec![cgroup_rule(true, None, None)];
    } else {
        for d in &opts.devices {
            let perms = if d.cgroup_permissions.is_empty() {
                "rwm"
            } else {
                d.cgroup_permissions.as_str()
            };
            if !valid_device_permissions(perms) {
                return Err(Error::invalid(format!(
                    "invalid device mode: {}",
                    d.cgroup_permissions
                )));
            }
            let in_container = if d.path_in_container.is_empty() {
                d.path_on_host.as_str()
            } else {
                d.path_in_container.as_str()
            };
            let (devs, rules) = devices_from_path(&d.path_on_host, in_container, perms)?;
            devices.extend(devs);
            dev_rules.extend(rules);
        }
        for rule in &opts.device_cgroup_rules {
            dev_rules.push(parse_device_cgroup_rule(rule)?);
        }
    }

    let mut resources = LinuxResources::default();
    resources.set_devices(Some(dev_rules));
    apply_resources(&mut resources, &opts.resources)?;

    // Sysctls: Docker's network defaults, the NIS domain name, then the
    // user's (which win).
    let mut sysctl: HashMap<String, String> = HashMap::new();
    if opts.network != NamespaceMode::Host && opts.default_net_sysctls {
        if !running_in_userns() && sysctl_exists("net.ipv4.ping_group_range") {
            // Unprivileged ICMP echo sockets without CAP_NET_RAW.
            sysctl.insert(
                "net.ipv4.ping_group_range".to_string(),
                "0 2147483647".to_string(),
            );
        }
        if sysctl_exists("net.ipv4.ip_unprivileged_port_start") {
            // Ports below 1024 without CAP_NET_BIND_SERVICE.
            sysctl.insert(
                "net.ipv4.ip_unprivileged_port_start".to_string(),
                "0".to_string(),
            );
        }
    }
    if !opts.domainname.is_empty() {
        // There is no OCI field for the NIS domain name, but this sysctl
        // has the same effect as setdomainname(2) (moby setLinuxDomainname).
        sysctl.insert("kernel.domainname".to_string(), opts.domainname.clone());
    }
    for (k, v) in &opts.sysctls {
        sysctl.insert(k.clone(), v.clone());
    }

    // Seccomp (moby WithSeccomp): none for unconfined; for privileged only a
    // custom profile; otherwise the given or the default profile, rendered
    // for the container's capabilities.
    let seccomp: Option<LinuxSeccomp> = match &sec.seccomp {
        SeccompChoice::Unconfined => None,
        SeccompChoice::Custom(json) => seccomp::load_profile(json, &cap_names)?,
        SeccompChoice::Unset | SeccompChoice::Builtin if opts.privileged => None,
        SeccompChoice::Unset | SeccompChoice::Builtin => Some(seccomp::default_profile(&cap_names)),
    };

    let mut linux = oci_spec::runtime::Linux::default();
    linux.set_uid_mappings(None);
    linux.set_gid_mappings(None);
    linux.set_sysctl((!sysctl.is_empty()).then_some(sysctl));
    linux.set_resources(Some(resources));
    linux.set_cgroups_path(
        (!opts.cgroups_path.is_empty()).then(|| PathBuf::from(&opts.cgroups_path)),
    );
    linux.set_namespaces(Some(namespaces));
    linux.set_devices((!devices.is_empty()).then_some(devices));
    linux.set_seccomp(seccomp);
    linux.set_rootfs_propagation(rootfs_propagation);
    linux.set_masked_paths(masked.filter(|v| !v.is_empty()));
    linux.set_readonly_paths(readonly.filter(|v| !v.is_empty()));
    linux.set_mount_label(None);
    linux.set_intel_rdt(None);
    linux.set_personality(None);

    let mut spec = Spec::default();
    spec.set_version(OCI_VERSION.to_string());
    spec.set_process(Some(process));
    spec.set_root(Some(root));
    spec.set_hostname(
        (opts.uts != NamespaceMode::Host && !opts.hostname.is_empty())
            .then(|| opts.hostname.clone()),
    );
    spec.set_domainname(None);
    spec.set_mounts(Some(mounts));
    spec.set_hooks(None);
    spec.set_annotations((!opts.annotations.is_empty()).then(|| {
        opts.annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }));
    spec.set_linux(Some(linux));
    Ok(spec)
}

/// Sorts each capability list so that `config.json` is deterministic (the
/// OCI types hold capabilities in hash sets): Docker's default capabilities
/// in Docker's order first — byte-for-byte what dockerd writes for a default
/// container — then the others by capability number.
fn sort_capabilities(v: &mut serde_json::Value) {
    let Some(c) = v.pointer_mut("/process/capabilities") else {
        return;
    };
    let Some(obj) = c.as_object_mut() else { return };
    let key = |x: &serde_json::Value| -> u32 {
        let name = x.as_str().unwrap_or("");
        match DEFAULT_CAPS.iter().position(|c| *c == name) {
            Some(i) => i as u32,
            None => caps::cap_number(name).map_or(u32::MAX, |n| 64 + n),
        }
    };
    for list in obj.values_mut() {
        if let Some(arr) = list.as_array_mut() {
            arr.sort_by_key(key);
        }
    }
}

/// The bytes of `config.json` for `spec`.
pub fn to_config_json(spec: &Spec) -> Result<Vec<u8>, Error> {
    let mut v = serde_json::to_value(spec)
        .map_err(|e| Error::with_source(ErrorKind::Internal, "serialize oci spec", e))?;
    sort_capabilities(&mut v);
    serde_json::to_vec(&v)
        .map_err(|e| Error::with_source(ErrorKind::Internal, "serialize oci spec", e))
}

/// Writes `bundle_dir/config.json` atomically: a temporary file in the same
/// directory, fsync, rename over `config.json`, fsync of the directory.
pub fn write_bundle_config(bundle_dir: &Path, spec: &Spec) -> Result<(), Error> {
    let data = to_config_json(spec)?;
    let final_path = bundle_dir.join("config.json");
    let tmp_path = bundle_dir.join(format!(".config.json.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp_path)?;
        f.write_all(&data)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp_path, &final_path)?;
        std::fs::File::open(bundle_dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp_path);
        Error::io(format!("write bundle config {}", final_path.display()), e)
    })
}

#[cfg(test)]
mod tests;
