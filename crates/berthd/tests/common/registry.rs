//! Registry-side fixtures for the distribution tests (pull, push, login):
//! Debian's `docker-registry` (distribution 2.8) on a free loopback port,
//! images put into it *without berth* (umoci builds OCI layouts from the
//! busybox tarball, skopeo copies them as Docker schema 2, OCI manifests,
//! manifest lists or OCI indexes), a TCP proxy that stalls a transfer on
//! demand (to crash the daemon mid-pull), a private podman (for its
//! `save` formats) and the docker CLI with a per-test client config.
//!
//! Docker treats registries on 127.0.0.0/8 as insecure (plain http) by
//! default — dockerd 20.10 lists `127.0.0.0/8` under "Insecure Registries"
//! — so neither daemon needs `--insecure-registry`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{DockerEngine, busybox_tar, stderr, stdout, tail, wait_or_kill, wait_output, which};

/// Why the registry tests cannot run here, or None. Like
/// `prerequisites`, a missing piece fails under BERTH_REQUIRE_ROOT_TESTS=1.
pub fn registry_prerequisites() -> Option<String> {
    let mut missing = Vec::new();
    for (tool, pkg) in [
        ("docker-registry", "docker-registry"),
        ("skopeo", "skopeo"),
        ("umoci", "umoci"),
        ("htpasswd", "apache2-utils"),
        ("podman", "podman"),
        ("sha256sum", "coreutils"),
        ("gzip", "gzip"),
        ("tar", "tar"),
    ] {
        if which(tool).is_none() {
            missing.push(format!("{tool} ({pkg})"));
        }
    }
    if missing.is_empty() {
        return None;
    }
    let why = format!(
        "distribution tests need {} (see .ci/run)",
        missing.join(", ")
    );
    if std::env::var("BERTH_REQUIRE_ROOT_TESTS").as_deref() == Ok("1") {
        panic!("{why} (BERTH_REQUIRE_ROOT_TESTS=1)");
    }
    Some(why)
}

/// Runs a command to completion (with a timeout) and asserts success;
/// returns stdout.
pub fn run_ok(cmd: &mut Command, timeout: Duration) -> Vec<u8> {
    let what = format!("{cmd:?}");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let out = wait_output(child, timeout, &[&what]);
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    out.stdout
}

/// `sha256:<hex>` of `data` (sha256sum; the tests have no hashing crate).
pub fn sha256(data: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sha256sum");
    let mut input = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = wait_output(child, Duration::from_secs(60), &["sha256sum"]);
    writer.join().unwrap();
    assert!(out.status.success(), "sha256sum: {}", stderr(&out));
    let hex = stdout(&out)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(hex.len(), 64, "sha256sum printed {:?}", stdout(&out));
    format!("sha256:{hex}")
}

/// A free TCP port on 127.0.0.1 (bound and released; a small race).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The status code of `GET path` on `addr`, or None when nothing answers.
pub fn http_status(addr: &str, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split_whitespace().nth(1)?.parse().ok()
}

/// Debian's `docker-registry` on 127.0.0.1:<free port>, storage in its
/// own temporary directory (deletes enabled), optionally behind htpasswd
/// basic auth. Killed (and its storage removed) on drop.
pub struct Registry {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    creds: Option<(String, String)>,
}

