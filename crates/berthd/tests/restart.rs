//! Containers outlive the daemon: SIGKILL berthd, start it again, and the
//! containers are still there, running or with their true exit codes.

mod common;

use std::time::{Duration, Instant};

use common::{Berthd, eventually, stderr, stdout};

#[test]
fn containers_survive_a_daemon_crash() {
    require_env!();
    let mut d = Berthd::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "survivor",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 143' TERM; i=0; while true; do echo beat $i; i=$((i+1)); sleep 0.2; done",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "shortlived",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 7",
    ]);
    d.ok(&["run", "-d", "-i", "--name", "echoer", "busybox", "cat"]);
    let pid = d.ok(&["inspect", "-f", "{{.State.Pid}}", "survivor"]);

    d.kill9();
    // While no daemon runs, `shortlived` exits.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the container died with the daemon"
    );
    d.spawn();

    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.State.Pid}}",
            "survivor"
        ]),
        format!("true {pid}")
    );
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "shortlived"
        ]),
        "exited 7"
    );
    assert!(
        d.ok(&["logs", "--tail", "1", "survivor"])
            .starts_with("beat")
    );

    // attach to a reconnected container: feed stdin, read it back.
    let mut attach = d
        .docker_cmd(&["attach", "echoer"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = attach.stdin.take().unwrap();
        // Give the attach a moment to connect before writing.
        std::thread::sleep(Duration::from_millis(500));
        stdin.write_all(b"after restart\n").unwrap();
        std::thread::sleep(Duration::from_millis(500));
        d.ok(&["stop", "-t", "1", "echoer"]);
    }
    let out = common::wait_output(attach, Duration::from_secs(20), &["attach"]);
    assert!(
        stdout(&out).contains("after restart"),
        "{} / {}",
        stdout(&out),
        stderr(&out)
    );

    // wait and stop work on it.
    let wait = d
        .docker_cmd(&["wait", "survivor"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    d.ok(&["stop", "-t", "5", "survivor"]);
    assert!(t0.elapsed() < Duration::from_secs(5));
    let out = common::wait_output(wait, Duration::from_secs(20), &["wait"]);
    assert_eq!(stdout(&out).trim(), "143");
    assert!(eventually(Duration::from_secs(5), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    }));

    // SIGTERM drains and exits 0, leaving running containers running.
    d.ok(&["run", "-d", "--name", "keeper", "busybox", "sleep", "300"]);
    let kpid = d.ok(&["inspect", "-f", "{{.State.Pid}}", "keeper"]);
    let st = d.terminate().unwrap();
    assert!(st.success(), "berthd exited with {st}");
    assert!(std::path::Path::new(&format!("/proc/{kpid}")).exists());
    d.spawn();
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", "keeper"]),
        "true"
    );
}

#[test]
fn refuses_a_second_daemon_and_replaces_a_stale_socket() {
    require_env!();
    let mut d = Berthd::start();
    // Same socket, other data root: the live daemon keeps its socket.
    let other = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berthd"))
        .arg("--data-root")
        .arg(other.path().join("data"))
        .arg("--exec-root")
        .arg(other.path().join("run"))
        .arg("-H")
        .arg(d.host())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("held by a live daemon"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    // Same data root, other socket: refused too.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berthd"))
        .arg("--data-root")
        .arg(d.data_root())
        .arg("--exec-root")
        .arg(other.path().join("run"))
        .arg("-H")
        .arg(format!("unix://{}/x.sock", other.path().display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("another berthd is using the data root"),
        "{}",
        stderr(&out)
    );
    // A crash leaves the socket file: the next start replaces it.
    d.kill9();
    assert!(d.socket().exists());
    d.spawn();
    d.ok(&["version"]);
    // Unknown runtime: one clear line.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berthd"))
        .arg("--runtime")
        .arg("/nonexistent/runc")
        .arg("-H")
        .arg(format!("unix://{}/y.sock", other.path().display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/nonexistent/runc does not exist"),
        "{}",
        stderr(&out)
    );
    // Not root: one clear line.
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_berthd"))
        .arg("-H")
        .arg(format!("unix://{}/z.sock", other.path().display()))
        .output()
        .expect("setpriv (util-linux)");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("must run as root"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
}
