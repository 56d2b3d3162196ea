//! `docker run` and the container API end to end: the real docker CLI
//! against a real berthd, runc and overlayfs.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{eventually, stderr, stdout};

/// One daemon shared by the tests of this file (they use distinct names).
fn daemon() -> common::SharedRef {
    static D: OnceLock<common::Shared> = OnceLock::new();
    common::shared(&D)
}

#[test]
fn run_rm_echo_prints_and_leaves_nothing() {
    require_env!();
    let d = daemon();
    let out = d.docker(&[
        "run",
        "--rm",
        "--label",
        "t=rm-echo",
        "busybox",
        "echo",
        "hi",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hi\n");
    assert_eq!(d.ok(&["ps", "-aq", "--filter", "label=t=rm-echo"]), "");
}

#[test]
fn exit_code_is_reported_by_run_and_inspect() {
    require_env!();
    let d = daemon();
    let out = d.docker(&["run", "--name", "exit3", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "exit3"]),
        "3"
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "exit3"]),
        "exited"
    );
    d.ok(&["rm", "exit3"]);
}

#[test]
fn stdin_is_delivered_and_closed() {
    require_env!();
    let d = daemon();
    let out = d.docker_in(&["run", "-i", "--rm", "busybox", "cat"], Some(b"hello\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello\n");
}

#[test]
fn stdout_and_stderr_stay_apart_in_run_and_logs() {
    require_env!();
    let d = daemon();
    let out = d.docker(&[
        "run",
        "--name",
        "split",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");
    let logs = d.docker(&["logs", "split"]);
    assert_eq!(stdout(&logs), "out\n");
    assert_eq!(stderr(&logs), "err\n");
    d.ok(&["rm", "split"]);
}

#[test]
fn detached_logs_follow_tail_and_stop_timeout() {
    require_env!();
    let d = daemon();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
    ]);
    assert!(eventually(Duration::from_secs(10), || {
        stdout(&d.docker(&["logs", "ticker"])).lines().count() >= 4
    }));
    // `logs -f --tail 2` starts with two old lines and keeps streaming.
    let mut follow = d
        .docker_cmd(&["logs", "-f", "--tail", "2", "ticker"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(follow.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..5 {
        let mut l = String::new();
        std::io::BufRead::read_line(&mut reader, &mut l).unwrap();
        lines.push(l.trim().to_string());
    }
    let nums: Vec<u32> = lines
        .iter()
        .map(|l| l.trim_start_matches("tick ").parse().unwrap())
        .collect();
    assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{lines:?}");
    // The ticker ignores nothing: SIGTERM ends sh at once.
    let t0 = Instant::now();
    d.ok(&["stop", "-t", "2", "ticker"]);
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    // The follower ends with the container.
    let st = common::wait_output(follow, Duration::from_secs(10), &["logs", "-f"]);
    assert!(st.status.success());
    let ps = d.ok(&[
        "ps",
        "-a",
        "--filter",
        "name=ticker",
        "--format",
        "{{.Status}}",
    ]);
    assert!(ps.starts_with("Exited ("), "{ps}");
    d.ok(&["rm", "ticker"]);
}

#[test]
fn stop_kills_after_timeout_when_signal_is_ignored() {
    require_env!();
    let d = daemon();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 0.1; done",
    ]);
    assert!(eventually(Duration::from_secs(5), || d.ok(&[
        "inspect",
        "-f",
        "{{.State.Running}}",
        "stubborn"
    ]) == "true"));
    let t0 = Instant::now();
    d.ok(&["stop", "-t", "1", "stubborn"]);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "stop returned before the timeout: {took:?}"
    );
    assert!(took < Duration::from_secs(6), "stop took {took:?}");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "stubborn"]),
        "137"
    );
    d.ok(&["rm", "stubborn"]);
}

