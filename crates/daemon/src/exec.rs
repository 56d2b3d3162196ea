//! `docker exec`: processes started in a running container's namespaces by
//! its shim (`runc exec --detach`), so that they are the shim's children
//! and outlive a restart of berthd as the container does. Exec records live
//! in memory, as dockerd's do, and go with their container's task.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_api_types::container::{
    ExecCreateRequest, ExecInspect, ExecProcessConfig, ExecStartRequest,
};
use berth_runtime::exec::ExecProcess;
use berth_runtime::shim::EXEC_EXIT_STREAM;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use crate::Daemon;
use crate::attach::{AttachSession, Conn, DEFAULT_DETACH_KEYS, parse_detach_keys, scan_detach};
use crate::container::{Container, Status};
use crate::error::{Error, ErrorKind, Result};

/// One exec instance.
pub(crate) struct ExecRecord {
    pub id: String,
    pub container_id: String,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub working_dir: String,
    pub tty: bool,
    pub privileged: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub detach_keys: Option<Vec<u8>>,
    pub console_size: Option<(u16, u16)>,
    state: Mutex<ExecState>,
}

#[derive(Default, Clone)]
struct ExecState {
    started: bool,
    running: bool,
    exit_code: Option<i64>,
    pid: i32,
}

/// The exec records of every container, by exec id.
#[derive(Default)]
pub(crate) struct ExecStore {
    by_id: Mutex<HashMap<String, Arc<ExecRecord>>>,
}

impl ExecStore {
    fn get(&self, id: &str) -> Result<Arc<ExecRecord>> {
        self.by_id
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("No such exec instance: {id}")))
    }

    fn insert(&self, ex: Arc<ExecRecord>) {
        self.by_id.lock().unwrap().insert(ex.id.clone(), ex);
    }

    pub(crate) fn remove(&self, id: &str) {
        self.by_id.lock().unwrap().remove(id);
    }

    /// The ids of a container's execs (inspect's `ExecIDs`).
    pub(crate) fn ids_of(&self, container_id: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_id
            .lock()
            .unwrap()
            .values()
            .filter(|e| e.container_id == container_id)
            .map(|e| e.id.clone())
            .collect();
        v.sort();
        v
    }

    /// Forgets a container's execs once its task is gone (dockerd does the
    /// same when the container stops).
    pub(crate) fn remove_container(&self, container_id: &str) {
        self.by_id
            .lock()
            .unwrap()
            .retain(|_, e| e.container_id != container_id);
    }
}

/// A started exec's stream from the shim.
pub(crate) struct ExecStream {
    /// Bytes that came with the shim's reply.
    buffered: Vec<u8>,
    stream: UnixStream,
}

/// What a started exec's output goes to.
pub(crate) enum Sink {
    /// The client's hijacked connection, with stdin and detach keys; the
    /// output raw (a TTY stream) or in stdcopy frames.
    Client { conn: Box<dyn Conn>, raw: bool },
    /// A health check's: the first `limit` bytes of stdout and stderr.
    Capture(usize),
    /// A detached exec's: nowhere.
    Discard,
}

impl Daemon {
    pub async fn exec_create(
        self: &Arc<Self>,
        key: &str,
        req: ExecCreateRequest,
    ) -> Result<String> {
        let c = self.lookup(key)?;
        running_for_exec(&c)?;
        let detach_keys = match req.detach_keys.as_str() {
            "" => None,
            k => Some(parse_detach_keys(k)?),
        };
        let console_size = req
            .console_size
            .filter(|[h, w]| *h > 0 || *w > 0)
            .map(|[h, w]| (h.min(u16::MAX as u64) as u16, w.min(u16::MAX as u64) as u16));
        let ex = self.new_exec(
            &c,
            req.cmd.unwrap_or_default(),
            req.env.unwrap_or_default(),
            req.user,
            req.working_dir,
            req.tty,
            req.privileged,
            [req.attach_stdin, req.attach_stdout, req.attach_stderr],
        );
        let ex = Arc::new(ExecRecord {
            detach_keys,
            console_size,
            ..ex
        });
        self.register_exec(&c, ex.clone());
        Ok(ex.id.clone())
    }