impl Registry {
    pub fn start(auth: Option<(&str, &str)>) -> Registry {
        let mut dir = tempfile::Builder::new()
            .prefix("berth-registry-")
            .tempdir()
            .unwrap();
        let mut auth_yaml = String::new();
        if let Some((user, pass)) = auth {
            let out = run_ok(
                Command::new("htpasswd").args(["-Bbn", user, pass]),
                Duration::from_secs(30),
            );
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, out).unwrap();
            auth_yaml = format!(
                "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
                file.display()
            );
        }
        for _attempt in 0..5 {
            let port = free_port();
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\n\
                     log:\n  level: info\n  accesslog:\n    disabled: false\n\
                     storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                     http:\n  addr: 127.0.0.1:{port}\n  secret: berth-e2e-not-a-secret\n\
                     {auth_yaml}",
                    dir.path().join("data").display()
                ),
            )
            .unwrap();
            let log = std::fs::File::options()
                .create(true)
                .append(true)
                .open(dir.path().join("registry.log"))
                .unwrap();
            let child = Command::new(which("docker-registry").expect("docker-registry"))
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("spawn docker-registry");
            let mut reg = Registry {
                dir,
                port,
                child: Some(child),
                creds: auth.map(|(u, p)| (u.to_string(), p.to_string())),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                // Ours is listening (not another test's on a reused port),
                // and serves /v2/ (200, or 401 behind auth).
                if reg
                    .log()
                    .contains(&format!("listening on 127.0.0.1:{port}"))
                    && matches!(http_status(&reg.addr(), "/v2/"), Some(200 | 401))
                {
                    return reg;
                }
                if let Some(c) = reg.child.as_mut()
                    && let Ok(Some(_)) = c.try_wait()
                {
                    break; // the port was taken meanwhile: try another
                }
                assert!(
                    Instant::now() < deadline,
                    "docker-registry did not come up:\n{}",
                    tail(&reg.log(), 30)
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            reg.child = None;
            dir = std::mem::replace(&mut reg.dir, tempfile::tempdir().unwrap());
        }
        panic!("docker-registry would not start on a free port");
    }

    /// "127.0.0.1:PORT".
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// "127.0.0.1:PORT/<name>" (name may carry a tag or digest).
    pub fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.addr())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// skopeo's credential flag for this registry, if it has auth.
    fn creds_arg(&self, flag: &str) -> Vec<String> {
        match &self.creds {
            Some((u, p)) => vec![format!("{flag}={u}:{p}")],
            None => Vec::new(),
        }
    }

    /// Copies `src` (a skopeo transport reference, e.g. `oci:DIR:tag`) to
    /// `name` ("repo:tag") in this registry; `extra` are skopeo flags such
    /// as `--format v2s2|oci` or `--all`.
    pub fn push_from(&self, src: &str, name: &str, extra: &[&str]) {
        let mut cmd = skopeo();
        cmd.args(["copy", "-q", "--dest-tls-verify=false"])
            .args(self.creds_arg("--dest-creds"))
            .args(extra)
            .arg(src)
            .arg(format!("docker://{}", self.image(name)));
        run_ok(&mut cmd, Duration::from_secs(300));
    }

    /// The manifest (or list/index) exactly as the registry serves it for
    /// `name` ("repo:tag" or "repo@sha256:...").
    pub fn raw_manifest(&self, name: &str) -> Vec<u8> {
        let mut cmd = skopeo();
        cmd.args(["inspect", "--raw", "--tls-verify=false"])
            .args(self.creds_arg("--creds"))
            .arg(format!("docker://{}", self.image(name)));
        run_ok(&mut cmd, Duration::from_secs(60))
    }

    /// The registry's digest of `name`'s manifest: sha256 of its bytes.
    pub fn manifest_digest(&self, name: &str) -> String {
        sha256(&self.raw_manifest(name))
    }

    /// Whether the registry has `name` ("repo:tag").
    pub fn has(&self, name: &str) -> bool {
        let mut cmd = skopeo();
        cmd.args(["inspect", "--raw", "--tls-verify=false"])
            .args(self.creds_arg("--creds"))
            .arg(format!("docker://{}", self.image(name)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd.status().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// skopeo with no dependence on the host's policy or credentials.
fn skopeo() -> Command {
    let mut cmd = Command::new("skopeo");
    cmd.arg("--insecure-policy")
        .env("REGISTRY_AUTH_FILE", "/nonexistent/berth-e2e-auth.json")
        .env_remove("DOCKER_CONFIG");
    cmd
}

/// Docker's name for the machine's architecture.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => panic!("no Docker architecture name for {other}"),
    }
}

/// An architecture that is not this machine's.
pub fn other_arch() -> &'static str {
    if host_arch() == "s390x" {
        "ppc64le"
    } else {
        "s390x"
    }
}

/// What a container of [`Layout::standard`]'s image prints for
/// [`LAYERED_PROBE`].
pub const LAYERED_EXPECT: &str =
    "hello-layer2\nhello-layer3\nb\nshadow-gone\nspool-gone\nwww-kept\nA=B";