#[test]
fn named_volume_persists_and_readonly_refuses_writes() {
    require_env!();
    let d = daemon();
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "vol1:/data",
        "busybox",
        "sh",
        "-c",
        "echo persisted > /data/f",
    ]);
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "-v",
            "vol1:/data",
            "busybox",
            "cat",
            "/data/f"
        ]),
        "persisted"
    );
    assert!(d.ok(&["volume", "ls", "-q"]).lines().any(|l| l == "vol1"));
    // A :ro bind refuses writes.
    let host = tempfile::tempdir().unwrap();
    let bind = format!("{}:/ro:ro", host.path().display());
    let out = d.docker(&[
        "run",
        "--rm",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "echo x > /ro/f",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert!(!host.path().join("f").exists());
    // A rw bind writes through to the host.
    let bind = format!("{}:/rw", host.path().display());
    d.ok(&[
        "run",
        "--rm",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "echo y > /rw/g",
    ]);
    assert_eq!(
        std::fs::read_to_string(host.path().join("g")).unwrap(),
        "y\n"
    );
    // --read-only refuses writes to the rootfs but not to a tmpfs.
    let out = d.docker(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    d.ok(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch",
        "busybox",
        "touch",
        "/scratch/x",
    ]);
    // In use: 409; free: removed.
    d.ok(&[
        "create",
        "--name",
        "voluser",
        "-v",
        "vol1:/data",
        "busybox",
        "true",
    ]);
    let out = d.docker(&["volume", "rm", "vol1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("volume is in use"),
        "{}",
        stderr(&out)
    );
    d.ok(&["rm", "voluser"]);
    d.ok(&["volume", "rm", "vol1"]);
}

#[test]
fn named_volume_is_populated_from_the_image() {
    require_env!();
    let d = daemon();
    // /etc of the image appears in a new, empty named volume.
    let out = d.ok(&[
        "run",
        "--rm",
        "-v",
        "etcvol:/etc",
        "busybox",
        "cat",
        "/etc/hostname",
    ]);
    assert!(!out.is_empty());
    assert!(
        d.ok(&["run", "--rm", "-v", "etcvol:/x", "busybox", "ls", "/x"])
            .contains("passwd")
    );
    d.ok(&["volume", "rm", "etcvol"]);
}

#[test]
fn anonymous_volumes_go_with_rm_v() {
    require_env!();
    let d = daemon();
    let id = d.ok(&["create", "-v", "/anon", "busybox", "true"]);
    let vol = d.ok(&["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", &id]);
    assert_eq!(vol.len(), 64, "{vol}");
    assert!(d.ok(&["volume", "ls", "-q"]).contains(&vol));
    d.ok(&["rm", "-v", &id]);
    assert!(!d.ok(&["volume", "ls", "-q"]).contains(&vol));
}

#[test]
fn bad_input_gets_docker_errors() {
    require_env!();
    let d = daemon();
    let out = d.docker(&["rm", "nosuch"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("No such container: nosuch"),
        "{}",
        stderr(&out)
    );

    d.ok(&["create", "--name", "dup", "busybox", "true"]);
    let out = d.docker(&["create", "--name", "dup", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out)
            .contains("Conflict. The container name \"/dup\" is already in use by container"),
        "{}",
        stderr(&out)
    );
    d.ok(&["rm", "dup"]);

    let out = d.docker(&["run", "--rm", "nosuchimage:1", "true"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("Unable to find image 'nosuchimage:1' locally"),
        "{err}"
    );
    // The pull is tried, as dockerd tries it: Docker Hub is not reachable
    // here, and the error names where it went.
    // (Were Hub reachable, it would refuse the unknown repository.)
    assert!(
        err.contains("registry-1.docker.io") || err.contains("pull access denied"),
        "{err}"
    );

    let (status, _, body) = d.http("POST", "/v1.50/containers/create", Some("{not json"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("message"), "{body}");

    let (status, _, body) = d.http(
        "POST",
        "/containers/create?name=bad%2Fname",
        Some(r#"{"Image":"busybox"}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Invalid container name"), "{body}");

    let out = d.docker(&["run", "--rm", "busybox", "nosuchcommand"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
}

#[test]
fn system_endpoints_and_versions() {
    require_env!();
    let d = daemon();
    let (status, head, body) = d.http("GET", "/_ping", None);
    assert_eq!(status, 200);
    assert_eq!(body, "OK");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("api-version: 1.55"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("ostype: linux"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase().contains("server: berth/"),
        "{head}"
    );
    let (status, head, _) = d.http("HEAD", "/_ping", None);
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("api-version"), "{head}");
    let (status, _, body) = d.http("GET", "/v1.23/info", None);
    assert_eq!(status, 400);
    assert!(body.contains("is too old"), "{body}");
    let (status, _, body) = d.http("GET", "/v1.99/version", None);
    assert_eq!(status, 400);
    assert!(body.contains("is too new"), "{body}");
    let (status, _, body) = d.http("GET", "/v1.24/version", None);
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = d.http("GET", "/v1.55/networks", None);
    assert_eq!(status, 501, "{body}");
    assert!(body.contains("GET /networks"), "{body}");
    let (status, _, body) = d.http("GET", "/no/such/thing", None);
    assert_eq!(status, 404, "{body}");

    let info = d.ok(&[
        "info",
        "--format",
        "{{.Driver}} {{.LoggingDriver}} {{.NCPU}} {{.OSType}}",
    ]);
    let parts: Vec<&str> = info.split(' ').collect();
    assert_eq!(parts[1], "json-file");
    assert!(parts[2].parse::<u32>().unwrap() >= 1);
    assert_eq!(parts[3], "linux");
    let v = d.ok(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(v, "1.55");
}

#[test]
fn list_filters_rename_top_pause_restart_kill() {
    require_env!();
    let d = daemon();
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "lf1",
        "--label",
        "role=web",
        "busybox",
        "sh",
        "-c",
        // pid 1 ignores signals it has no handler for, as in Docker.
        "trap 'exit 9' USR1; while true; do sleep 0.1; done",
    ]);
    d.ok(&[
        "create", "--name", "lf2", "--label", "role=db", "busybox", "true",
    ]);
    let running = d.ok(&["ps", "--filter", "label=role", "--format", "{{.Names}}"]);
    assert_eq!(running, "lf1");
    let all = d.ok(&[
        "ps",
        "-a",
        "--filter",
        "label=role",
        "--format",
        "{{.Names}}",
    ]);
    assert!(all.contains("lf1") && all.contains("lf2"), "{all}");
    assert_eq!(
        d.ok(&[
            "ps",
            "-a",
            "--filter",
            "label=role=db",
            "--format",
            "{{.Names}}"
        ]),
        "lf2"
    );
    assert_eq!(
        d.ok(&[
            "ps",
            "-a",
            "--filter",
            "status=created",
            "--filter",
            "label=role",
            "--format",
            "{{.Names}}"
        ]),
        "lf2"
    );
    assert_eq!(
        d.ok(&[
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            &format!("id={}", &id[..10])
        ]),
        id
    );
    assert!(
        d.ok(&[
            "ps",
            "-a",
            "--filter",
            "ancestor=busybox",
            "--format",
            "{{.Names}}"
        ])
        .contains("lf1")
    );

    d.ok(&["rename", "lf1", "lf1b"]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.Name}}", &id]), "/lf1b");
    let top = d.ok(&["top", "lf1b"]);
    assert!(top.contains("sleep 0.1") || top.contains("trap"), "{top}");

    d.ok(&["pause", "lf1b"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "lf1b"]),
        "paused"
    );
    d.ok(&["unpause", "lf1b"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "lf1b"]),
        "running"
    );

    let pid1 = d.ok(&["inspect", "-f", "{{.State.Pid}}", "lf1b"]);
    d.ok(&["restart", "-t", "1", "lf1b"]);
    let pid2 = d.ok(&["inspect", "-f", "{{.State.Pid}}", "lf1b"]);
    assert_ne!(pid1, pid2);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", "lf1b"]),
        "true"
    );

    d.ok(&["kill", "-s", "USR1", "lf1b"]);
    assert!(eventually(Duration::from_secs(5), || d.ok(&[
        "inspect",
        "-f",
        "{{.State.Running}}",
        "lf1b"
    ]) == "false"));
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "lf1b"]), "9");
    let out = d.docker(&["kill", "lf1b"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not running"), "{}", stderr(&out));

    // A running container is not removed without force.
    d.ok(&["start", "lf1b"]);
    let out = d.docker(&["rm", "lf1b"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("container is running"),
        "{}",
        stderr(&out)
    );
    d.ok(&["rm", "-f", "lf1b", "lf2"]);
}

#[test]
fn start_attach_and_wait() {
    require_env!();
    let d = daemon();
    d.ok(&[
        "create",
        "--name",
        "sa",
        "busybox",
        "sh",
        "-c",
        "echo started; exit 5",
    ]);
    let out = d.docker(&["start", "-a", "sa"]);
    assert_eq!(stdout(&out), "started\n");
    assert_eq!(out.status.code(), Some(5));
    // Again: a second start attaches to the second run.
    let out = d.docker(&["start", "-a", "sa"]);
    assert_eq!(stdout(&out), "started\n");
    assert_eq!(d.ok(&["wait", "sa"]), "5");
    let logs = d.ok(&["logs", "sa"]);
    assert_eq!(logs, "started\nstarted");
    d.ok(&["rm", "sa"]);
}

#[test]
fn environment_user_workdir_hostname() {
    require_env!();
    let d = daemon();
    let out = d.ok(&[
        "run",
        "--rm",
        "-e",
        "X=1",
        "-u",
        "nobody",
        "-w",
        "/tmp/work",
        "--hostname",
        "hh",
        "busybox",
        "sh",
        "-c",
        "echo $X $(id -u) $(pwd) $(hostname) $HOME",
    ]);
    assert_eq!(out, "1 65534 /tmp/work hh /home");
    let out = d.ok(&["run", "--rm", "busybox", "cat", "/etc/hostname"]);
    assert_eq!(out.len(), 12);
    // Default capabilities, as Docker's.
    let caps = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert!(caps.ends_with("00000000a80425fb"), "{caps}");
    let caps = d.ok(&[
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert!(caps.ends_with("0000000000000000"), "{caps}");
    // The network is loopback only.
    let links = d.ok(&["run", "--rm", "busybox", "ip", "-o", "link"]);
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("lo:") && links.contains("UP"), "{links}");
    let links = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert_eq!(links.lines().count(), 1, "{links}");
    let host_links = d.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert!(host_links.lines().count() >= 1);
}
