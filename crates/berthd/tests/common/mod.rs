//! End-to-end harness: a real berthd on a temporary socket and data root,
//! driven by the real `docker` CLI (version 28, first on PATH).
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Root-only tests must not silently pass where they cannot run: with
/// BERTH_REQUIRE_ROOT_TESTS=1 (CI) a missing prerequisite fails the test;
/// otherwise the test says why it skips.
pub fn prerequisites() -> Option<String> {
    let mut missing = Vec::new();
    if !rustix::process::geteuid().is_root() {
        missing.push("root".to_string());
    }
    for tool in ["docker", "runc"] {
        if which(tool).is_none() {
            missing.push(tool.to_string());
        }
    }
    if !Path::new("/bin/busybox").exists() {
        missing.push("/bin/busybox (busybox-static)".to_string());
    }
    if missing.is_empty() {
        return None;
    }
    let why = format!("end-to-end tests need {}", missing.join(", "));
    if std::env::var("BERTH_REQUIRE_ROOT_TESTS").as_deref() == Ok("1") {
        panic!("{why} (BERTH_REQUIRE_ROOT_TESTS=1)");
    }
    Some(why)
}

#[macro_export]
macro_rules! require_env {
    () => {
        if let Some(why) = common::prerequisites() {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
}

pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The busybox rootfs tarball, built once per test binary by the project's
/// script from Debian's busybox-static.
pub fn busybox_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("berth-e2e-busybox-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tar = dir.join("busybox.tar");
        let st = Command::new(workspace_root().join("scripts/build-busybox-image.sh"))
            .arg(&tar)
            .status()
            .expect("run build-busybox-image.sh");
        assert!(st.success(), "building the busybox image failed");
        tar
    })
}

pub struct Berthd {
    pub dir: tempfile::TempDir,
    pub exec_root: PathBuf,
    pub child: Option<Child>,
}

impl Berthd {
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("berth.sock")
    }
    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    /// Starts a daemon with fresh roots and busybox imported.
    pub fn start() -> Berthd {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-")
            .tempdir()
            .unwrap();
        // Shim sockets live under the exec root; keep it short (sun_path).
        let exec_root = PathBuf::from(format!(
            "/run/bt-{}",
            &dir.path().file_name().unwrap().to_string_lossy()[10..]
        ));
        let mut d = Berthd {
            dir,
            exec_root,
            child: None,
        };
        d.spawn();
        let out = d.docker_in(
            &[
                "import",
                "--change",
                "CMD [\"sh\"]",
                busybox_tar().to_str().unwrap(),
                "busybox:latest",
            ],
            None,
        );
        assert!(out.status.success(), "import busybox: {}", stderr(&out));
        d
    }

    pub fn spawn(&mut self) {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("berthd.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_berthd"))
            .arg("--data-root")
            .arg(self.data_root())
            .arg("--exec-root")
            .arg(&self.exec_root)
            .arg("-H")
            .arg(self.host())
            .arg("--log-level")
            .arg("debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn berthd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::os::unix::net::UnixStream::connect(self.socket()).is_ok() {
                break;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!("berthd exited at start ({st}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "berthd did not come up:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(c.id() as i32).unwrap(),
            rustix::process::Signal::TERM,
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                return c.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env_remove("DOCKER_CONTEXT")
            .args(args);
        cmd
    }

    /// Runs the docker CLI with `stdin` fed (or /dev/null).
    pub fn docker_in(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd = self.docker_cmd(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn docker");
        if let Some(data) = stdin {
            use std::io::Write;
            let mut s = child.stdin.take().unwrap();
            s.write_all(data).unwrap();
        }
        wait_output(child, Duration::from_secs(120), args)
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_in(args, None)
    }

    /// Runs docker and asserts success; returns trimmed stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}):\nstdout: {}\nstderr: {}\n--- berthd log tail ---\n{}",
            out.status,
            stdout(&out),
            stderr(&out),
            tail(&self.log(), 40)
        );
        stdout(&out).trim().to_string()
    }

    /// A raw HTTP request on the API socket: (status, headers, body).
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String, String) {
        use std::io::Write;
        let mut s = std::os::unix::net::UnixStream::connect(self.socket()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let body = body.unwrap_or("");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut resp = Vec::new();
        let _ = s.read_to_end(&mut resp);
        let resp = String::from_utf8_lossy(&resp).into_owned();
        let (head, rest) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, head.to_string(), dechunk(rest))
    }
}

/// Decodes a chunked body if it is one (good enough for test bodies).
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((size, after)) = rest.split_once("\r\n") else {
            return body.to_string();
        };
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            return body.to_string();
        };
        if n == 0 {
            return out;
        }
        if after.len() < n {
            return body.to_string();
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
}

impl Drop for Berthd {
    fn drop(&mut self) {
        if self.child.is_some() {
            // Remove what the test left, so no container outlives it.
            let ids = self.docker(&["ps", "-aq"]);
            for id in stdout(&ids).split_whitespace() {
                let _ = self.docker(&["rm", "-f", "-v", id]);
            }
            self.terminate();
        }
        // Whatever a crashed test left mounted under our roots.
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") {
            let roots = [self.dir.path().to_path_buf(), self.exec_root.clone()];
            let mut targets: Vec<&str> = mounts
                .lines()
                .filter_map(|l| l.split_whitespace().nth(4))
                .filter(|m| roots.iter().any(|r| m.starts_with(&*r.to_string_lossy())))
                .collect();
            targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
            for t in targets {
                let _ = rustix::mount::unmount(t, rustix::mount::UnmountFlags::DETACH);
            }
        }
        let _ = std::fs::remove_dir_all(&self.exec_root);
    }
}

pub fn wait_output(mut child: Child, timeout: Duration, what: &[&str]) -> Output {
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let so = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut v);
        }
        v
    });
    let se = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut v);
        }
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let st = child.wait().unwrap();
            panic!("{what:?} timed out after {timeout:?} ({st})");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: so.join().unwrap(),
        stderr: se.join().unwrap(),
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Polls `f` until it returns true or the timeout passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}