/// A shell line that shows the layered image's files (run with `sh -c`).
pub const LAYERED_PROBE: &str = "cat /etc/layer2.txt /etc/layer3.txt; ls /opq; \
     test -e /etc/shadow || echo shadow-gone; test -e /var/spool || echo spool-gone; \
     test -d /var/www && echo www-kept; echo A=$A";

/// An OCI image layout built by umoci in a temporary directory.
pub struct Layout {
    dir: tempfile::TempDir,
}

impl Layout {
    fn init() -> Layout {
        let dir = tempfile::Builder::new()
            .prefix("berth-layout-")
            .tempdir()
            .unwrap();
        let l = Layout { dir };
        l.umoci(&["init", "--layout", l.path().to_str().unwrap()]);
        l
    }

    /// The layout directory.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("layout")
    }

    /// skopeo's reference to a tag of the layout: `oci:DIR:tag`.
    pub fn src(&self, tag: &str) -> String {
        format!("oci:{}:{tag}", self.path().display())
    }

    fn image(&self, tag: &str) -> String {
        format!("{}:{tag}", self.path().display())
    }

    fn umoci(&self, args: &[&str]) {
        run_ok(Command::new("umoci").args(args), Duration::from_secs(300));
    }

    /// Adds an uncompressed layer tar (umoci gzips it) to `tag`.
    fn add_layer(&self, tag: &str, tar: &Path) {
        self.umoci(&[
            "raw",
            "add-layer",
            "--image",
            &self.image(tag),
            tar.to_str().unwrap(),
        ]);
    }

    /// Packs `stage` (owned by root, numeric ids) into a layer tar.
    fn pack(&self, stage: &Path, name: &str) -> PathBuf {
        let tar = self.dir.path().join(name);
        let entries: Vec<String> = std::fs::read_dir(stage)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        run_ok(
            Command::new("tar")
                .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
                .arg(stage)
                .arg("-cf")
                .arg(&tar)
                .args(&entries),
            Duration::from_secs(300),
        );
        tar
    }

    /// The layered test image, tags:
    /// - `multi`: busybox, then a layer adding /etc/layer2.txt and /opq/a
    ///   and deleting /etc/shadow and /var/spool (whiteouts), then a layer
    ///   making /opq opaque (only /opq/b) and adding /etc/layer3.txt; Cmd
    ///   `sh`, Env A=B, this machine's platform;
    /// - `other`: the same for another architecture;
    /// - `index`: an OCI index of `other` then `multi` (with platforms).
    ///
    /// A container of it prints [`LAYERED_EXPECT`] for [`LAYERED_PROBE`].
    pub fn standard() -> Layout {
        let l = Layout::init();
        let img = l.image("multi");
        l.umoci(&["new", "--image", &img]);
        l.add_layer("multi", busybox_tar());

        let st = l.dir.path().join("stage2");
        std::fs::create_dir_all(st.join("etc")).unwrap();
        std::fs::create_dir_all(st.join("var")).unwrap();
        std::fs::create_dir_all(st.join("opq")).unwrap();
        std::fs::write(st.join("etc/layer2.txt"), "hello-layer2\n").unwrap();
        std::fs::write(st.join("etc/.wh.shadow"), "").unwrap();
        std::fs::write(st.join("var/.wh.spool"), "").unwrap();
        std::fs::write(st.join("opq/a"), "a\n").unwrap();
        let tar = l.pack(&st, "layer2.tar");
        l.add_layer("multi", &tar);

        let st = l.dir.path().join("stage3");
        std::fs::create_dir_all(st.join("etc")).unwrap();
        std::fs::create_dir_all(st.join("opq")).unwrap();
        std::fs::write(st.join("etc/layer3.txt"), "hello-layer3\n").unwrap();
        std::fs::write(st.join("opq/.wh..wh..opq"), "").unwrap();
        std::fs::write(st.join("opq/b"), "b\n").unwrap();
        let tar = l.pack(&st, "layer3.tar");
        l.add_layer("multi", &tar);

        l.umoci(&[
            "config",
            "--image",
            &img,
            "--config.cmd",
            "sh",
            "--config.env",
            "A=B",
            "--os",
            "linux",
            "--architecture",
            host_arch(),
        ]);
        l.umoci(&[
            "config",
            "--image",
            &img,
            "--architecture",
            other_arch(),
            "--tag",
            "other",
        ]);
        l.add_index("index", &[("other", other_arch()), ("multi", host_arch())]);
        l
    }

    /// busybox plus a layer of `mib` MiB of random data at /data/random.bin;
    /// tag `big`.
    pub fn big(mib: usize) -> Layout {
        let l = Layout::init();
        let img = l.image("big");
        l.umoci(&["new", "--image", &img]);
        l.add_layer("big", busybox_tar());
        let st = l.dir.path().join("stage");
        std::fs::create_dir_all(st.join("data")).unwrap();
        {
            let mut f = std::fs::File::create(st.join("data/random.bin")).unwrap();
            let mut rnd = std::fs::File::open("/dev/urandom").unwrap();
            let mut buf = vec![0u8; 1 << 20];
            for _ in 0..mib {
                rnd.read_exact(&mut buf).unwrap();
                f.write_all(&buf).unwrap();
            }
        }
        let tar = l.pack(&st, "big.tar");
        std::fs::remove_dir_all(&st).unwrap();
        l.add_layer("big", &tar);
        std::fs::remove_file(&tar).unwrap();
        l.umoci(&[
            "config",
            "--image",
            &img,
            "--config.cmd",
            "sh",
            "--os",
            "linux",
            "--architecture",
            host_arch(),
        ]);
        l
    }

    /// Adds an OCI image index tagged `tag` listing the manifests of
    /// `entries` (tag, architecture), in that order.
    fn add_index(&self, tag: &str, entries: &[(&str, &str)]) {
        let index_path = self.path().join("index.json");
        let mut index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
        let manifests = index["manifests"].as_array().unwrap().clone();
        let find = |t: &str| {
            manifests
                .iter()
                .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == t)
                .unwrap_or_else(|| panic!("no tag {t} in {index_path:?}"))
                .clone()
        };
        let list: Vec<serde_json::Value> = entries
            .iter()
            .map(|(t, arch)| {
                let m = find(t);
                serde_json::json!({
                    "mediaType": m["mediaType"],
                    "digest": m["digest"],
                    "size": m["size"],
                    "platform": {"architecture": arch, "os": "linux"},
                })
            })
            .collect();
        let blob = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": list,
        }))
        .unwrap();
        let digest = sha256(&blob);
        std::fs::write(
            self.path()
                .join("blobs/sha256")
                .join(digest.strip_prefix("sha256:").unwrap()),
            &blob,
        )
        .unwrap();
        index["manifests"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": digest,
                "size": blob.len(),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }));
        std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    }
}

