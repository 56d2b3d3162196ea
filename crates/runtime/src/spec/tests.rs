use super::*;

fn base() -> SpecOptions {
    SpecOptions {
        rootfs: PathBuf::from("/var/lib/berth/rootfs/c1"),
        args: vec!["/bin/sh".into(), "-c".into(), "true".into()],
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        hostname: "c1c1c1c1c1c1".into(),
        cgroups_path: "/berth/c1".into(),
        ..SpecOptions::default()
    }
}

fn json(spec: &Spec) -> serde_json::Value {
    serde_json::from_slice(&to_config_json(spec).unwrap()).unwrap()
}

fn mount_of<'a>(spec: &'a Spec, dest: &str) -> Option<&'a Mount> {
    spec.mounts()
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.destination() == Path::new(dest))
}

fn opts_of(spec: &Spec, dest: &str) -> Vec<String> {
    mount_of(spec, dest)
        .unwrap()
        .options()
        .clone()
        .unwrap_or_default()
}

fn dests(spec: &Spec) -> Vec<String> {
    spec.mounts()
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| m.destination().to_string_lossy().into_owned())
        .collect()
}

fn namespaces(spec: &Spec) -> Vec<(String, Option<PathBuf>)> {
    spec.linux()
        .as_ref()
        .unwrap()
        .namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .map(|n| {
            (
                serde_json::to_value(n.typ())
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string(),
                n.path().clone(),
            )
        })
        .collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn default_spec_matches_docker() {
    let spec = generate(&base()).unwrap();
    let j = json(&spec);

    assert_eq!(j["ociVersion"], OCI_VERSION);
    assert_eq!(j["root"]["path"], "/var/lib/berth/rootfs/c1");
    assert!(j["root"].get("readonly").is_none());
    assert_eq!(j["hostname"], "c1c1c1c1c1c1");

    // Capabilities: Docker's 14 in Docker's order, bounding = effective =
    // permitted; no inheritable, no ambient.
    let want = s(&DEFAULT_CAPS);
    for set in ["bounding", "effective", "permitted"] {
        let got: Vec<String> =
            serde_json::from_value(j["process"]["capabilities"][set].clone()).unwrap();
        assert_eq!(got, want, "{set}");
    }
    assert!(j["process"]["capabilities"].get("inheritable").is_none());
    assert!(j["process"]["capabilities"].get("ambient").is_none());
    assert!(j["process"].get("noNewPrivileges").is_none());
    assert!(j["process"].get("terminal").is_none());
    assert_eq!(j["process"]["cwd"], "/");
    assert_eq!(j["process"]["user"]["uid"], 0);
    assert_eq!(
        j["process"]["user"]["additionalGids"],
        serde_json::json!([0])
    );
    assert_eq!(j["process"]["oomScoreAdj"], 0);

    // Mounts, in Docker's order, /dev/shm with its size.
    assert_eq!(
        dests(&spec),
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/sys/fs/cgroup",
            "/dev/mqueue",
            "/dev/shm"
        ]
    );
    assert_eq!(
        opts_of(&spec, "/dev"),
        ["nosuid", "strictatime", "mode=755", "size=65536k"]
    );
    assert_eq!(
        opts_of(&spec, "/dev/pts"),
        [
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5"
        ]
    );
    assert_eq!(opts_of(&spec, "/sys"), ["nosuid", "noexec", "nodev", "ro"]);
    assert_eq!(
        opts_of(&spec, "/sys/fs/cgroup"),
        ["ro", "nosuid", "noexec", "nodev"]
    );
    assert_eq!(
        opts_of(&spec, "/dev/shm"),
        ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]
    );
    assert_eq!(
        mount_of(&spec, "/dev/shm")
            .unwrap()
            .source()
            .clone()
            .unwrap(),
        PathBuf::from("shm")
    );

    // Masked and read-only paths.
    let linux = spec.linux().as_ref().unwrap();
    let masked = linux.masked_paths().clone().unwrap();
    for p in [
        "/proc/kcore",
        "/proc/keys",
        "/sys/firmware",
        "/proc/interrupts",
        "/proc/acpi",
    ] {
        assert!(masked.iter().any(|m| m == p), "{p}");
    }
    assert_eq!(
        linux.readonly_paths().clone().unwrap(),
        s(&DEFAULT_READONLY_PATHS)
    );

    // Namespaces: Docker's order; cgroup ns host (the v1 default).
    assert_eq!(
        namespaces(&spec),
        [
            ("mount".to_string(), None),
            ("network".to_string(), None),
            ("uts".to_string(), None),
            ("pid".to_string(), None),
            ("ipc".to_string(), None)
        ]
    );

    // The device cgroup: deny all, six allowed char devices, fuse denied.
    let rules = &j["linux"]["resources"]["devices"];
    assert_eq!(rules.as_array().unwrap().len(), 8);
    assert_eq!(
        rules[0],
        serde_json::json!({"allow": false, "access": "rwm"})
    );
    assert_eq!(
        rules[2],
        serde_json::json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"})
    );
    assert_eq!(
        rules[7],
        serde_json::json!({"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm"})
    );
    assert!(j["linux"].get("devices").is_none());
    assert_eq!(j["linux"]["resources"]["blockIO"], serde_json::json!({}));
    assert!(j["linux"]["resources"].get("memory").is_none());
    assert!(j["linux"]["resources"].get("pids").is_none());
    assert_eq!(j["linux"]["cgroupsPath"], "/berth/c1");

    // Seccomp: Docker's default for the default caps.
    assert_eq!(j["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert!(j.get("annotations").is_none());
}

#[test]
fn privileged() {
    let mut o = base();
    o.privileged = true;
    let spec = generate(&o).unwrap();
    let j = json(&spec);
    let mut caps: Vec<String> =
        serde_json::from_value(j["process"]["capabilities"]["bounding"].clone()).unwrap();
    caps.sort_by_key(|c| caps::cap_number(c));
    assert_eq!(caps, caps::available_caps());
    assert!(j["linux"].get("maskedPaths").is_none());
    assert!(j["linux"].get("readonlyPaths").is_none());
    assert!(j["linux"].get("seccomp").is_none());
    assert_eq!(opts_of(&spec, "/sys"), ["nosuid", "noexec", "nodev"]);
    assert_eq!(
        opts_of(&spec, "/sys/fs/cgroup"),
        ["nosuid", "noexec", "nodev"]
    );
    assert_eq!(
        j["linux"]["resources"]["devices"],
        serde_json::json!([{"allow": true, "access": "rwm"}])
    );
    // Every host device, e.g. /dev/null.
    let devs = j["linux"]["devices"].as_array().unwrap();
    assert!(devs.iter().any(|d| d["path"] == "/dev/null"
        && d["type"] == "c"
        && d["major"] == 1
        && d["minor"] == 3));
    assert!(!devs.iter().any(|d| d["path"] == "/dev/console"));
    assert!(
        !devs
            .iter()
            .any(|d| d["path"].as_str().unwrap().starts_with("/dev/pts/"))
    );

    // Explicit masked paths still apply to a privileged container.
    o.masked_paths = Some(s(&["/proc/kcore"]));
    let spec = generate(&o).unwrap();
    assert_eq!(
        spec.linux()
            .as_ref()
            .unwrap()
            .masked_paths()
            .clone()
            .unwrap(),
        s(&["/proc/kcore"])
    );
}

#[test]
fn masked_and_readonly_overrides() {
    let mut o = base();
    o.masked_paths = Some(vec![]);
    o.readonly_paths = Some(s(&["/proc/sys"]));
    let spec = generate(&o).unwrap();
    let linux = spec.linux().as_ref().unwrap();
    assert!(linux.masked_paths().is_none());
    assert_eq!(linux.readonly_paths().clone().unwrap(), s(&["/proc/sys"]));
}

#[test]
fn readonly_rootfs() {
    let mut o = base();
    o.readonly_rootfs = true;
    o.mounts = vec![MountSpec {
        destination: "/data".into(),
        source: "/srv/data".into(),
        kind: MountKind::Bind,
        options: vec![],
    }];
    let spec = generate(&o).unwrap();
    assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
    assert_eq!(opts_of(&spec, "/sys"), ["nosuid", "noexec", "nodev", "ro"]);
    assert!(!opts_of(&spec, "/dev/shm").contains(&"ro".to_string()));
    assert!(!opts_of(&spec, "/proc").contains(&"ro".to_string()));
    assert!(!opts_of(&spec, "/dev/mqueue").contains(&"ro".to_string()));
    // User mounts keep their own mode.
    assert_eq!(opts_of(&spec, "/data"), ["rbind", "rprivate"]);

    // Privileged + read-only: /sys is writable again (moby clears it after).
    o.privileged = true;
    let spec = generate(&o).unwrap();
    assert!(!opts_of(&spec, "/sys").contains(&"ro".to_string()));
}

#[test]
fn network_and_namespace_modes() {
    let mut o = base();
    o.network = NamespaceMode::Host;
    let spec = generate(&o).unwrap();
    let ns = namespaces(&spec);
    assert!(!ns.iter().any(|(t, _)| t == "network"));
    // Docker's --network host keeps a private UTS namespace.
    assert!(ns.iter().any(|(t, _)| t == "uts"));
    assert_eq!(spec.hostname().as_deref(), Some("c1c1c1c1c1c1"));
    let sysctl = spec
        .linux()
        .as_ref()
        .unwrap()
        .sysctl()
        .clone()
        .unwrap_or_default();
    assert!(!sysctl.contains_key("net.ipv4.ip_unprivileged_port_start"));

    let mut o = base();
    o.network = NamespaceMode::Path("/run/berth/netns/c1".into());
    o.ipc = NamespaceMode::Path("/proc/42/ns/ipc".into());
    o.pid = NamespaceMode::Host;
    o.uts = NamespaceMode::Host;
    o.cgroupns = NamespaceMode::Private;
    let spec = generate(&o).unwrap();
    assert_eq!(
        namespaces(&spec),
        [
            ("mount".to_string(), None),
            (
                "network".to_string(),
                Some(PathBuf::from("/run/berth/netns/c1"))
            ),
            ("ipc".to_string(), Some(PathBuf::from("/proc/42/ns/ipc"))),
            ("cgroup".to_string(), None),
        ]
    );
    // UTS host: no hostname in the spec.
    assert!(spec.hostname().is_none());
}

#[test]
fn default_network_sysctls() {
    let spec = generate(&base()).unwrap();
    let sysctl = spec
        .linux()
        .as_ref()
        .unwrap()
        .sysctl()
        .clone()
        .unwrap_or_default();
    if Path::new("/proc/sys/net/ipv4/ip_unprivileged_port_start").exists() {
        assert_eq!(sysctl["net.ipv4.ip_unprivileged_port_start"], "0");
    }
    if Path::new("/proc/sys/net/ipv4/ping_group_range").exists() && !running_in_userns() {
        assert_eq!(sysctl["net.ipv4.ping_group_range"], "0 2147483647");
    }

    let mut o = base();
    o.default_net_sysctls = false;
    o.domainname = "example.org".into();
    o.sysctls
        .insert("net.ipv4.ip_unprivileged_port_start".into(), "1024".into());
    o.sysctls.insert("kernel.shmmax".into(), "1".into());
    let spec = generate(&o).unwrap();
    let sysctl = spec.linux().as_ref().unwrap().sysctl().clone().unwrap();
    assert_eq!(sysctl["kernel.domainname"], "example.org");
    assert_eq!(sysctl["net.ipv4.ip_unprivileged_port_start"], "1024");
    assert_eq!(sysctl["kernel.shmmax"], "1");
    assert!(!sysctl.contains_key("net.ipv4.ping_group_range"));
}

#[test]
fn user_mounts_replace_defaults_and_sort() {
    let mut o = base();
    o.mounts = vec![
        MountSpec {
            destination: "/etc/hosts".into(),
            source: "/var/lib/berth/containers/c1/hosts".into(),
            kind: MountKind::Bind,
            options: vec![],
        },
        MountSpec {
            destination: "/data/sub".into(),
            source: "/srv/sub".into(),
            kind: MountKind::Bind,
            options: s(&["ro"]),
        },
        MountSpec {
            destination: "/data".into(),
            source: "/srv/data".into(),
            kind: MountKind::Bind,
            options: s(&["bind", "rslave", "nosuid"]),
        },
        MountSpec {
            destination: "/dev/shm/".into(),
            source: "/var/lib/berth/containers/c1/shm".into(),
            kind: MountKind::Bind,
            options: vec![],
        },
        MountSpec {
            destination: "/run".into(),
            source: String::new(),
            kind: MountKind::Tmpfs,
            options: s(&["size=65536k,exec"]),
        },
    ];
    let spec = generate(&o).unwrap();
    let d = dests(&spec);
    // The default /dev/shm is gone; the user's is there once.
    assert_eq!(d.iter().filter(|x| x.starts_with("/dev/shm")).count(), 1);
    // Parents before children, otherwise the given order.
    let pos = |x: &str| d.iter().position(|y| y == x).unwrap();
    assert!(pos("/data") < pos("/data/sub"));
    assert!(pos("/etc/hosts") < pos("/data/sub"));
    assert!(pos("/run") < pos("/etc/hosts"));
    assert_eq!(opts_of(&spec, "/etc/hosts"), ["rbind", "rprivate"]);
    assert_eq!(opts_of(&spec, "/data/sub"), ["rbind", "ro", "rprivate"]);
    assert_eq!(opts_of(&spec, "/data"), ["bind", "rslave", "nosuid"]);
    assert_eq!(
        spec.linux()
            .as_ref()
            .unwrap()
            .rootfs_propagation()
            .as_deref(),
        Some("rslave")
    );
    let run = mount_of(&spec, "/run").unwrap();
    assert_eq!(run.typ().as_deref(), Some("tmpfs"));
    assert_eq!(run.source().clone().unwrap(), PathBuf::from("tmpfs"));
    assert_eq!(
        run.options().clone().unwrap(),
        ["nosuid", "nodev", "rprivate", "size=65536k", "exec"]
    );
    assert_eq!(
        mount_of(&spec, "/data").unwrap().typ().as_deref(),
        Some("bind")
    );

    // A user /dev drops every default under /dev.
    let mut o = base();
    o.mounts = vec![MountSpec {
        destination: "/dev".into(),
        source: "/host/dev".into(),
        kind: MountKind::Bind,
        options: vec![],
    }];
    let spec = generate(&o).unwrap();
    assert_eq!(dests(&spec), ["/proc", "/sys", "/sys/fs/cgroup", "/dev"]);
}

#[test]
fn shm_size_and_ipc_none() {
    let mut o = base();
    o.shm_size = 128 * 1024 * 1024;
    let spec = generate(&o).unwrap();
    assert!(opts_of(&spec, "/dev/shm").contains(&"size=134217728".to_string()));
    o.ipc_none = true;
    let spec = generate(&o).unwrap();
    assert!(mount_of(&spec, "/dev/shm").is_none());
}

#[test]
fn tmpfs_option_merging() {
    assert_eq!(
        merge_tmpfs_options(&[]).unwrap(),
        ["noexec", "nosuid", "nodev", "rprivate"]
    );
    assert_eq!(
        merge_tmpfs_options(&s(&["size=1m", "mode=1770"])).unwrap(),
        [
            "noexec",
            "nosuid",
            "nodev",
            "rprivate",
            "size=1m",
            "mode=1770"
        ]
    );
    assert_eq!(
        merge_tmpfs_options(&s(&["exec", "suid", "size=1m", "size=2m", "shared"])).unwrap(),
        ["nodev", "exec", "suid", "size=2m", "shared"]
    );
    let e = merge_tmpfs_options(&s(&["bogus=1"])).unwrap_err();
    assert_eq!(e.to_string(), "invalid tmpfs option \"bogus\"");
    assert!(merge_tmpfs_options(&s(&["bogus"])).is_err());
}

#[test]
fn capabilities_and_security_opts() {
    let mut o = base();
    o.cap_add = s(&["net_admin"]);
    o.cap_drop = s(&["MKNOD"]);
    o.security_opt = s(&[
        "no-new-privileges",
        "apparmor=docker-default",
        "label=disable",
    ]);
    let spec = generate(&o).unwrap();
    let j = json(&spec);
    let caps: Vec<String> =
        serde_json::from_value(j["process"]["capabilities"]["effective"].clone()).unwrap();
    assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
    assert!(!caps.contains(&"CAP_MKNOD".to_string()));
    assert_eq!(j["process"]["noNewPrivileges"], true);

    o.security_opt = s(&["no-new-privileges=false", "seccomp=unconfined"]);
    let j = json(&generate(&o).unwrap());
    assert!(j["process"].get("noNewPrivileges").is_none());
    assert!(j["linux"].get("seccomp").is_none());

    o.security_opt = s(&["no-new-privileges:true"]);
    let j = json(&generate(&o).unwrap());
    assert_eq!(j["process"]["noNewPrivileges"], true);

    o.security_opt = s(&["writable-cgroups=true"]);
    let spec = generate(&o).unwrap();
    assert!(!opts_of(&spec, "/sys/fs/cgroup").contains(&"ro".to_string()));

    for (bad, msg) in [
        ("bogus", "invalid --security-opt 1: \"bogus\""),
        ("foo=bar", "invalid --security-opt 2: \"foo=bar\""),
        (
            "no-new-privileges=maybe",
            "invalid --security-opt 2: \"no-new-privileges=maybe\"",
        ),
    ] {
        o.security_opt = s(&[bad]);
        let e = generate(&o).unwrap_err();
        assert_eq!(e.to_string(), msg);
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }

    o.security_opt = vec![];
    o.cap_add = s(&["CAP_FOO"]);
    assert_eq!(
        generate(&o).unwrap_err().to_string(),
        "unknown capability: \"CAP_FOO\""
    );

    // A custom Docker-format profile.
    o.cap_add = vec![];
    o.security_opt = vec![format!(
        "seccomp={}",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#
    )];
    let j = json(&generate(&o).unwrap());
    assert_eq!(j["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ALLOW");
}

#[test]
fn sys_admin_changes_the_seccomp_profile() {
    let mut o = base();
    o.cap_add = s(&["SYS_ADMIN"]);
    let j = json(&generate(&o).unwrap());
    let calls = j["linux"]["seccomp"]["syscalls"].as_array().unwrap();
    assert!(calls.iter().any(|c| {
        c["names"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "unshare")
    }));
}

#[test]
fn process_fields() {
    let mut o = base();
    o.terminal = true;
    o.console_size = Some((24, 80));
    o.cwd = String::new();
    o.user = ExecUser {
        uid: 1000,
        gid: 1000,
        additional_gids: vec![10, 1000, 50],
        home: "/home/app".into(),
    };
    o.rlimits = vec![
        ("RLIMIT_NOFILE".into(), 1024, 4096),
        ("nproc".into(), 10, 20),
    ];
    o.oom_score_adj = Some(-500);
    o.annotations.insert("org.example".into(), "x".into());
    let j = json(&generate(&o).unwrap());
    assert_eq!(j["process"]["terminal"], true);
    assert_eq!(
        j["process"]["consoleSize"],
        serde_json::json!({"height": 24, "width": 80})
    );
    assert_eq!(j["process"]["cwd"], "/");
    assert_eq!(j["process"]["user"]["uid"], 1000);
    assert_eq!(
        j["process"]["user"]["additionalGids"],
        serde_json::json!([1000, 10, 50])
    );
    assert_eq!(
        j["process"]["rlimits"],
        serde_json::json!([
            {"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024},
            {"type": "RLIMIT_NPROC", "hard": 20, "soft": 10}
        ])
    );
    assert_eq!(j["process"]["oomScoreAdj"], -500);
    assert_eq!(j["annotations"]["org.example"], "x");

    o.terminal = false;
    let j = json(&generate(&o).unwrap());
    assert!(j["process"].get("consoleSize").is_none());

    o.rlimits = vec![("RLIMIT_BOGUS".into(), 1, 1)];
    assert_eq!(generate(&o).unwrap_err().kind(), ErrorKind::InvalidArgument);
    o.rlimits = vec![];
    o.args = vec![];
    assert!(generate(&o).is_err());
}

#[test]
fn resources_map_like_moby() {
    let mut o = base();
    o.resources = Resources {
        memory: Some(512 * 1024 * 1024),
        memory_swap: Some(-1),
        memory_reservation: Some(0),
        memory_swappiness: Some(-1),
        nano_cpus: Some(1_500_000_000),
        cpu_shares: Some(512),
        cpuset_cpus: Some("0-1".into()),
        cpuset_mems: Some(String::new()),
        pids_limit: Some(0),
        blkio_weight: Some(300),
        ..Resources::default()
    };
    let j = json(&generate(&o).unwrap());
    let r = &j["linux"]["resources"];
    assert_eq!(r["memory"], serde_json::json!({"limit": 536870912}));
    assert_eq!(
        r["cpu"],
        serde_json::json!({"shares": 512, "quota": 150000, "period": 100000, "cpus": "0-1"})
    );
    assert_eq!(r["pids"], serde_json::json!({"limit": -1}));
    assert_eq!(r["blockIO"], serde_json::json!({"weight": 300}));

    o.resources = Resources {
        nano_cpus: Some(1_000_000_000),
        cpu_quota: Some(50_000),
        pids_limit: Some(100),
        oom_kill_disable: Some(true),
        memory_swappiness: Some(60),
        ..Resources::default()
    };
    let j = json(&generate(&o).unwrap());
    let r = &j["linux"]["resources"];
    assert_eq!(
        r["cpu"],
        serde_json::json!({"quota": 50000, "period": 100000})
    );
    assert_eq!(r["pids"], serde_json::json!({"limit": 100}));
    assert_eq!(
        r["memory"],
        serde_json::json!({"swappiness": 60, "disableOOMKiller": true})
    );

    o.resources = Resources {
        cpu_shares: Some(-2),
        ..Resources::default()
    };
    assert_eq!(
        generate(&o).unwrap_err().to_string(),
        "invalid CPU shares (-2): value must be a positive integer"
    );

    o.resources = Resources {
        blkio_device_read_bps: vec![("/dev/null".into(), 1024)],
        ..Resources::default()
    };
    let j = json(&generate(&o).unwrap());
    assert_eq!(
        j["linux"]["resources"]["blockIO"]["throttleReadBpsDevice"],
        serde_json::json!([{"major": 1, "minor": 3, "rate": 1024}])
    );
}

#[test]
fn device_mappings() {
    let mut o = base();
    o.devices = vec![DeviceMapping {
        path_on_host: "/dev/null".into(),
        path_in_container: "/dev/mynull".into(),
        cgroup_permissions: "rw".into(),
    }];
    o.device_cgroup_rules = s(&["c 42:* rmw", "b *:* m"]);
    let j = json(&generate(&o).unwrap());
    let devs = j["linux"]["devices"].as_array().unwrap();
    assert_eq!(devs.len(), 1);
    assert_eq!(devs[0]["path"], "/dev/mynull");
    assert_eq!(devs[0]["type"], "c");
    assert_eq!(devs[0]["major"], 1);
    assert_eq!(devs[0]["minor"], 3);
    assert_eq!(devs[0]["fileMode"], 0o666);
    let rules = j["linux"]["resources"]["devices"].as_array().unwrap();
    assert_eq!(rules.len(), 11);
    assert_eq!(
        rules[8],
        serde_json::json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"})
    );
    assert_eq!(
        rules[9],
        serde_json::json!({"allow": true, "type": "c", "major": 42, "minor": -1, "access": "rmw"})
    );
    assert_eq!(
        rules[10],
        serde_json::json!({"allow": true, "type": "b", "major": -1, "minor": -1, "access": "m"})
    );

    for bad in ["c 1:3", "x 1:3 r", "c 1:3 rx", "c a:3 r", "c 1:3 rwmr"] {
        o.device_cgroup_rules = s(&[bad]);
        assert_eq!(
            generate(&o).unwrap_err().to_string(),
            format!("invalid device cgroup rule format: '{bad}'")
        );
    }
    o.device_cgroup_rules = vec![];
    o.devices[0].path_on_host = "/dev/does-not-exist".into();
    let e = generate(&o).unwrap_err();
    assert_eq!(
        e.to_string(),
        "error gathering device information while adding custom device \"/dev/does-not-exist\": lstat /dev/does-not-exist: no such file or directory"
    );
}

#[test]
fn bundle_config_is_written_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let spec = generate(&base()).unwrap();
    write_bundle_config(dir.path(), &spec).unwrap();
    write_bundle_config(dir.path(), &spec).unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["config.json"]);
    let back = Spec::load(dir.path().join("config.json")).unwrap();
    assert_eq!(back, spec);
    // Deterministic bytes.
    assert_eq!(
        to_config_json(&spec).unwrap(),
        to_config_json(&back).unwrap()
    );

    let e = write_bundle_config(&dir.path().join("missing"), &spec).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[test]
fn helpers() {
    assert_eq!(parse_cpu_list("0-3,5,7-8"), [0, 1, 2, 3, 5, 7, 8]);
    assert_eq!(parse_cpu_list(""), Vec::<u32>::new());
    assert_eq!(clean("/dev/shm/"), "/dev/shm");
    assert_eq!(clean("/a//b/../c"), "/a/c");
    assert_eq!(depth("/"), 1);
    assert_eq!(depth("/etc/hosts"), 2);
}
