//! Until bridge networking lands, a container's network is one of: its own
//! namespace with only loopback (Docker's `none`, and what dockerd started
//! with `--bridge=none` gives a container with no `--network`), the host's,
//! or another container's. berthd makes and pins the namespaces itself
//! (DESIGN: berthd owns the namespaces it must configure).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// Own namespace, loopback only; the `String` is the name shown in
    /// inspect ("none" or "bridge"/"default" as the client asked).
    Private(String),
    Host,
    /// `container:<id-or-name>`, resolved at start.
    Container(String),
}

impl NetworkMode {
    pub fn parse(mode: &str) -> Result<NetworkMode> {
        match mode {
            "" | "default" | "bridge" => Ok(NetworkMode::Private("bridge".into())),
            "none" => Ok(NetworkMode::Private("none".into())),
            "host" => Ok(NetworkMode::Host),
            m if m.starts_with("container:") => {
                let target = &m["container:".len()..];
                if target.is_empty() {
                    return Err(Error::invalid(
                        "invalid network mode: container: needs a name or id",
                    ));
                }
                Ok(NetworkMode::Container(target.to_string()))
            }
            other => Err(Error::not_found(format!("network {other} not found"))),
        }
    }

    pub fn container_target(&self) -> Option<String> {
        match self {
            NetworkMode::Container(t) => Some(t.clone()),
            _ => None,
        }
    }

    /// The name Docker shows as the key of `NetworkSettings.Networks`.
    pub fn network_name(&self) -> Option<&str> {
        match self {
            NetworkMode::Private(n) => Some(n),
            NetworkMode::Host => Some("host"),
            NetworkMode::Container(_) => None,
        }
    }
}

pub fn netns_path(exec_root: &Path, id: &str) -> PathBuf {
    exec_root.join("netns").join(id)
}

/// Makes the container's pinned namespace; idempotent for a restart of the
/// same container.
pub fn create_netns(exec_root: &Path, id: &str) -> Result<PathBuf> {
    let path = netns_path(exec_root, id);
    if path.exists() {
        remove_netns(&path);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    }
    std::fs::File::create(&path).map_err(|e| Error::io(format!("create {}", path.display()), e))?;
    if let Err(e) = crate::sys::create_pinned_netns(&path) {
        let _ = std::fs::remove_file(&path);
        return Err(Error::internal(format!("create network namespace: {e}")));
    }
    Ok(path)
}

pub fn remove_netns(path: &Path) {
    let _ = rustix::mount::unmount(path, rustix::mount::UnmountFlags::DETACH);
    let _ = std::fs::remove_file(path);
}