    pub(crate) fn register_exec(&self, c: &Container, ex: Arc<ExecRecord>) {
        self.container_event(
            c,
            &exec_action("exec_create", &ex.cmd),
            &[("execID", ex.id.clone())],
        );
        self.execs.insert(ex);
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new_exec(
        &self,
        c: &Container,
        cmd: Vec<String>,
        env: Vec<String>,
        user: String,
        working_dir: String,
        tty: bool,
        privileged: bool,
        [stdin, stdout, stderr]: [bool; 3],
    ) -> ExecRecord {
        let user = if user.is_empty() {
            c.lock().rec.config.user.clone()
        } else {
            user
        };
        ExecRecord {
            id: crate::names::random_id(),
            container_id: c.id.clone(),
            cmd,
            env,
            user,
            working_dir,
            tty,
            privileged,
            attach_stdin: stdin,
            attach_stdout: stdout,
            attach_stderr: stderr,
            detach_keys: None,
            console_size: None,
            state: Mutex::new(ExecState::default()),
        }
    }

    /// `None`: detached, started. Otherwise the session that starts the
    /// exec once the client's connection is upgraded (a start failure is
    /// then written on the stream, as dockerd does, and the exit code set
    /// to 126 or 127 for the CLI to fetch).
    pub async fn exec_start(
        self: &Arc<Self>,
        id: &str,
        req: ExecStartRequest,
    ) -> Result<Option<AttachSession>> {
        let ex = self.execs.get(id)?;
        {
            let mut st = ex.state.lock().unwrap();
            if st.exit_code.is_some() {
                return Err(Error::conflict(format!(
                    "Error: Exec command {} has already run",
                    ex.id
                )));
            }
            if st.started {
                return Err(Error::conflict(format!(
                    "Error: Exec command {} is already running",
                    ex.id
                )));
            }
            st.started = true;
        }
        let c = match self.lookup(&ex.container_id).and_then(|c| {
            running_for_exec(&c)?;
            Ok(c)
        }) {
            Ok(c) => c,
            Err(e) => {
                ex.state.lock().unwrap().started = false;
                return Err(e);
            }
        };
        let console_size = req
            .console_size
            .filter(|[h, w]| *h > 0 || *w > 0)
            .map(|[h, w]| (h.min(u16::MAX as u64) as u16, w.min(u16::MAX as u64) as u16))
            .or(ex.console_size);
        if req.detach {
            let stream = match self.launch_exec(&c, &ex, console_size).await {
                Ok(s) => s,
                Err(e) => {
                    self.exec_failed(&ex, &e);
                    return Err(e);
                }
            };
            let d = self.clone();
            tokio::spawn(async move {
                d.run_exec(&c, &ex, stream, Sink::Discard).await;
            });
            return Ok(None);
        }
        let d = self.clone();
        // The stream is raw or multiplexed as the *start* request says, as
        // in dockerd (an exec created with a TTY and started without one
        // sends its TTY's output as stdout frames).
        let tty = req.tty;
        let run = move |mut conn: Box<dyn Conn>| -> BoxFuture<'static, ()> {
            Box::pin(async move {
                match d.launch_exec(&c, &ex, console_size).await {
                    Ok(stream) => {
                        d.run_exec(&c, &ex, stream, Sink::Client { conn, raw: tty })
                            .await;
                    }
                    Err(e) => {
                        d.exec_failed(&ex, &e);
                        let text = format!("{}\r\n", e.message);
                        let out = if tty {
                            text.into_bytes()
                        } else {
                            frame(1, text.as_bytes())
                        };
                        let _ = conn.write_all(&out).await;
                        let _ = conn.shutdown().await;
                    }
                }
            })
        };
        Ok(Some(AttachSession {
            tty,
            run: Box::new(run),
        }))
    }