/// A TCP proxy in front of `upstream` that forwards until `stall_after`
/// bytes have gone from the server to the clients (over all connections),
/// then holds every connection open without forwarding anything more until
/// [`StallProxy::release`] — a pull through it stops mid-blob, for as long
/// as the test wants.
pub struct StallProxy {
    addr: String,
    state: Arc<ProxyState>,
    accept: Option<std::thread::JoinHandle<()>>,
}

struct ProxyState {
    forwarded: AtomicU64,
    stall_after: AtomicU64,
    shutdown: AtomicBool,
}

impl StallProxy {
    pub fn start(upstream: &str, stall_after: u64) -> StallProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(ProxyState {
            forwarded: AtomicU64::new(0),
            stall_after: AtomicU64::new(stall_after),
            shutdown: AtomicBool::new(false),
        });
        let upstream = upstream.to_string();
        let st = state.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.shutdown.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                for s in [&client, &server] {
                    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                    let _ = s.set_nodelay(true);
                }
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let st1 = st.clone();
                std::thread::spawn(move || pump(client, server, &st1, false));
                let st2 = st.clone();
                std::thread::spawn(move || pump(s2, c2, &st2, true));
            }
        });
        StallProxy {
            addr,
            state,
            accept: Some(accept),
        }
    }

    /// "127.0.0.1:PORT".
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// Bytes forwarded from the server so far.
    pub fn forwarded(&self) -> u64 {
        self.state.forwarded.load(Ordering::SeqCst)
    }

    /// Whether the proxy has reached its limit (and holds the transfer).
    pub fn stalled(&self) -> bool {
        self.forwarded() >= self.state.stall_after.load(Ordering::SeqCst)
    }

    /// Forwards everything from now on.
    pub fn release(&self) {
        self.state.stall_after.store(u64::MAX, Ordering::SeqCst);
    }
}

