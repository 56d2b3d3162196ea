//! Starting a container's shim and talking to it. The shim runs the OCI
//! runtime's `create`; we run `start` once the attached clients are
//! connected, so nothing the container prints is lost.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use berth_runtime::shim::{self, Handshake, ShimClient, ShimConfig};
use tokio::io::AsyncBufReadExt;

use crate::error::{Error, Result};

/// Paths of one container's task under the exec root.
#[derive(Debug, Clone)]
pub struct TaskPaths {
    pub bundle: PathBuf,
    pub socket: PathBuf,
    pub console: PathBuf,
}

impl TaskPaths {
    pub fn new(exec_root: &Path, id: &str) -> TaskPaths {
        TaskPaths {
            bundle: exec_root.join("containers").join(id),
            socket: shim::socket_path(exec_root, id, "sock"),
            console: shim::socket_path(exec_root, id, "con"),
        }
    }
    pub fn rootfs(&self) -> PathBuf {
        self.bundle.join("rootfs")
    }
    pub fn client(&self) -> ShimClient {
        ShimClient::new(self.socket.clone())
    }
}

/// runc's `create` can be slow on a loaded machine (cgroup setup, seccomp
/// compilation); past this the start is reported as failed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// Spawns `berthd shim` for the bundle and waits for its handshake; returns
/// the container's init pid. The shim is reaped by a task of ours while we
/// live; if we die first it is reparented and lives on.
pub async fn spawn_shim(shim_exe: &Path, paths: &TaskPaths, cfg: &ShimConfig) -> Result<i32> {
    let json = serde_json::to_vec(cfg).map_err(|e| Error::internal(e.to_string()))?;
    std::fs::write(paths.bundle.join(shim::CONFIG_FILE), json)
        .map_err(|e| Error::io("write shim config", e))?;
    let _ = std::fs::remove_file(paths.bundle.join(shim::EXIT_FILE));
    let log = std::fs::File::create(paths.bundle.join(shim::SHIM_LOG_FILE))
        .map_err(|e| Error::io("create shim log", e))?;
    let mut child = tokio::process::Command::new(shim_exe)
        .arg("shim")
        .arg("--id")
        .arg(&cfg.id)
        .arg("--bundle")
        .arg(&paths.bundle)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(false)
        .spawn()
        .map_err(|e| Error::io(format!("spawn shim {}", shim_exe.display()), e))?;
    let stdout = child.stdout.take().expect("piped");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(HANDSHAKE_TIMEOUT, lines.next_line()).await;
    // Reap the shim whenever it exits, so it never lingers as a zombie.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    let line = match line {
        Ok(Ok(Some(l))) => l,
        Ok(Ok(None)) => {
            let log =
                std::fs::read_to_string(paths.bundle.join(shim::SHIM_LOG_FILE)).unwrap_or_default();
            return Err(Error::internal(format!(
                "shim exited without a handshake: {}",
                log.trim()
            )));
        }
        Ok(Err(e)) => return Err(Error::io("read shim handshake", e)),
        Err(_) => {
            return Err(Error::internal(
                "timed out waiting for the shim to create the container",
            ));
        }
    };
    let hs: Handshake = serde_json::from_str(&line)
        .map_err(|e| Error::internal(format!("bad shim handshake {line:?}: {e}")))?;
    if !hs.ok {
        return Err(Error::internal(
            hs.error.unwrap_or_else(|| "shim failed".into()),
        ));
    }
    Ok(hs.pid)
}
