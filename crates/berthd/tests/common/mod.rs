//! End-to-end harness: a real berthd on a temporary socket and data root,
//! driven by the real `docker` CLI (version 28, first on PATH).
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub mod registry;

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
        ensure_exit_hook();
        let dir = busybox_dir();
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

/// Waits for `child` (stdout and stderr piped) until `timeout`, then kills
/// it; returns what it printed and whether it had to be killed.
pub fn wait_or_kill(mut child: Child, timeout: Duration) -> (Output, bool) {
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
    let mut timed_out = false;
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if Instant::now() > deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = Output {
        status,
        stdout: so.join().unwrap(),
        stderr: se.join().unwrap(),
    };
    (output, timed_out)
}

/// [`wait_or_kill`] for a command that must finish in time.
pub fn wait_output(child: Child, timeout: Duration, what: &[&str]) -> Output {
    let (out, timed_out) = wait_or_kill(child, timeout);
    if timed_out {
        panic!("{what:?} timed out after {timeout:?} ({})", out.status);
    }
    out
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

/// What the differential tests need of a daemon: the same docker CLI
/// pointed at berthd or at dockerd.
pub trait DockerEngine: Sync {
    /// "berthd" or "dockerd".
    fn name(&self) -> &'static str;
    /// The API socket.
    fn api_socket(&self) -> PathBuf;
    /// DOCKER_CONFIG for the CLI (kept apart from the user's).
    fn config_dir(&self) -> PathBuf;
    /// The daemon's own log.
    fn daemon_log(&self) -> String;

    fn docker_host(&self) -> String {
        format!("unix://{}", self.api_socket().display())
    }

    /// The docker CLI (first on PATH) aimed at this daemon.
    fn cli(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", self.docker_host())
            .env("DOCKER_CONFIG", self.config_dir())
            .env_remove("DOCKER_CONTEXT")
            .args(args);
        cmd
    }

    /// Runs the CLI in `cwd` with `stdin` fed (or /dev/null).
    fn run_cli(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        cwd: Option<&Path>,
        timeout: Duration,
    ) -> Output {
        let mut cmd = self.cli(args);
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn docker");
        if let Some(data) = stdin {
            let data = data.to_vec();
            let mut s = child.stdin.take().unwrap();
            // The daemon may refuse early; a broken pipe is the CLI's business.
            std::thread::spawn(move || {
                use std::io::Write;
                let _ = s.write_all(&data);
            });
        }
        wait_output(child, timeout, args)
    }

    /// Runs the CLI and asserts success; returns trimmed stdout.
    fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.run_cli(args, None, None, Duration::from_secs(120));
        assert!(
            out.status.success(),
            "{}: docker {args:?} failed ({}):\nstdout: {}\nstderr: {}\n--- {} log tail ---\n{}",
            self.name(),
            out.status,
            stdout(&out),
            stderr(&out),
            self.name(),
            tail(&self.daemon_log(), 40)
        );
        stdout(&out).trim().to_string()
    }

    /// A raw HTTP/1.1 request on the API socket: (status, head, body bytes).
    /// The body is de-chunked when the response is chunked.
    fn http_raw(&self, method: &str, path: &str) -> (u16, String, Vec<u8>) {
        use std::io::Write;
        let mut s = std::os::unix::net::UnixStream::connect(self.api_socket()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = Vec::new();
        let _ = s.read_to_end(&mut resp);
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(resp.len());
        let head = String::from_utf8_lossy(&resp[..split]).into_owned();
        let rest = resp.get(split + 4..).unwrap_or_default().to_vec();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let chunked = head.lines().any(|l| {
            l.to_ascii_lowercase()
                .starts_with("transfer-encoding: chunked")
        });
        let body = if chunked { dechunk_bytes(&rest) } else { rest };
        (status, head, body)
    }
}

fn dechunk_bytes(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = String::from_utf8_lossy(&rest[..eol]);
        let Ok(n) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16) else {
            return out;
        };
        rest = &rest[eol + 2..];
        if n == 0 || rest.len() < n {
            out.extend_from_slice(&rest[..n.min(rest.len())]);
            return out;
        }
        out.extend_from_slice(&rest[..n]);
        rest = rest[n..].strip_prefix(b"\r\n").unwrap_or(&rest[n..]);
    }
}