/// Copies `from` → `to` in small chunks; server-to-client traffic is
/// counted and held once the limit is reached. Ends at EOF, on an error or
/// at shutdown, closing both directions.
fn pump(mut from: TcpStream, mut to: TcpStream, st: &ProxyState, counted: bool) {
    let mut buf = vec![0u8; 16 << 10];
    loop {
        if st.shutdown.load(Ordering::SeqCst) {
            break;
        }
        if counted {
            while st.forwarded.load(Ordering::SeqCst) >= st.stall_after.load(Ordering::SeqCst) {
                if st.shutdown.load(Ordering::SeqCst) {
                    let _ = from.shutdown(Shutdown::Both);
                    let _ = to.shutdown(Shutdown::Both);
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(_) => break,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if counted {
            st.forwarded.fetch_add(n as u64, Ordering::SeqCst);
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.state.shutdown.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(&self.addr);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// The docker CLI aimed at `engine` with its own client config directory
/// (`docker login` writes credentials there), `stdin` fed or /dev/null.
/// Given 60 s: a CLI still running then (say, prompting "Login prior to
/// pull:", which it does when the daemon answers 401) is killed and the
/// test fails with what it printed.
pub fn cli_with_config(
    engine: &dyn DockerEngine,
    config: &Path,
    args: &[&str],
    stdin: Option<&[u8]>,
) -> Output {
    let mut cmd = engine.cli(args);
    cmd.env("DOCKER_CONFIG", config)
        .stdin(if stdin.is_some() {
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
        std::thread::spawn(move || {
            let _ = s.write_all(&data);
        });
    }
    let (out, timed_out) = wait_or_kill(child, Duration::from_secs(60));
    assert!(
        !timed_out,
        "{}: docker {args:?} did not finish in 60 s (killed):\nstdout: {}\nstderr: {}",
        engine.name(),
        stdout(&out),
        stderr(&out)
    );
    out
}

/// A private podman: its own storage (vfs) and run roots, config files and
/// events log in a temporary directory; no service, no containers — only
/// `import`, `save` and the like.
pub struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    pub fn new() -> Podman {
        let dir = tempfile::Builder::new()
            .prefix("berth-podman-")
            .tempdir()
            .unwrap();
        let p = dir.path();
        std::fs::write(
            p.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\nrunroot = \"{}\"\ngraphroot = \"{}\"\n",
                p.join("run").display(),
                p.join("root").display()
            ),
        )
        .unwrap();
        std::fs::write(
            p.join("containers.conf"),
            format!(
                "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nevents_logfile_path = \"{}\"\n\
                 [network]\nnetwork_config_dir = \"{}\"\n",
                p.join("events.log").display(),
                p.join("networks").display()
            ),
        )
        .unwrap();
        std::fs::write(p.join("registries.conf"), "").unwrap();
        std::fs::create_dir_all(p.join("tmp")).unwrap();
        Podman { dir }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let p = self.dir.path();
        let mut cmd = Command::new("podman");
        cmd.env("CONTAINERS_STORAGE_CONF", p.join("storage.conf"))
            .env("CONTAINERS_CONF", p.join("containers.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", p.join("registries.conf"))
            .env("REGISTRY_AUTH_FILE", p.join("auth.json"))
            .env("XDG_RUNTIME_DIR", p.join("run"))
            .arg("--root")
            .arg(p.join("root"))
            .arg("--runroot")
            .arg(p.join("run"))
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
            ])
            .arg("--tmpdir")
            .arg(p.join("tmp"))
            .args(args);
        cmd
    }

    /// Runs podman and asserts success; returns trimmed stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = run_ok(&mut self.cmd(args), Duration::from_secs(300));
        String::from_utf8_lossy(&out).trim().to_string()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for Podman {
    fn default() -> Self {
        Podman::new()
    }
}
