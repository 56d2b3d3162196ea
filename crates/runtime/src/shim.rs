//! The daemon ↔ shim protocol, and the daemon's client for it.
//!
//! A shim (`berthd shim --id ID --bundle DIR`) is started once per container
//! start. It reads [`ShimConfig`] from `DIR/shim.json`, runs the OCI
//! runtime's `create`, answers one JSON line ([`Handshake`]) on its stdout and
//! then serves requests on the unix socket [`ShimConfig::socket`] until the
//! container's init process has exited, its output is drained and the exit
//! status is on disk (`DIR/exit.json`). The daemon may die and come back at any
//! point in between: everything it needs to reconnect is in the bundle dir.
//!
//! Each connection carries one request line ([`Request`], JSON) and one reply
//! line ([`Response`]). After an `Ok` reply to `Attach` the connection becomes
//! a stream: the shim writes stdcopy frames (8-byte header: stream byte, three
//! zero bytes, big-endian length) of the container's output — stream 1 for a
//! TTY's merged output — and reads raw stdin bytes; the daemon's write-side
//! shutdown means "this attacher closed stdin".
//!
//! `Exec` works the same way: after the `ExecStarted` reply the connection
//! carries the exec's output as frames and its stdin as raw bytes, and ends
//! with one [`EXEC_EXIT_STREAM`] frame whose 4-byte payload is the exit code
//! (big-endian). The exec's process is the shim's child: it keeps running,
//! and is reaped, whether or not the daemon stays connected.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

pub const CONFIG_FILE: &str = "shim.json";
pub const EXIT_FILE: &str = "exit.json";
pub const SHIM_LOG_FILE: &str = "shim.log";

/// What the shim needs to know; written by the daemon into the bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimConfig {
    pub id: String,
    /// Where the shim listens; see [`socket_path`].
    pub socket: PathBuf,
    /// Where runc passes the pty master of a TTY container.
    pub console_socket: PathBuf,
    /// OCI runtime binary (runc or crun).
    pub runtime: PathBuf,
    /// The runtime's `--root` state directory.
    pub runtime_root: PathBuf,
    /// Docker json-file log of the container's output.
    pub log_path: PathBuf,
    /// Give the container a stdin pipe (`OpenStdin`); otherwise /dev/null.
    pub stdin: bool,
    /// Close the container's stdin once the first attached client closes its
    /// stdin (`StdinOnce`).
    pub stdin_once: bool,
    pub tty: bool,
    /// The cgroup path from the spec, read at exit for the OOM-kill counter.
    pub cgroups_path: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Handshake {
    pub ok: bool,
    #[serde(default)]
    pub pid: i32,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// Exit code, or 128 + signal number when the process was killed, as
    /// Docker reports it.
    pub code: i32,
    /// RFC 3339 with nanoseconds.
    pub exited_at: String,
    #[serde(default)]
    pub oom_killed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    State,
    Wait,
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    Resize {
        height: u16,
        width: u16,
    },
    CloseStdin,
    /// Runs the OCI process spec at `process` (a file in the bundle) in the
    /// container with `runc exec --detach`.
    Exec {
        exec_id: String,
        process: PathBuf,
        tty: bool,
        stdin: bool,
    },
    ResizeExec {
        exec_id: String,
        height: u16,
        width: u16,
    },
    /// Signals a running exec (a health check past its timeout).
    SignalExec {
        exec_id: String,
        signal: i32,
    },
}

/// The stream byte of the frame that ends an exec's stream.
pub const EXEC_EXIT_STREAM: u8 = 0xff;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Ok,
    State { pid: i32, exit: Option<ExitStatus> },
    Exited { status: ExitStatus },
    ExecStarted { pid: i32 },
    Error { message: String },
}

/// Unix socket paths are limited to 107 bytes, so the shim's sockets live in
/// one short directory (`EXEC_ROOT/s/`) named by a prefix of the id rather
/// than in the bundle beside everything else. (Abstract sockets would avoid
/// the limit, but a host-network container can reach them: CVE-2020-15257.)
pub fn socket_path(exec_root: &Path, id: &str, suffix: &str) -> PathBuf {
    let short = &id[..id.len().min(24)];
    exec_root.join("s").join(format!("{short}.{suffix}"))
}