impl DockerEngine for Berthd {
    fn name(&self) -> &'static str {
        "berthd"
    }
    fn api_socket(&self) -> PathBuf {
        self.socket()
    }
    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("docker-config")
    }
    fn daemon_log(&self) -> String {
        self.log()
    }
}

/// Debian's dockerd (the `docker.io` package, 20.10) on its own socket and
/// roots, for differential tests: started as the issue says, with
/// `--bridge=none --iptables=false` (containers then run with
/// `--network none`); it starts its own containerd under its exec root.
/// `stop` (also run by Drop) removes its containers, SIGTERMs it, unmounts
/// whatever is left under its directory and removes it.
pub struct Dockerd {
    dir: std::sync::Mutex<Option<tempfile::TempDir>>,
    path: PathBuf,
    child: std::sync::Mutex<Option<Child>>,
}

/// Why dockerd tests cannot run here, or None. Like `prerequisites`, a
/// missing piece fails under BERTH_REQUIRE_ROOT_TESTS=1.
pub fn dockerd_prerequisites() -> Option<String> {
    let mut missing = Vec::new();
    for tool in ["dockerd", "containerd"] {
        if which(tool).is_none() {
            missing.push(tool.to_string());
        }
    }
    if missing.is_empty() {
        return None;
    }
    let why = format!(
        "differential tests need {} (apt-get install docker.io)",
        missing.join(", ")
    );
    if std::env::var("BERTH_REQUIRE_ROOT_TESTS").as_deref() == Ok("1") {
        panic!("{why} (BERTH_REQUIRE_ROOT_TESTS=1)");
    }
    Some(why)
}

impl Dockerd {
    pub fn dir(&self) -> &Path {
        &self.path
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path.join("dockerd.log")).unwrap_or_default()
    }

    /// Starts dockerd with fresh roots and the busybox image imported.
    pub fn start() -> Dockerd {
        // Short: containerd's sockets live under the exec root.
        let dir = tempfile::Builder::new()
            .prefix("bdd-")
            .tempdir_in("/tmp")
            .unwrap();
        let path = dir.path().to_path_buf();
        // An empty config file: never read the host's /etc/docker/daemon.json.
        std::fs::write(path.join("daemon.json"), "{}\n").unwrap();
        let log = std::fs::File::create(path.join("dockerd.log")).unwrap();
        let dockerd = which("dockerd").expect("dockerd");
        let child = Command::new(dockerd)
            .arg("--config-file")
            .arg(path.join("daemon.json"))
            .arg("--data-root")
            .arg(path.join("root"))
            .arg("--exec-root")
            .arg(path.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", path.join("docker.sock").display()))
            .arg("--pidfile")
            .arg(path.join("docker.pid"))
            .arg("--iptables=false")
            .arg("--bridge=none")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        let d = Dockerd {
            dir: std::sync::Mutex::new(Some(dir)),
            path,
            child: std::sync::Mutex::new(Some(child)),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if d.api_socket().exists() {
                let (status, _, body) = d.http_raw("GET", "/_ping");
                if status == 200 && body == b"OK" {
                    break;
                }
            }
            if let Some(c) = d.child.lock().unwrap().as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!("dockerd exited at start ({st}):\n{}", tail(&d.log(), 60));
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not come up:\n{}",
                tail(&d.log(), 60)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d.cli_ok(&[
            "import",
            "--change",
            "CMD [\"sh\"]",
            busybox_tar().to_str().unwrap(),
            "busybox:latest",
        ]);
        d
    }

    /// Removes its containers, stops it (SIGTERM, then SIGKILL after 30 s)
    /// and its containerd, unmounts what is left under its directory and
    /// removes that. Idempotent.
    pub fn stop(&self) {
        let Some(mut child) = self.child.lock().unwrap().take() else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            let ids = self.run_cli(&["ps", "-aq"], None, None, Duration::from_secs(60));
            let ids: Vec<String> = stdout(&ids).split_whitespace().map(String::from).collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f", "-v"];
                args.extend(ids.iter().map(String::as_str));
                let _ = self.run_cli(&args, None, None, Duration::from_secs(120));
            }
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
                rustix::process::Signal::TERM,
            );
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
        }
        let _ = child.wait();
        // The containerd dockerd started stops with it; if dockerd died
        // abruptly, end that one process (by its pid file) too.
        let pidfile = self.path.join("exec/containerd/containerd.pid");
        if let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            .and_then(rustix::process::Pid::from_raw)
        {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Path::new(&format!("/proc/{}", pid.as_raw_nonzero())).exists()
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        unmount_under(&self.path);
        if let Some(dir) = self.dir.lock().unwrap().take() {
            let _ = dir.close();
        }
    }
}

