use serde_json::{Value, json};

use super::*;

/// What docker CLI v28 sends for
/// `docker run -it --rm -v vol:/data --mount type=tmpfs,target=/t busybox sh`.
const CLI_RUN_BODY: &str = r#"{
  "Hostname": "", "Domainname": "", "User": "",
  "AttachStdin": true, "AttachStdout": true, "AttachStderr": true,
  "Tty": true, "OpenStdin": true, "StdinOnce": true,
  "Env": null, "Cmd": ["sh"], "Image": "busybox", "Volumes": {},
  "WorkingDir": "", "Entrypoint": null, "OnBuild": null, "Labels": {},
  "HostConfig": {
    "Binds": ["vol:/data"], "ContainerIDFile": "",
    "LogConfig": {"Type": "", "Config": {}},
    "NetworkMode": "default", "PortBindings": {},
    "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "AutoRemove": true, "VolumeDriver": "", "VolumesFrom": null,
    "ConsoleSize": [50, 200],
    "CapAdd": null, "CapDrop": null, "CgroupnsMode": "",
    "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": null,
    "GroupAdd": null, "IpcMode": "", "Cgroup": "", "Links": null,
    "OomScoreAdj": 0, "PidMode": "", "Privileged": false,
    "PublishAllPorts": false, "ReadonlyRootfs": false, "SecurityOpt": null,
    "UTSMode": "", "UsernsMode": "", "ShmSize": 0, "Isolation": "",
    "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "",
    "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [],
    "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [],
    "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
    "CpusetCpus": "", "CpusetMems": "", "Devices": [], "DeviceCgroupRules": null,
    "DeviceRequests": null, "MemoryReservation": 0, "MemorySwap": 0,
    "MemorySwappiness": null, "OomKillDisable": null, "PidsLimit": null,
    "Ulimits": [], "CpuCount": 0, "CpuPercent": 0,
    "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
    "Mounts": [{"Type": "tmpfs", "Target": "/t"}],
    "MaskedPaths": null, "ReadonlyPaths": null
  },
  "NetworkingConfig": {
    "EndpointsConfig": {
      "default": {
        "IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": "",
        "DriverOpts": null, "GwPriority": 0, "NetworkID": "", "EndpointID": "",
        "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null
      }
    }
  }
}"#;

#[test]
fn cli_run_body_decodes() {
    let req: CreateRequest = serde_json::from_str(CLI_RUN_BODY).unwrap();
    let c = &req.config;
    assert_eq!(c.image, "busybox");
    assert_eq!(c.cmd.as_deref(), Some(&["sh".to_owned()][..]));
    assert!(c.tty && c.open_stdin && c.stdin_once && c.attach_stdin);
    assert_eq!(c.env, None);
    assert_eq!(c.entrypoint, None);
    assert_eq!(c.volumes, Some(BTreeMap::new()));
    assert_eq!(c.labels, Some(BTreeMap::new()));
    let hc = req.host_config.as_ref().unwrap();
    assert_eq!(hc.binds.as_deref(), Some(&["vol:/data".to_owned()][..]));
    assert!(hc.auto_remove);
    assert_eq!(hc.network_mode, NetworkMode::DEFAULT);
    assert_eq!(hc.restart_policy.name, RestartPolicyMode::DISABLED);
    assert_eq!(hc.console_size, [50, 200]);
    assert_eq!(hc.dns, Some(vec![]));
    assert_eq!(hc.cap_add, None);
    assert_eq!(hc.mounts.len(), 1);
    assert_eq!(hc.mounts[0].typ, MountType::TMPFS);
    assert_eq!(hc.mounts[0].target, "/t");
    assert_eq!(hc.resources.blkio_weight_device, Some(vec![]));
    assert_eq!(hc.resources.pids_limit, None);
    assert_eq!(hc.resources.ulimits, Some(vec![]));
    let eps = req
        .networking_config
        .as_ref()
        .unwrap()
        .endpoints_config
        .as_ref()
        .unwrap();
    assert_eq!(eps["default"], EndpointSettings::default());
}

