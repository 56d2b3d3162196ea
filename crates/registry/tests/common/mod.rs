//! Test harness: a real `docker-registry` (docker/distribution 2.8, Debian's
//! package) per test, on a free loopback port with its own storage, and a
//! small bearer-token server that signs RS256 JWTs the registry verifies.

#![allow(dead_code)]

pub mod token;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_registry::{Client, Digest, RegistryConfig};

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// The registry binary, or `None` (after saying why) when the test should
/// be skipped. With `BERTH_REQUIRE_ROOT_TESTS=1` (CI) a missing binary fails.
pub fn registry_bin() -> Option<PathBuf> {
    let p = PathBuf::from(REGISTRY_BIN);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("BERTH_REQUIRE_ROOT_TESTS").as_deref() == Ok("1") {
        panic!("{REGISTRY_BIN} is missing (install Debian's docker-registry package)");
    }
    eprintln!("skipping: {REGISTRY_BIN} is missing (install Debian's docker-registry package)");
    None
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running registry; killed and its storage removed on drop.
pub struct Registry {
    child: Child,
    pub addr: String,
    pub dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry with `auth_yaml` (the `auth:` section, or empty).
    pub async fn start(auth_yaml: &str) -> Option<Registry> {
        Registry::start_with("", auth_yaml).await
    }

    /// Also with `http_extra`, lines indented under `http:` (`  tls: …`).
    pub async fn start_with(http_extra: &str, auth_yaml: &str) -> Option<Registry> {
        let bin = registry_bin()?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n\
             storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n\
             http:\n  addr: {addr}\n  secret: berth-test-secret\n{http_extra}\
             {auth_yaml}",
            root = dir.path().join("data").display(),
        );
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(bin)
            .arg("serve")
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut reg = Registry { child, addr, dir };
        reg.wait_ready().await;
        Some(reg)
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("docker-registry exited ({status}):\n{}", self.log());
            }
            if tokio::net::TcpStream::connect(&self.addr).await.is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!("docker-registry did not listen in time:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> Client {
    Client::new(RegistryConfig {
        insecure_registries: vec![],
        user_agent: "berth-registry-test".into(),
    })
    .unwrap()
}

/// Deterministic pseudo-random bytes (xorshift), so blobs differ per seed.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `data` to a file under `dir`; its digest and path.
pub fn blob_file(dir: &Path, name: &str, data: &[u8]) -> (Digest, PathBuf) {
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).unwrap();
    f.write_all(data).unwrap();
    (Digest::of(data), p)
}

pub const SCHEMA2: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A schema-2 image manifest for a config blob and one layer blob.
pub fn schema2_manifest(config: (&Digest, usize), layer: (&Digest, usize)) -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": SCHEMA2,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": config.1,
            "digest": config.0.to_string(),
        },
        "layers": [{
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "size": layer.1,
            "digest": layer.0.to_string(),
        }],
    }))
    .unwrap()
}

pub fn config_json(layer: &Digest) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer.to_string()]},
    }))
    .unwrap()
}
