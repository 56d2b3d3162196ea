//! berthd: a Docker Engine–compatible daemon. `berthd` serves the Engine API
//! on a unix socket; `berthd shim` is the per-container keeper it spawns.

// Unsafe code lives in `sys` only.
#![deny(unsafe_code)]

mod backend;
mod shim;
#[allow(unsafe_code)]
mod sys;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(
    name = "berthd",
    version,
    about = "A Docker Engine–compatible container engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Root of persistent state (images, containers, volumes).
    #[arg(long, default_value = "/var/lib/berth")]
    data_root: PathBuf,
    /// Root of runtime state (bundles, shim sockets, namespaces).
    #[arg(long, default_value = "/run/berth")]
    exec_root: PathBuf,
    /// Where to listen (repeatable): unix:///path/to.sock.
    #[arg(short = 'H', long = "host")]
    hosts: Vec<String>,
    /// The OCI runtime binary; default: runc, else crun, from PATH.
    #[arg(long)]
    runtime: Option<PathBuf>,
    /// error, warn, info, debug or trace.
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Group that owns the API socket (mode 0660); default "docker" when
    /// that group exists, else root.
    #[arg(short = 'G', long)]
    group: Option<String>,
    /// A registry reached over plain http (repeatable): host[:port] or a
    /// CIDR. Loopback registries always are, as with dockerd.
    #[arg(long = "insecure-registry")]
    insecure_registries: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Keep one container (started by berthd, not by hand).
    Shim {
        #[arg(long)]
        id: String,
        #[arg(long)]
        bundle: PathBuf,
    },
}

const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Shim { id, bundle }) = &cli.command {
        // Before any thread exists: the shim is single-threaded.
        return ExitCode::from(shim::main(id, bundle) as u8);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berthd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if !rustix::process::geteuid().is_root() {
        bail!("must run as root (it mounts filesystems and creates namespaces)");
    }
    let runtime = match &cli.runtime {
        Some(p) => {
            if !p.exists() {
                bail!("OCI runtime {} does not exist", p.display());
            }
            p.clone()
        }
        None => berth_runtime::runc::OciRuntime::find_on_path().context(
            "no OCI runtime found: install runc (apt-get install runc) or pass --runtime PATH",
        )?,
    };
    init_tracing(&cli.log_level)?;
    std::fs::create_dir_all(&cli.data_root)
        .with_context(|| format!("create data root {}", cli.data_root.display()))?;
    std::fs::create_dir_all(&cli.exec_root)
        .with_context(|| format!("create exec root {}", cli.exec_root.display()))?;
    let _lock = lock_data_root(&cli.data_root)?;
    let hosts = if cli.hosts.is_empty() {
        vec![DEFAULT_HOST.to_string()]
    } else {
        cli.hosts.clone()
    };
    let mut paths = Vec::new();
    for h in &hosts {
        match h.strip_prefix("unix://") {
            Some(p) if !p.is_empty() => paths.push(PathBuf::from(p)),
            _ => bail!(
                "unsupported host {h:?}: berthd listens on unix sockets only (TCP needs mutual TLS, which is not implemented yet)"
            ),
        }
    }
    let gid = socket_group(cli.group.as_deref())?;
    let listeners: Vec<std::os::unix::net::UnixListener> = paths
        .iter()
        .map(|p| bind_socket(p, gid))
        .collect::<anyhow::Result<_>>()?;

    let shim_exe = std::env::current_exe().context("locate the berthd binary")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("berthd")
        .build()
        .context("start the async runtime")?;
    let result = rt.block_on(async move {
        let daemon = berth_daemon::Daemon::open(berth_daemon::Config {
            data_root: cli.data_root.clone(),
            exec_root: cli.exec_root.clone(),
            runtime: runtime.clone(),
            insecure_registries: cli.insecure_registries.clone(),
            shim_exe,
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let app = berth_api_server::router(Arc::new(backend::Backend(daemon)));
        let shutdown = CancellationToken::new();
        let mut servers = Vec::new();
        for l in listeners {
            l.set_nonblocking(true)?;
            let l = tokio::net::UnixListener::from_std(l)?;
            servers.push(tokio::spawn(berth_api_server::serve(
                l,
                app.clone(),
                shutdown.clone(),
            )));
        }
        tracing::info!(
            version = berth_daemon::VERSION,
            runtime = %runtime.display(),
            hosts = ?hosts,
            "berthd is serving the Docker Engine API"
        );
        wait_for_signal().await;
        tracing::info!("shutting down; containers keep running");
        shutdown.cancel();
        for s in servers {
            let _ = s.await;
        }
        anyhow::Ok(())
    });
    for p in &paths {
        let _ = std::fs::remove_file(p);
    }
    result
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn init_tracing(level: &str) -> anyhow::Result<()> {
    let filter = match level {
        "error" | "warn" | "info" | "debug" | "trace" => {
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(format!("{level},hyper=info,h2=info"))
            })
        }
        other => bail!("invalid --log-level {other:?}: use error, warn, info, debug or trace"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}

/// One daemon per data root: two would corrupt each other's state.
fn lock_data_root(root: &Path) -> anyhow::Result<std::fs::File> {
    let path = root.join("berthd.lock");
    let f = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("open {}", path.display()))?;
    match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(f),
        Err(_) => bail!(
            "another berthd is using the data root {} (its lock {} is held)",
            root.display(),
            path.display()
        ),
    }
}

fn socket_group(name: Option<&str>) -> anyhow::Result<Option<u32>> {
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let find = |n: &str| {
        groups.lines().find_map(|l| {
            let mut f = l.split(':');
            (f.next() == Some(n)).then(|| f.nth(1).and_then(|g| g.parse::<u32>().ok()))?
        })
    };
    match name {
        Some(n) => match find(n) {
            Some(g) => Ok(Some(g)),
            None => n
                .parse::<u32>()
                .map(Some)
                .map_err(|_| anyhow::anyhow!("group {n:?} not found")),
        },
        None => Ok(find("docker")),
    }
}

/// Binds the API socket: a live daemon on it is an error, a stale file is
/// replaced, and the socket is 0660 (root and the socket group only).
fn bind_socket(path: &Path, gid: Option<u32>) -> anyhow::Result<std::os::unix::net::UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("socket {} is held by a live daemon", path.display());
        }
        std::fs::remove_file(path)
            .with_context(|| format!("remove stale socket {}", path.display()))?;
    }
    let l = std::os::unix::net::UnixListener::bind(path)
        .with_context(|| format!("listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    if let Some(g) = gid {
        std::os::unix::fs::chown(path, Some(0), Some(g))?;
    }
    Ok(l)
}