#[test]
fn cli_run_body_round_trips_to_the_same_json() {
    let input: Value = serde_json::from_str(CLI_RUN_BODY).unwrap();
    let req: CreateRequest = serde_json::from_value(input.clone()).unwrap();
    let out = serde_json::to_value(&req).unwrap();
    // The one difference with the v28 Go struct: `OnBuild` is `omitempty`
    // since API 1.52, so an empty one is no longer written.
    let mut want = input;
    want.as_object_mut().unwrap().remove("OnBuild");
    assert_eq!(out, want);
    let again: CreateRequest = serde_json::from_value(out).unwrap();
    assert_eq!(again, req);
}

#[test]
fn minimal_and_lenient_create_bodies() {
    // docker-py's minimal body, a string Cmd, nulls everywhere, unknown keys
    let req: CreateRequest = serde_json::from_str(
        r#"{"Image":"alpine","Cmd":"echo hi","Entrypoint":"","Tty":null,"Labels":null,
            "HostConfig":null,"NetworkingConfig":null,"SomethingNew":{"x":1}}"#,
    )
    .unwrap();
    assert_eq!(req.config.image, "alpine");
    assert_eq!(req.config.cmd, Some(vec!["echo hi".to_owned()]));
    assert_eq!(req.config.entrypoint, Some(vec![String::new()]));
    assert!(!req.config.tty);
    assert!(req.host_config.is_none());

    // Go matches keys case-insensitively; the common lower-case spellings work
    let req: CreateRequest = serde_json::from_str(
        r#"{"image":"alpine","cmd":["true"],"env":["A=1"],"hostconfig":{"binds":["/a:/b"],"memory":1024,"autoremove":true}}"#,
    )
    .unwrap();
    assert_eq!(req.config.image, "alpine");
    assert_eq!(req.config.env.as_deref(), Some(&["A=1".to_owned()][..]));
    let hc = req.host_config.unwrap();
    assert_eq!(hc.resources.memory, 1024);
    assert!(hc.auto_remove);

    // wrong types are still errors, as in Go
    assert!(serde_json::from_str::<CreateRequest>(r#"{"Tty":"yes"}"#).is_err());
    assert!(serde_json::from_str::<CreateRequest>(r#"{"HostConfig":{"Memory":"1g"}}"#).is_err());
}

#[test]
fn config_omits_what_go_omits() {
    let v = serde_json::to_value(Config::default()).unwrap();
    assert_eq!(
        v,
        json!({
            "Hostname": "", "Domainname": "", "User": "",
            "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
            "Tty": false, "OpenStdin": false, "StdinOnce": false,
            "Env": null, "Cmd": null, "Image": "", "Volumes": null,
            "WorkingDir": "", "Entrypoint": null, "Labels": null
        })
    );
    let c = Config {
        exposed_ports: [("80/tcp".to_owned(), Default::default())].into(),
        healthcheck: Some(HealthConfig {
            test: vec!["CMD-SHELL".into(), "true".into()],
            interval: 30_000_000_000,
            ..Default::default()
        }),
        stop_timeout: Some(10),
        stop_signal: "SIGTERM".into(),
        shell: Some(vec![]),
        ..Default::default()
    };
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["ExposedPorts"], json!({"80/tcp": {}}));
    assert_eq!(
        v["Healthcheck"],
        json!({"Test": ["CMD-SHELL", "true"], "Interval": 30_000_000_000i64})
    );
    assert_eq!(v["StopTimeout"], 10);
    assert_eq!(v["StopSignal"], "SIGTERM");
    assert!(v.get("Shell").is_none(), "empty Shell is omitempty");
}

#[test]
fn host_config_defaults_and_flattened_resources() {
    let v = serde_json::to_value(HostConfig::default()).unwrap();
    let o = v.as_object().unwrap();
    // Resources fields sit at the top level, as Go's embedding writes them
    for k in [
        "CpuShares",
        "Memory",
        "NanoCpus",
        "BlkioWeight",
        "CpuPeriod",
        "MemorySwappiness",
        "PidsLimit",
        "IOMaximumBandwidth",
    ] {
        assert!(o.contains_key(k), "{k}");
    }
    assert!(!o.contains_key("Resources"));
    // omitempty fields are absent, nil ones are null
    for k in [
        "Annotations",
        "StorageOpt",
        "Tmpfs",
        "Sysctls",
        "Runtime",
        "Mounts",
        "Init",
        "KernelMemoryTCP",
    ] {
        assert!(!o.contains_key(k), "{k} should be omitted");
    }
    for k in [
        "Binds",
        "PortBindings",
        "CapAdd",
        "Dns",
        "MaskedPaths",
        "ReadonlyPaths",
        "Ulimits",
        "Devices",
    ] {
        assert!(o[k].is_null(), "{k} should be null");
    }
    assert_eq!(o["ConsoleSize"], json!([0, 0]));
    assert_eq!(o["LogConfig"], json!({"Type": "", "Config": null}));
    assert_eq!(
        o["RestartPolicy"],
        json!({"Name": "", "MaximumRetryCount": 0})
    );
}

#[test]
fn default_inspect_response_shape() {
    let v = serde_json::to_value(InspectResponse::default()).unwrap();
    let o = v.as_object().unwrap();
    for k in [
        "Node",
        "GraphDriver",
        "Storage",
        "SizeRw",
        "SizeRootFs",
        "ImageManifestDescriptor",
    ] {
        assert!(!o.contains_key(k), "{k} should be omitted");
    }
    assert!(o["ExecIDs"].is_null());
    assert_eq!(o["Args"], json!([]));
    assert_eq!(o["Mounts"], json!([]));
    assert_eq!(o["Created"], "0001-01-01T00:00:00Z");
    assert_eq!(
        o["State"],
        json!({
            "Status": "created", "Running": false, "Paused": false, "Restarting": false,
            "OOMKilled": false, "Dead": false, "Pid": 0, "ExitCode": 0, "Error": "",
            "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z"
        })
    );
    assert_eq!(
        o["NetworkSettings"],
        json!({"SandboxID": "", "SandboxKey": "", "Ports": null, "Networks": null})
    );
    assert!(o["Config"].is_object());
    assert!(o["HostConfig"].is_object());
    let back: InspectResponse = serde_json::from_value(v).unwrap();
    assert_eq!(back, InspectResponse::default());
}

#[test]
fn legacy_network_settings_for_old_clients() {
    let ep = EndpointSettings {
        endpoint_id: "ep1".into(),
        gateway: "172.17.0.1".into(),
        ip_address: "172.17.0.2".into(),
        ip_prefix_len: 16,
        mac_address: "02:42:ac:11:00:02".into(),
        ..Default::default()
    };
    let ns = NetworkSettings {
        legacy: Some(LegacyNetworkSettings::from_endpoint(&ep)),
        sandbox_key: "/var/run/berth/netns/abc".into(),
        ports: Some([("80/tcp".to_owned(), None)].into()),
        networks: Some([("bridge".to_owned(), ep)].into()),
        ..Default::default()
    };
    let v = serde_json::to_value(&ns).unwrap();
    assert_eq!(v["IPAddress"], "172.17.0.2");
    assert_eq!(v["IPPrefixLen"], 16);
    assert_eq!(v["Bridge"], "");
    assert!(v["SecondaryIPAddresses"].is_null());
    assert_eq!(v["Ports"], json!({"80/tcp": null}));
    assert_eq!(v["Networks"]["bridge"]["Gateway"], "172.17.0.1");
    let back: NetworkSettings = serde_json::from_value(v).unwrap();
    assert_eq!(back, ns);

    let modern: NetworkSettings =
        serde_json::from_value(json!({"SandboxID": "x", "Networks": {"bridge": null}})).unwrap();
    assert!(modern.legacy.is_none());
    assert_eq!(
        modern.networks.unwrap()["bridge"],
        EndpointSettings::default()
    );
}

#[test]
fn decodes_a_dockerd_v28_inspect() {
    let body = r#"{
        "Id": "4fa6e0f0c678", "Created": "2025-01-06T10:11:12.123456789Z",
        "Path": "sh", "Args": [],
        "State": {"Status": "running", "Running": true, "Paused": false, "Restarting": false,
                  "OOMKilled": false, "Dead": false, "Pid": 4242, "ExitCode": 0, "Error": "",
                  "StartedAt": "2025-01-06T10:11:12.5Z", "FinishedAt": "0001-01-01T00:00:00Z",
                  "Health": {"Status": "healthy", "FailingStreak": 0,
                             "Log": [{"Start": "2025-01-06T10:11:13.1+01:00", "End": "2025-01-06T10:11:13.2+01:00",
                                      "ExitCode": 0, "Output": "ok\n"}]}},
        "Image": "sha256:abc", "ResolvConfPath": "/r", "HostnamePath": "/h", "HostsPath": "/hs",
        "LogPath": "/l", "Name": "/web", "RestartCount": 0, "Driver": "overlay2", "Platform": "linux",
        "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "docker-default", "ExecIDs": null,
        "HostConfig": {"Binds": null, "NetworkMode": "bridge", "KernelMemoryTCP": 0, "Memory": 0},
        "GraphDriver": {"Data": {"MergedDir": "/m"}, "Name": "overlay2"},
        "Mounts": [{"Type": "volume", "Name": "vol", "Source": "/var/lib/docker/volumes/vol/_data",
                    "Destination": "/data", "Driver": "local", "Mode": "z", "RW": true, "Propagation": ""}],
        "Config": {"Hostname": "4fa6e0f0c678", "Image": "busybox", "Cmd": ["sh"], "OnBuild": null},
        "NetworkSettings": {"Bridge": "", "SandboxID": "s", "SandboxKey": "/var/run/docker/netns/s",
                            "Ports": {}, "HairpinMode": false, "LinkLocalIPv6Address": "",
                            "LinkLocalIPv6PrefixLen": 0, "SecondaryIPAddresses": null,
                            "SecondaryIPv6Addresses": null, "EndpointID": "e", "Gateway": "172.17.0.1",
                            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "172.17.0.2",
                            "IPPrefixLen": 16, "IPv6Gateway": "", "MacAddress": "02:42:ac:11:00:02",
                            "Networks": {"bridge": {"NetworkID": "n", "IPAddress": "172.17.0.2"}}}
    }"#;
    let r: InspectResponse = serde_json::from_str(body).unwrap();
    assert_eq!(r.state.status, ContainerState::RUNNING);
    assert_eq!(r.state.pid, 4242);
    let h = r.state.health.as_ref().unwrap();
    assert_eq!(h.status, HealthStatus::HEALTHY);
    assert_eq!(
        crate::time::format_rfc3339_nano(h.log[0].start),
        "2025-01-06T09:11:13.1Z"
    );
    assert!(r.mounts[0].rw);
    assert_eq!(r.mounts[0].typ, MountType::VOLUME);
    assert_eq!(r.host_config.resources.kernel_memory_tcp, Some(0));
    assert_eq!(r.graph_driver.as_ref().unwrap().name, "overlay2");
    assert_eq!(
        r.network_settings.legacy.as_ref().unwrap().ip_address,
        "172.17.0.2"
    );
    assert_eq!(
        r.network_settings.networks.as_ref().unwrap()["bridge"].network_id,
        "n"
    );
}

#[test]
fn summary_shape() {
    let v = serde_json::to_value(Summary::default()).unwrap();
    assert_eq!(
        v,
        json!({
            "Id": "", "Names": [], "Image": "", "ImageID": "", "Command": "", "Created": 0,
            "Ports": [], "Labels": null, "State": "", "Status": "",
            "HostConfig": {}, "NetworkSettings": {"Networks": null}, "Mounts": []
        })
    );
    let s = Summary {
        ports: vec![
            Port {
                ip: "0.0.0.0".into(),
                private_port: 80,
                public_port: 8080,
                typ: "tcp".into(),
            },
            Port {
                private_port: 443,
                typ: "tcp".into(),
                ..Default::default()
            },
        ],
        size_rw: 12,
        host_config: SummaryHostConfig {
            network_mode: "bridge".into(),
            ..Default::default()
        },
        health: Some(HealthSummary {
            status: HealthStatus::STARTING,
            failing_streak: 1,
        }),
        state: ContainerState::RUNNING,
        ..Default::default()
    };
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(
        v["Ports"],
        json!([{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
               {"PrivatePort": 443, "Type": "tcp"}])
    );
    assert_eq!(v["SizeRw"], 12);
    assert!(v.get("SizeRootFs").is_none());
    assert_eq!(v["HostConfig"], json!({"NetworkMode": "bridge"}));
    assert_eq!(
        v["Health"],
        json!({"Status": "starting", "FailingStreak": 1})
    );
    assert_eq!(serde_json::from_value::<Summary>(v).unwrap(), s);
}

#[test]
fn small_responses() {
    assert_eq!(
        serde_json::to_string(&CreateResponse {
            id: "abc".into(),
            warnings: vec![]
        })
        .unwrap(),
        r#"{"Id":"abc","Warnings":[]}"#
    );
    assert_eq!(
        serde_json::to_string(&WaitResponse::default()).unwrap(),
        r#"{"StatusCode":0}"#
    );
    let w = WaitResponse {
        error: Some(WaitExitError {
            message: "boom".into(),
        }),
        status_code: 137,
    };
    assert_eq!(
        serde_json::to_string(&w).unwrap(),
        r#"{"Error":{"Message":"boom"},"StatusCode":137}"#
    );
    assert_eq!(
        serde_json::to_string(&FilesystemChange {
            path: "/etc".into(),
            kind: ChangeType::MODIFY
        })
        .unwrap(),
        r#"{"Path":"/etc","Kind":0}"#
    );
    assert_eq!(ChangeType::DELETE.letter(), "D");
    assert_eq!(
        serde_json::to_string(&PruneReport::default()).unwrap(),
        r#"{"ContainersDeleted":null,"SpaceReclaimed":0}"#
    );
    assert_eq!(
        serde_json::to_string(&TopResponse {
            titles: Some(vec!["PID".into()]),
            processes: Some(vec![vec!["1".into()]])
        })
        .unwrap(),
        r#"{"Titles":["PID"],"Processes":[["1"]]}"#
    );
    assert_eq!(
        serde_json::to_string(&UpdateResponse::default()).unwrap(),
        r#"{"Warnings":[]}"#
    );
}

#[test]
fn path_stat_header() {
    let st = PathStat::from_stat(
        "etc",
        4096,
        0o040755,
        chrono::DateTime::from_timestamp(1_700_000_000, 120_000_000).unwrap(),
        "",
    );
    let json = serde_json::to_string(&st).unwrap();
    assert_eq!(
        json,
        r#"{"name":"etc","size":4096,"mode":2147484141,"mtime":"2023-11-14T22:13:20.12Z","linkTarget":""}"#
    );
    let h = st.to_header_value();
    assert_eq!(h, BASE64.encode(json.as_bytes()));
    let back = PathStat::from_header_value(&h).unwrap();
    assert_eq!(back, st);
    assert!(back.is_dir() && !back.is_symlink());
    assert!(PathStat::from_header_value("%%%").is_err());
    // a default stat still carries a time the Go client can parse
    let d: Value = serde_json::to_value(PathStat::default()).unwrap();
    assert_eq!(d["mtime"], crate::time::ZERO_TIME);
    let link = PathStat::from_stat("sh", 7, 0o120777, crate::time::zero_time(), "/bin/busybox");
    assert!(link.is_symlink());
    assert_eq!(
        serde_json::to_value(&link).unwrap()["linkTarget"],
        "/bin/busybox"
    );
}