/// Lazily unmounts every mount at or below `root`, deepest first.
pub fn unmount_under(root: &Path) {
    let root = root.to_string_lossy().into_owned();
    for _ in 0..3 {
        let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return;
        };
        let mut targets: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .filter(|m| *m == root || m.starts_with(&format!("{root}/")))
            .collect();
        if targets.is_empty() {
            return;
        }
        targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
        for t in targets {
            let _ = rustix::mount::unmount(t, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

impl DockerEngine for Dockerd {
    fn name(&self) -> &'static str {
        "dockerd"
    }
    fn api_socket(&self) -> PathBuf {
        self.path.join("docker.sock")
    }
    fn config_dir(&self) -> PathBuf {
        self.path.join("docker-config")
    }
    fn daemon_log(&self) -> String {
        self.log()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A raw HTTP reply with a binary body (dechunked when it was chunked).
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
    /// The body was cut at the caller's size limit.
    pub truncated: bool,
}

impl HttpReply {
    /// A response header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
    /// The `message` of a Docker JSON error body.
    pub fn message(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v.get("message")?.as_str().map(str::to_string)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How long a raw request may take, and how much body to keep.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub timeout: Duration,
    pub max_body: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            timeout: Duration::from_secs(60),
            max_body: 256 << 20,
        }
    }
}

impl Berthd {
    /// A raw HTTP request with a binary body (`Content-Length`), e.g. a tar
    /// to `PUT /containers/{id}/archive?path=...`. The body is written on its
    /// own thread so that a server answering before it has read everything
    /// (an error mid-stream) cannot deadlock the test.
    pub fn http_bytes(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> HttpReply {
        self.http_bytes_with(method, path, content_type, body, HttpLimits::default())
    }

    pub fn http_bytes_with(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
        limits: HttpLimits,
    ) -> HttpReply {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let mut data = head.into_bytes();
        data.extend_from_slice(body);
        let pieces: Vec<Vec<u8>> = data.chunks(64 << 10).map(<[u8]>::to_vec).collect();
        self.http_exchange(pieces.into_iter(), limits)
    }

    /// A raw HTTP request whose body is streamed with chunked transfer
    /// encoding from `chunks` (which may be endless: it stops being polled
    /// once the server has answered). `None` chunks are skipped.
    pub fn http_stream(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        chunks: impl Iterator<Item = Vec<u8>> + Send + 'static,
        limits: HttpLimits,
    ) -> HttpReply {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        let framed = std::iter::once(head.into_bytes())
            .chain(chunks.filter(|c| !c.is_empty()).map(|c| {
                let mut f = format!("{:x}\r\n", c.len()).into_bytes();
                f.extend_from_slice(&c);
                f.extend_from_slice(b"\r\n");
                f
            }))
            .chain(std::iter::once(b"0\r\n\r\n".to_vec()));
        self.http_exchange(framed, limits)
    }

    /// Sends `request` (already framed) and reads the reply until the server
    /// closes, the body limit, or the timeout (then status 0).
    fn http_exchange(
        &self,
        request: impl Iterator<Item = Vec<u8>> + Send + 'static,
        limits: HttpLimits,
    ) -> HttpReply {
        use std::io::Write;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let s = std::os::unix::net::UnixStream::connect(self.socket()).unwrap();
        let mut w = s.try_clone().unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let writer = {
            let done = done.clone();
            std::thread::spawn(move || {
                for piece in request {
                    if done.load(Ordering::Relaxed) || w.write_all(&piece).is_err() {
                        return;
                    }
                }
            })
        };
        let deadline = Instant::now() + limits.timeout;
        let mut resp = Vec::new();
        let mut buf = vec![0u8; 256 << 10];
        let mut r = s.try_clone().unwrap();
        let mut timed_out = false;
        let mut truncated = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                timed_out = true;
                break;
            }
            r.set_read_timeout(Some(left.min(Duration::from_millis(500))))
                .unwrap();
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    resp.extend_from_slice(&buf[..n]);
                    if resp.len() > limits.max_body {
                        truncated = true;
                        break;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        done.store(true, Ordering::Relaxed);
        let _ = s.shutdown(std::net::Shutdown::Both);
        let _ = writer.join();
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(resp.len());
        let head = String::from_utf8_lossy(&resp[..split]).into_owned();
        let rest = resp.get(split + 4..).unwrap_or(&[]);
        let status = if timed_out {
            0
        } else {
            head.split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0)
        };
        let chunked = head.lines().any(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("transfer-encoding:") && l.contains("chunked")
        });
        let body = if chunked {
            dechunk_bytes(rest)
        } else {
            rest.to_vec()
        };
        HttpReply {
            status,
            head,
            body,
            truncated,
        }
    }
}

/// A daemon shared by the tests of one binary. Statics are never dropped,
/// so the daemon (and whatever containers the tests left) is stopped by an
/// exit hook instead, or it would outlive the test run.
pub struct Shared(std::sync::RwLock<Option<Berthd>>);

pub struct SharedRef(std::sync::RwLockReadGuard<'static, Option<Berthd>>);

impl std::ops::Deref for SharedRef {
    type Target = Berthd;
    fn deref(&self) -> &Berthd {
        self.0
            .as_ref()
            .expect("the shared daemon is stopped only at exit")
    }
}

static SHARED_AT_EXIT: std::sync::Mutex<Vec<&'static Shared>> = std::sync::Mutex::new(Vec::new());

fn busybox_dir() -> PathBuf {
    std::env::temp_dir().join(format!("berth-e2e-busybox-{}", std::process::id()))
}

fn ensure_exit_hook() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        // SAFETY: `stop_shared_at_exit` is an `extern "C" fn()` that never
        // unwinds (it catches panics); atexit only stores the pointer.
        unsafe {
            libc::atexit(stop_shared_at_exit);
        }
    });
}

extern "C" fn stop_shared_at_exit() {
    let _ = std::panic::catch_unwind(|| {
        let _ = std::fs::remove_dir_all(busybox_dir());
        let all: Vec<&'static Shared> =
            std::mem::take(&mut *SHARED_AT_EXIT.lock().unwrap_or_else(|p| p.into_inner()));
        for s in all {
            // Taking it out runs Berthd's Drop: containers removed, daemon
            // stopped, mounts and dirs cleaned.
            let d = s.0.write().ok().and_then(|mut g| g.take());
            drop(d);
        }
    });
}

/// The binary's shared daemon, started on first use.
pub fn shared(slot: &'static OnceLock<Shared>) -> SharedRef {
    ensure_exit_hook();
    let s = slot.get_or_init(|| Shared(std::sync::RwLock::new(Some(Berthd::start()))));
    let mut reg = SHARED_AT_EXIT.lock().unwrap_or_else(|p| p.into_inner());
    if !reg.iter().any(|x| std::ptr::eq(*x, s)) {
        reg.push(s);
    }
    drop(reg);
    SharedRef(s.0.read().unwrap_or_else(|p| p.into_inner()))
}