    /// Writes the exec's process spec and has the shim start it.
    pub(crate) async fn launch_exec(
        &self,
        c: &Arc<Container>,
        ex: &ExecRecord,
        console_size: Option<(u16, u16)>,
    ) -> Result<ExecStream> {
        let rec = c.record();
        let user = if ex.user.is_empty() {
            None
        } else {
            let (passwd, group) = match pathrs::Root::open(c.paths.rootfs()) {
                Ok(root) => crate::lifecycle::read_id_files(&root),
                Err(_) => (None, None),
            };
            Some(berth_runtime::user::resolve(
                &ex.user,
                passwd.as_deref(),
                group.as_deref(),
                rec.host_config.group_add.as_deref().unwrap_or(&[]),
            )?)
        };
        // moby CreateDaemonEnvironment, then the exec's own variables.
        let mut env = vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            format!("HOSTNAME={}", rec.config.hostname),
        ];
        if ex.tty {
            env.push("TERM=xterm".into());
        }
        for e in rec.config.env.iter().flatten().chain(&ex.env) {
            replace_or_append(&mut env, e);
        }
        let process = ExecProcess {
            args: ex.cmd.clone(),
            env,
            cwd: ex.working_dir.clone(),
            tty: ex.tty,
            console_size,
            user,
            privileged: ex.privileged,
        };
        let config = std::fs::read(c.paths.bundle.join("config.json"))
            .map_err(|e| Error::io(format!("read the bundle of container {}", c.id), e))?;
        let json = berth_runtime::exec::process_json(&config, &process)?;
        let path = c.paths.bundle.join(format!("exec-{}.json", ex.id));
        std::fs::write(&path, json).map_err(|e| Error::io("write exec process", e))?;
        let (pid, buffered, stream) = c
            .paths
            .client()
            .exec(&ex.id, &path, ex.tty, ex.attach_stdin)
            .await
            .map_err(|e| {
                let _ = std::fs::remove_file(&path);
                let msg = e.to_string();
                let kind = if msg.contains("container has exited") {
                    ErrorKind::Conflict
                } else {
                    ErrorKind::Internal
                };
                Error::new(kind, format!("OCI runtime exec failed: {msg}: unknown"))
            })?;
        {
            let mut st = ex.state.lock().unwrap();
            st.running = true;
            st.pid = pid;
        }
        Ok(ExecStream { buffered, stream })
    }

    pub(crate) fn exec_failed(&self, ex: &ExecRecord, e: &Error) {
        let code = if e.message.contains("executable file not found")
            || e.message.contains("no such file or directory")
        {
            127
        } else {
            126
        };
        let mut st = ex.state.lock().unwrap();
        st.running = false;
        st.exit_code = Some(code);
    }

    /// Carries a started exec's stream to its sink until the exit frame,
    /// records the exit code (before the client's connection closes, so
    /// the CLI's inspect that follows sees it) and returns what a capture
    /// sink collected.
    pub(crate) async fn run_exec(
        self: &Arc<Self>,
        c: &Container,
        ex: &ExecRecord,
        shim: ExecStream,
        sink: Sink,
    ) -> (i64, Vec<u8>) {
        self.container_event(
            c,
            &exec_action("exec_start", &ex.cmd),
            &[("execID", ex.id.clone())],
        );
        let (sr, mut sw) = shim.stream.into_split();
        let (frames_tx, mut frames) = mpsc::channel::<Frame>(16);
        tokio::spawn(read_frames(
            std::io::Cursor::new(shim.buffered).chain(sr),
            frames_tx,
        ));

        let mut raw_output = false;
        let (mut client_r, mut client_w, capture_limit) = match sink {
            Sink::Client { conn, raw } => {
                let (r, w) = tokio::io::split(conn);
                raw_output = raw;
                (Some(r), Some(w), 0)
            }
            Sink::Capture(limit) => (None, None, limit),
            Sink::Discard => (None, None, 0),
        };
        let mut captured = Vec::new();
        let detach = ex
            .detach_keys
            .clone()
            .unwrap_or_else(|| DEFAULT_DETACH_KEYS.to_vec());
        let want_stdin = ex.attach_stdin && client_r.is_some();
        let input = async {
            let Some(mut cr) = client_r.take().filter(|_| want_stdin) else {
                return std::future::pending::<()>().await;
            };
            let mut buf = vec![0u8; 32 * 1024];
            let mut matched = 0usize;
            loop {
                let n = match cr.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        let _ = sw.shutdown().await;
                        return std::future::pending::<()>().await;
                    }
                    Ok(n) => n,
                };
                let (out, detached) = scan_detach(&buf[..n], &detach, &mut matched);
                if !out.is_empty() && sw.write_all(&out).await.is_err() {
                    return std::future::pending::<()>().await;
                }
                if detached {
                    return;
                }
            }
        };
        tokio::pin!(input);
        let mut input_live = true;
        let code = loop {
            tokio::select! {
                f = frames.recv() => match f {
                    Some(Frame::Data(stream, data)) => {
                        if let Some(w) = client_w.as_mut() {
                            let out = if raw_output { data } else { frame(stream, &data) };
                            if w.write_all(&out).await.is_err() {
                                client_w = None;
                            }
                        } else {
                            let room = capture_limit.saturating_sub(captured.len());
                            captured.extend_from_slice(&data[..data.len().min(room)]);
                        }
                    }
                    Some(Frame::Exit(code)) => break i64::from(code),
                    // The shim went away without an exit frame.
                    None => break 255,
                },
                _ = &mut input, if input_live => {
                    input_live = false;
                    // Detached: the client's connection closes, the
                    // process runs on.
                    if let Some(mut w) = client_w.take() {
                        let _ = w.shutdown().await;
                    }
                    self.container_event(c, "exec_detach", &[("execID", ex.id.clone())]);
                }
            }
        };
        {
            let mut st = ex.state.lock().unwrap();
            st.running = false;
            st.pid = 0;
            st.exit_code = Some(code);
        }
        self.container_event(
            c,
            "exec_die",
            &[("execID", ex.id.clone()), ("exitCode", code.to_string())],
        );
        if let Some(mut w) = client_w {
            let _ = w.flush().await;
            let _ = w.shutdown().await;
        }
        (code, captured)
    }

    pub async fn exec_resize(self: &Arc<Self>, id: &str, h: u16, w: u16) -> Result<()> {
        let ex = self.execs.get(id)?;
        let c = self.lookup(&ex.container_id)?;
        if !ex.state.lock().unwrap().running {
            return Err(Error::conflict(format!("Exec {id} is not running")));
        }
        c.paths
            .client()
            .resize_exec(&ex.id, h, w)
            .await
            .map_err(|e| Error::new(ErrorKind::Conflict, format!("resize exec {id}: {e}")))
    }

    pub fn exec_inspect(self: &Arc<Self>, id: &str) -> Result<ExecInspect> {
        let ex = self.execs.get(id)?;
        let st = ex.state.lock().unwrap().clone();
        Ok(ExecInspect {
            id: ex.id.clone(),
            running: st.running,
            exit_code: st.exit_code,
            process_config: Some(ExecProcessConfig {
                tty: ex.tty,
                entrypoint: ex.cmd.first().cloned().unwrap_or_default(),
                arguments: ex.cmd.iter().skip(1).cloned().collect(),
                privileged: Some(ex.privileged),
                user: ex.user.clone(),
            }),
            open_stdin: ex.attach_stdin,
            open_stderr: ex.attach_stderr,
            open_stdout: ex.attach_stdout,
            can_remove: false,
            container_id: ex.container_id.clone(),
            detach_keys: ex.detach_keys.clone(),
            pid: i64::from(st.pid),
        })
    }
}

