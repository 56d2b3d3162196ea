//! `docker exec`, restart policies and health checks end to end: the real
//! docker CLI against a real berthd and runc.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Berthd, eventually, stderr, stdout};

/// One daemon shared by the tests of this file (they use distinct names).
fn daemon() -> common::SharedRef {
    static D: OnceLock<common::Shared> = OnceLock::new();
    common::shared(&D)
}

fn sleeper(d: &Berthd, name: &str) {
    d.ok(&["run", "-d", "--name", name, "busybox", "sleep", "600"]);
}

#[test]
fn exec_runs_in_the_container_with_env_stdin_and_exit_codes() {
    require_env!();
    let d = daemon();
    sleeper(&d, "ex-basic");
    // The environment: the container's, then the exec's.
    let out = d.docker(&[
        "exec",
        "-e",
        "X=1",
        "ex-basic",
        "sh",
        "-c",
        "echo $X $HOSTNAME",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let hostname = d.ok(&["inspect", "-f", "{{.Config.Hostname}}", "ex-basic"]);
    assert_eq!(stdout(&out), format!("1 {hostname}\n"));
    // It is in the container: same mount namespace as its init.
    d.ok(&["exec", "ex-basic", "touch", "/tmp/from-exec"]);
    assert_eq!(
        d.ok(&["exec", "ex-basic", "ls", "/tmp/from-exec"]),
        "/tmp/from-exec"
    );
    // stdin is delivered and closed.
    let out = d.docker_in(&["exec", "-i", "ex-basic", "cat"], Some(b"hi\nthere\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hi\nthere\n");
    // stdout and stderr stay apart; the exit code comes through.
    let out = d.docker(&[
        "exec",
        "ex-basic",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");
    // A command that does not exist: dockerd's message and 127.
    let out = d.docker(&["exec", "ex-basic", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("OCI runtime exec failed")
            && text.contains("executable file not found in $PATH"),
        "{text}"
    );
    // User and working directory.
    assert_eq!(
        d.ok(&[
            "exec",
            "-u",
            "nobody",
            "-w",
            "/tmp",
            "ex-basic",
            "sh",
            "-c",
            "id -u; pwd"
        ]),
        "65534\n/tmp"
    );
    // A large output arrives whole.
    let out = d.docker(&[
        "exec",
        "ex-basic",
        "sh",
        "-c",
        "dd if=/dev/zero bs=1024 count=2048 2>/dev/null | tr '\\0' x",
    ]);
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 2048 * 1024);
    assert!(out.stdout.iter().all(|b| *b == b'x'));
    d.ok(&["rm", "-f", "ex-basic"]);
}

#[test]
fn exec_inspect_detached_and_conflicts() {
    require_env!();
    let d = daemon();
    sleeper(&d, "ex-api");
    // Create and inspect through the API, start detached.
    let (code, _, body) = d.http(
        "POST",
        "/containers/ex-api/exec",
        Some(r#"{"Cmd":["sh","-c","sleep 1; exit 3"],"User":"nobody"}"#),
    );
    assert_eq!(code, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let inspect = |id: &str| -> serde_json::Value {
        let (code, _, body) = d.http("GET", &format!("/exec/{id}/json"), None);
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let v = inspect(&id);
    assert_eq!(v["Running"], false);
    assert!(v["ExitCode"].is_null());
    assert_eq!(v["ProcessConfig"]["entrypoint"], "sh");
    assert_eq!(v["ProcessConfig"]["user"], "nobody");
    let (code, _, body) = d.http(
        "POST",
        &format!("/exec/{id}/start"),
        Some(r#"{"Detach":true}"#),
    );
    assert_eq!(code, 200, "{body}");
    let v = inspect(&id);
    assert_eq!(v["Running"], true, "{v}");
    assert!(v["Pid"].as_i64().unwrap() > 0);
    assert!(
        eventually(Duration::from_secs(10), || inspect(&id)["ExitCode"] == 3),
        "{}",
        inspect(&id)
    );
    assert_eq!(inspect(&id)["Running"], false);
    // A second start is a conflict; an unknown exec a 404.
    let (code, _, body) = d.http(
        "POST",
        &format!("/exec/{id}/start"),
        Some(r#"{"Detach":true}"#),
    );
    assert_eq!(code, 409, "{body}");
    let (code, _, body) = d.http("GET", "/exec/0123456789abcdef/json", None);
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("No such exec instance"), "{body}");
    // The container lists its execs.
    assert!(
        d.ok(&["inspect", "-f", "{{.ExecIDs}}", "ex-api"])
            .contains(&id)
    );
    // `docker exec -d` returns at once; the process runs on.
    d.ok(&[
        "exec",
        "-d",
        "ex-api",
        "sh",
        "-c",
        "sleep 1; touch /tmp/detached",
    ]);
    assert!(eventually(Duration::from_secs(10), || {
        d.docker(&["exec", "ex-api", "test", "-e", "/tmp/detached"])
            .status
            .success()
    }));
    // Paused and stopped containers refuse, as dockerd does.
    d.ok(&["pause", "ex-api"]);
    let out = d.docker(&["exec", "ex-api", "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is paused, unpause the container before exec"),
        "{}",
        stderr(&out)
    );
    d.ok(&["unpause", "ex-api"]);
    d.ok(&["stop", "-t", "1", "ex-api"]);
    let out = d.docker(&["exec", "ex-api", "true"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not running"), "{}", stderr(&out));
    let (code, _, _b) = d.http(
        "POST",
        "/containers/ex-api/exec",
        Some(r#"{"Cmd":["true"]}"#),
    );
    assert_eq!(code, 409);
    let (code, _, body) = d.http(
        "POST",
        "/containers/no-such-ctr/exec",
        Some(r#"{"Cmd":["true"]}"#),
    );
    assert_eq!(code, 404, "{body}");
    let (code, _, body) = d.http("POST", "/containers/ex-api/exec", Some("{not json"));
    assert_eq!(code, 400, "{body}");
    d.ok(&["rm", "-f", "ex-api"]);
}

#[test]
fn an_exec_outlives_a_daemon_crash() {
    require_env!();
    let mut d = Berthd::start();
    sleeper(&d, "ex-crash");
    d.ok(&[
        "exec",
        "-d",
        "ex-crash",
        "sh",
        "-c",
        "sleep 2; touch /tmp/after-crash",
    ]);
    d.kill9();
    std::thread::sleep(Duration::from_millis(2500));
    d.spawn();
    assert!(
        eventually(Duration::from_secs(10), || {
            d.docker(&["exec", "ex-crash", "test", "-e", "/tmp/after-crash"])
                .status
                .success()
        }),
        "the exec did not finish while the daemon was down"
    );
    // No zombie left behind in the container: the shim reaped the exec.
    let ps = d.ok(&["exec", "ex-crash", "ps", "-o", "stat,comm"]);
    assert!(!ps.lines().any(|l| l.trim_start().starts_with('Z')), "{ps}");
}

#[test]
fn on_failure_restarts_exactly_max_times() {
    require_env!();
    let d = daemon();
    let out = d.docker(&[
        "run",
        "--name",
        "rs-fail",
        "--restart",
        "on-failure:3",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    // The first exit ends `docker run`, as with dockerd.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        eventually(Duration::from_secs(30), || {
            d.ok(&[
                "inspect",
                "-f",
                "{{.State.Status}} {{.RestartCount}}",
                "rs-fail",
            ]) == "exited 3"
        }),
        "{}",
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.RestartCount}}",
            "rs-fail"
        ])
    );
    // Stays there: no fourth restart.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}",
            "rs-fail"
        ]),
        "exited 3 1"
    );
    assert_eq!(d.ok(&["logs", "rs-fail"]).lines().count(), 4);
    // A start by the user resets the count.
    d.ok(&["start", "rs-fail"]);
    assert!(eventually(Duration::from_secs(30), || {
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.RestartCount}}",
            "rs-fail",
        ]) == "exited 3"
    }));
    d.ok(&["rm", "-f", "rs-fail"]);
}

#[test]
fn always_restarts_until_stopped() {
    require_env!();
    let d = daemon();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "rs-always",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.3",
    ]);
    assert!(eventually(Duration::from_secs(30), || {
        d.ok(&["inspect", "-f", "{{.RestartCount}}", "rs-always"])
            .parse::<u32>()
            .unwrap()
            >= 2
    }));
    d.ok(&["stop", "-t", "1", "rs-always"]);
    let count = d.ok(&["inspect", "-f", "{{.RestartCount}}", "rs-always"]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.RestartCount}}",
            "rs-always"
        ]),
        format!("exited {count}")
    );
    // unless-stopped and a clean exit 0 with on-failure: no restart.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "rs-ok",
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ]);
    d.ok(&["wait", "rs-ok"]);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.RestartCount}}",
            "rs-ok"
        ]),
        "exited 0"
    );
    d.ok(&["rm", "-f", "rs-always", "rs-ok"]);
}