/// Reads the exit status a shim left behind, if any.
pub fn read_exit_file(bundle: &Path) -> Option<ExitStatus> {
    let bytes = std::fs::read(bundle.join(EXIT_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The daemon's side of the protocol: one short connection per request.
#[derive(Debug, Clone)]
pub struct ShimClient {
    socket: PathBuf,
}

impl ShimClient {
    pub fn new(socket: PathBuf) -> Self {
        ShimClient { socket }
    }

    async fn send(&self, req: &Request) -> io::Result<(BufReader<UnixStream>, Response)> {
        let stream = UnixStream::connect(&self.socket).await?;
        let mut stream = BufReader::new(stream);
        let mut line = serde_json::to_vec(req).map_err(io::Error::other)?;
        line.push(b'\n');
        stream.get_mut().write_all(&line).await?;
        let mut reply = String::new();
        if stream.read_line(&mut reply).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "shim closed the connection without replying",
            ));
        }
        let resp: Response = serde_json::from_str(&reply).map_err(io::Error::other)?;
        if let Response::Error { message } = resp {
            return Err(io::Error::other(message));
        }
        Ok((stream, resp))
    }

    pub async fn state(&self) -> io::Result<(i32, Option<ExitStatus>)> {
        match self.send(&Request::State).await?.1 {
            Response::State { pid, exit } => Ok((pid, exit)),
            other => Err(unexpected(&other)),
        }
    }

    /// Blocks until the container's init has exited and its output is
    /// drained. An error means the shim is gone: read the exit file.
    pub async fn wait(&self) -> io::Result<ExitStatus> {
        match self.send(&Request::Wait).await?.1 {
            Response::Exited { status } => Ok(status),
            other => Err(unexpected(&other)),
        }
    }

    /// Returns the connection, now carrying the attach stream.
    pub async fn attach(&self, stdin: bool, stdout: bool, stderr: bool) -> io::Result<UnixStream> {
        let (stream, resp) = self
            .send(&Request::Attach {
                stdin,
                stdout,
                stderr,
            })
            .await?;
        match resp {
            // Nothing else was sent after the reply line, so the buffer is
            // empty and the raw stream can be handed over.
            Response::Ok if stream.buffer().is_empty() => Ok(stream.into_inner()),
            Response::Ok => Err(io::Error::other("shim sent stream data before the reply")),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn resize(&self, height: u16, width: u16) -> io::Result<()> {
        self.send(&Request::Resize { height, width })
            .await
            .map(|_| ())
    }

    pub async fn close_stdin(&self) -> io::Result<()> {
        self.send(&Request::CloseStdin).await.map(|_| ())
    }

    /// Starts an exec; returns its host pid, the start of its stream that
    /// arrived with the reply, and the connection carrying the rest. An
    /// error carries the runtime's message.
    pub async fn exec(
        &self,
        exec_id: &str,
        process: &Path,
        tty: bool,
        stdin: bool,
    ) -> io::Result<(i32, Vec<u8>, UnixStream)> {
        let (stream, resp) = self
            .send(&Request::Exec {
                exec_id: exec_id.to_string(),
                process: process.to_path_buf(),
                tty,
                stdin,
            })
            .await?;
        match resp {
            // The exec's output may follow the reply line at once.
            Response::ExecStarted { pid } => {
                let buffered = stream.buffer().to_vec();
                Ok((pid, buffered, stream.into_inner()))
            }
            other => Err(unexpected(&other)),
        }
    }

    pub async fn resize_exec(&self, exec_id: &str, height: u16, width: u16) -> io::Result<()> {
        self.send(&Request::ResizeExec {
            exec_id: exec_id.to_string(),
            height,
            width,
        })
        .await
        .map(|_| ())
    }

    pub async fn signal_exec(&self, exec_id: &str, signal: i32) -> io::Result<()> {
        self.send(&Request::SignalExec {
            exec_id: exec_id.to_string(),
            signal,
        })
        .await
        .map(|_| ())
    }
}

fn unexpected(resp: &Response) -> io::Error {
    io::Error::other(format!("unexpected shim reply: {resp:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_forms_are_stable() {
        let r = serde_json::to_string(&Request::Attach {
            stdin: true,
            stdout: true,
            stderr: false,
        })
        .unwrap();
        assert_eq!(
            r,
            r#"{"op":"attach","stdin":true,"stdout":true,"stderr":false}"#
        );
        let resp: Response =
            serde_json::from_str(r#"{"result":"state","pid":7,"exit":null}"#).unwrap();
        assert!(matches!(resp, Response::State { pid: 7, exit: None }));
    }
}