/// dockerd's checks before an exec (moby getActiveContainer).
fn running_for_exec(c: &Container) -> Result<()> {
    match c.status() {
        Status::Running => Ok(()),
        Status::Paused => Err(Error::conflict(format!(
            "Container {} is paused, unpause the container before exec",
            c.id
        ))),
        Status::Restarting => Err(Error::conflict(format!(
            "Container {} is restarting, wait until the container is running",
            c.id
        ))),
        _ => Err(Error::conflict(format!(
            "Container {} is not running",
            c.id
        ))),
    }
}

/// `exec_start: sh -c echo hi`, as dockerd names exec events: the
/// entrypoint, a space, the arguments (so `true` alone gives "true ").
fn exec_action(action: &str, cmd: &[String]) -> String {
    let (entrypoint, args) = cmd
        .split_first()
        .map(|(e, a)| (e.as_str(), a))
        .unwrap_or(("", &[]));
    format!("{action}: {entrypoint} {}", args.join(" "))
}

/// Docker's ReplaceOrAppendEnvValues: `K=v` replaces an entry for `K`, a
/// bare `K` removes it.
fn replace_or_append(env: &mut Vec<String>, entry: &str) {
    let key = entry.split('=').next().unwrap_or(entry);
    let pos = env.iter().position(|e| e.split('=').next() == Some(key));
    match (pos, entry.contains('=')) {
        (Some(i), true) => env[i] = entry.to_string(),
        (Some(i), false) => {
            env.remove(i);
        }
        (None, true) => env.push(entry.to_string()),
        (None, false) => {}
    }
}

fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + data.len());
    f.push(stream);
    f.extend_from_slice(&[0, 0, 0]);
    f.extend_from_slice(&(data.len() as u32).to_be_bytes());
    f.extend_from_slice(data);
    f
}

enum Frame {
    Data(u8, Vec<u8>),
    Exit(i32),
}

/// Splits the shim's exec stream into frames; a separate task so that the
/// bridge's select never loses half a frame.
async fn read_frames(sr: impl tokio::io::AsyncRead, tx: mpsc::Sender<Frame>) {
    tokio::pin!(sr);
    let mut header = [0u8; 8];
    loop {
        if sr.read_exact(&mut header).await.is_err() {
            return;
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut data = vec![0u8; len];
        if sr.read_exact(&mut data).await.is_err() {
            return;
        }
        let f = if header[0] == EXEC_EXIT_STREAM && len == 4 {
            Frame::Exit(i32::from_be_bytes([data[0], data[1], data[2], data[3]]))
        } else {
            Frame::Data(header[0], data)
        };
        let exit = matches!(f, Frame::Exit(_));
        if tx.send(f).await.is_err() || exit {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_merge_like_docker() {
        let mut env = vec!["PATH=/bin".to_string(), "HOSTNAME=h".to_string()];
        replace_or_append(&mut env, "PATH=/usr/bin");
        replace_or_append(&mut env, "X=1");
        replace_or_append(&mut env, "HOSTNAME");
        replace_or_append(&mut env, "NOPE");
        assert_eq!(env, ["PATH=/usr/bin", "X=1"]);
        assert_eq!(
            exec_action("exec_start", &["sh".into(), "-c".into(), "echo hi".into()]),
            "exec_start: sh -c echo hi"
        );
        assert_eq!(
            exec_action("exec_create", &["true".into()]),
            "exec_create: true "
        );
    }
}