#[test]
fn a_failing_health_check_turns_unhealthy() {
    require_env!();
    let d = daemon();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "cat /tmp/ok",
        "--health-interval",
        "500ms",
        "--health-retries",
        "2",
        "busybox",
        "sh",
        "-c",
        "echo fine > /tmp/ok; sleep 600",
    ]);
    let health = || d.ok(&["inspect", "-f", "{{.State.Health.Status}}", "hc"]);
    assert!(
        eventually(Duration::from_secs(15), || health() == "healthy"),
        "{}",
        health()
    );
    assert!(
        d.ok(&["ps", "--filter", "name=hc", "--format", "{{.Status}}"])
            .ends_with("(healthy)")
    );
    assert_eq!(
        d.ok(&[
            "ps",
            "-q",
            "--filter",
            "health=healthy",
            "--filter",
            "name=hc"
        ])
        .len(),
        12
    );
    // The probe's output is logged.
    let log = d.ok(&["inspect", "-f", "{{json .State.Health.Log}}", "hc"]);
    let log: Vec<serde_json::Value> = serde_json::from_str(&log).unwrap();
    assert!(
        log.iter()
            .any(|r| r["Output"] == "fine\n" && r["ExitCode"] == 0),
        "{log:?}"
    );
    d.ok(&["exec", "hc", "rm", "/tmp/ok"]);
    assert!(
        eventually(Duration::from_secs(15), || health() == "unhealthy"),
        "{}",
        health()
    );
    let streak: i64 = d
        .ok(&["inspect", "-f", "{{.State.Health.FailingStreak}}", "hc"])
        .parse()
        .unwrap();
    assert!(streak >= 2);
    // A probe that hangs is cut off at its timeout.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hc-slow",
        "--health-cmd",
        "sleep 30",
        "--health-interval",
        "500ms",
        "--health-timeout",
        "1s",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "600",
    ]);
    let started = Instant::now();
    assert!(eventually(Duration::from_secs(20), || {
        d.ok(&["inspect", "-f", "{{.State.Health.Status}}", "hc-slow"]) == "unhealthy"
    }));
    assert!(started.elapsed() < Duration::from_secs(15));
    let log = d.ok(&["inspect", "-f", "{{json .State.Health.Log}}", "hc-slow"]);
    assert!(log.contains("Health check exceeded timeout (1s)"), "{log}");
    d.ok(&["rm", "-f", "hc", "hc-slow"]);
}

#[test]
fn restart_policies_apply_to_exits_while_the_daemon_was_down() {
    require_env!();
    let mut d = Berthd::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "rs-down",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "600",
    ]);
    d.ok(&["run", "-d", "--name", "rs-none", "busybox", "sleep", "600"]);
    let pids: Vec<String> = ["rs-down", "rs-none"]
        .iter()
        .map(|n| d.ok(&["inspect", "-f", "{{.State.Pid}}", n]))
        .collect();
    d.kill9();
    // Both containers die while no daemon runs.
    for pid in &pids {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid.parse().unwrap()).unwrap(),
            rustix::process::Signal::KILL,
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    d.spawn();
    // The restart policy starts the one that has it, once its exit is known.
    assert!(
        eventually(Duration::from_secs(20), || {
            d.ok(&[
                "inspect",
                "-f",
                "{{.State.Status}} {{.RestartCount}}",
                "rs-down",
            ]) == "running 1"
        }),
        "{}",
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.RestartCount}}",
            "rs-down"
        ])
    );
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "rs-none"
        ]),
        "exited 137"
    );
    d.ok(&["rm", "-f", "rs-down", "rs-none"]);
}
