//! `berthd shim`: the per-container process that outlives the daemon.
//!
//! It runs the OCI runtime's `create` with the container's stdio (pipes, or a
//! pty whose master runc hands over on the console socket), becomes the
//! child subreaper so the container's init is reparented to it, copies the
//! output into the json-file log and to attached clients, delivers stdin,
//! records the exit status in `exit.json`, and leaves once the init has
//! exited and its output is drained. One thread; no work is done for a
//! container that is quiet.
//!
//! The protocol is in `berth_runtime::shim`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, IoSliceMut, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use berth_runtime::runc::OciRuntime;
use berth_runtime::shim::{
    CONFIG_FILE, EXEC_EXIT_STREAM, EXIT_FILE, ExitStatus, Handshake, Request, Response, ShimConfig,
};
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use rustix::process::{Pid, WaitOptions};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Docker's json-file driver splits lines longer than this into partial
/// entries (moby daemon/logger/copier.go bufSize).
const MAX_LOG_LINE: usize = 16 * 1024;
/// After the init exits, how long to wait for the output pipes to reach EOF.
/// Only processes outside the container's pid namespace (`--pid host`) can
/// keep them open longer.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
const READ_CHUNK: usize = 32 * 1024;

pub fn main(id: &str, bundle: &Path) -> i32 {
    // Own session: the daemon's terminal and its signals (Ctrl-C, SIGHUP)
    // must not reach the container's keeper.
    let _ = rustix::process::setsid();
    // The container's init is created by runc's intermediate process; as
    // subreaper we inherit it and can collect its exit status.
    if let Err(e) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
        return handshake_fail(&format!("shim: set child subreaper: {e}"));
    }
    let cfg: ShimConfig = match std::fs::read(bundle.join(CONFIG_FILE))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => return handshake_fail(&format!("shim: read {CONFIG_FILE}: {e}")),
    };
    if cfg.id != id {
        return handshake_fail("shim: id does not match the bundle's config");
    }
    let setup = match create(&cfg, bundle) {
        Ok(s) => s,
        Err(e) => return handshake_fail(&e),
    };
    let line = serde_json::to_string(&Handshake {
        ok: true,
        pid: setup.pid,
        error: None,
    })
    .expect("handshake serialises");
    println!("{line}");
    // The daemon reads one line; after that stdout must not be the pipe it
    // may have closed (a later write would raise EPIPE) .
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        let _ = rustix::stdio::dup2_stdout(&null);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shim: tokio runtime: {e}");
            return 1;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, serve(cfg, bundle.to_path_buf(), setup));
    0
}

fn handshake_fail(msg: &str) -> i32 {
    eprintln!("{msg}");
    let line = serde_json::to_string(&Handshake {
        ok: false,
        pid: 0,
        error: Some(msg.to_string()),
    })
    .expect("handshake serialises");
    println!("{line}");
    1
}

/// What `create` leaves for the serving loop.
struct Setup {
    pid: i32,
    listener: StdUnixListener,
    stdin: Option<OwnedFd>,
    /// stdout and stderr pipes; or the pty master as "stdout" alone.
    outputs: Vec<(u8, OwnedFd)>,
    /// The pty master (for resize), when there is one.
    master: Option<Rc<OwnedFd>>,
}

fn create(cfg: &ShimConfig, bundle: &Path) -> Result<Setup, String> {
    let _ = std::fs::remove_file(&cfg.socket);
    if let Some(dir) = cfg.socket.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("shim: create {}: {e}", dir.display()))?;
    }
    let listener = StdUnixListener::bind(&cfg.socket)
        .map_err(|e| format!("shim: listen on {}: {e}", cfg.socket.display()))?;
    let runtime = OciRuntime::new(cfg.runtime.clone(), cfg.runtime_root.clone());
    let pid_file = bundle.join("init.pid");
    let log_file = bundle.join("runtime.log");
    let _ = std::fs::remove_file(&pid_file);

    let mut cmd = Command::new(runtime.binary());
    let mut io = ProcessIo::new(&mut cmd, cfg.tty, cfg.stdin, &cfg.console_socket)?;
    let console_path = cfg.tty.then_some(cfg.console_socket.as_path());
    cmd.args(runtime.create_args(&cfg.id, bundle, &pid_file, console_path, &log_file));
    let status = cmd.status();
    // Dropping the command closes our copies of the child's pipe ends, so the
    // output pipes reach EOF once the container's processes are gone.
    drop(cmd);
    let status = status.map_err(|e| format!("exec {}: {e}", runtime.binary().display()))?;
    if !status.success() {
        let _ = std::fs::remove_file(&cfg.socket);
        let msg = OciRuntime::last_error_from_log(&log_file)
            .unwrap_or_else(|| format!("{} create exited with {status}", runtime.name()));
        return Err(format!("{} create failed: {msg}", runtime.name()));
    }
    let pid = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .ok_or_else(|| format!("shim: no pid in {}", pid_file.display()))?;
    // A TTY container's input is the master, whether or not it was opened
    // (`docker attach` to a `-t` container types into it).
    let master = io.take_master(&cfg.console_socket, true, None)?;
    Ok(Setup {
        pid,
        listener,
        stdin: io.stdin,
        outputs: io.outputs,
        master,
    })
}

/// A runtime process's stdio: pipes (stdin if wanted, stdout, stderr), or,
/// for a TTY, a console socket on which the runtime sends the pty master.
struct ProcessIo {
    stdin: Option<OwnedFd>,
    /// stdout and stderr pipes; or the pty master as "stdout" alone.
    outputs: Vec<(u8, OwnedFd)>,
    console: Option<StdUnixListener>,
}

impl ProcessIo {
    /// Sets `cmd`'s stdio; our ends are kept here.
    fn new(cmd: &mut Command, tty: bool, want_stdin: bool, console: &Path) -> Result<Self, String> {
        let mut io = ProcessIo {
            stdin: None,
            outputs: Vec::new(),
            console: None,
        };
        if tty {
            let _ = std::fs::remove_file(console);
            io.console = Some(
                StdUnixListener::bind(console)
                    .map_err(|e| format!("shim: listen on console socket: {e}"))?,
            );
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            return Ok(io);
        }
        if want_stdin {
            let (r, w) = pipe()?;
            cmd.stdin(Stdio::from(r));
            io.stdin = Some(w);
        } else {
            cmd.stdin(Stdio::null());
        }
        let (r, w) = pipe()?;
        cmd.stdout(Stdio::from(w));
        io.outputs.push((1u8, r));
        let (r, w) = pipe()?;
        cmd.stderr(Stdio::from(w));
        io.outputs.push((2u8, r));
        Ok(io)
    }

    /// Once the runtime has run, for a TTY: receives the pty master, sizes
    /// it, and makes dups of it the output and (with `input`) the input.
    fn take_master(
        &mut self,
        console_path: &Path,
        input: bool,
        size: Option<(u16, u16)>,
    ) -> Result<Option<Rc<OwnedFd>>, String> {
        let Some(console) = self.console.take() else {
            return Ok(None);
        };
        let fd = receive_pty_master(&console);
        let _ = std::fs::remove_file(console_path);
        let fd = fd?;
        if let Some((h, w)) = size {
            let _ = set_winsize(&fd, h, w);
        }
        let dup =
            |fd: &OwnedFd| rustix::io::dup(fd).map_err(|e| format!("shim: dup pty master: {e}"));
        self.outputs.push((1u8, dup(&fd)?));
        if input {
            self.stdin = Some(dup(&fd)?);
        }
        Ok(Some(Rc::new(fd)))
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| format!("shim: pipe: {e}"))
}

/// runc connects to the console socket during `create` and sends the pty
/// master with SCM_RIGHTS; the connection is already queued when create
/// returns.
fn receive_pty_master(console: &StdUnixListener) -> Result<OwnedFd, String> {
    console
        .set_nonblocking(true)
        .map_err(|e| format!("shim: console socket: {e}"))?;
    let (conn, _) = console
        .accept()
        .map_err(|e| format!("shim: runtime did not send the pty master: {e}"))?;
    conn.set_nonblocking(false)
        .map_err(|e| format!("shim: console socket: {e}"))?;
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut name = [0u8; 4096];
    rustix::net::recvmsg(
        &conn,
        &mut [IoSliceMut::new(&mut name)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(|e| format!("shim: receive pty master: {e}"))?;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg
            && let Some(fd) = fds.next()
        {
            return Ok(fd);
        }
    }
    Err("shim: runtime sent no pty master".into())
}

/// State shared by the tasks of the serving loop (one thread: `Rc`).
struct Shared {
    subscribers: Vec<Subscriber>,
    stdin: Option<mpsc::Sender<StdinMsg>>,
    master: Option<Rc<OwnedFd>>,
    stdin_once: bool,
    log: JsonLog,
    pid: i32,
    cfg: Rc<ShimConfig>,
    bundle: PathBuf,
    children: Children,
}

/// The shim's children besides the container's init: `runc exec`
/// launchers and the exec'd processes they leave to us (we are their
/// subreaper), so that every exit lands where it is awaited.
#[derive(Default)]
struct Children {
    launches: HashMap<i32, oneshot::Sender<i32>>,
    execs: HashMap<String, ExecEntry>,
    exec_pids: HashMap<i32, String>,
    /// Exits of processes not (yet) known: an exec can be reaped before its
    /// launcher has exited and its pid file been read.
    unclaimed: HashMap<i32, i32>,
    next_console: u64,
}

struct ExecEntry {
    pid: i32,
    master: Option<Rc<OwnedFd>>,
    exit: watch::Sender<Option<i32>>,
}

/// Bound on remembered exits of unknown processes.
const MAX_UNCLAIMED: usize = 1024;
/// After an exec exits, how long its output may take to reach EOF (a
/// background process it started can hold the pipes open).
const EXEC_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

struct Subscriber {
    tx: mpsc::Sender<Vec<u8>>,
    stdout: bool,
    stderr: bool,
}

enum StdinMsg {
    Data(Vec<u8>),
    Close,
}

async fn serve(cfg: ShimConfig, bundle: PathBuf, setup: Setup) {
    let Setup {
        pid,
        listener,
        stdin,
        outputs,
        master,
    } = setup;
    let log = match JsonLog::open(&cfg.log_path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("shim: open log {}: {e}", cfg.log_path.display());
            JsonLog::discard()
        }
    };
    let stdin_tx = stdin.map(|fd| {
        let (tx, rx) = mpsc::channel(16);
        tokio::task::spawn_local(stdin_writer(fd, rx, cfg.tty));
        tx
    });
    let cfg = Rc::new(cfg);
    let shared = Rc::new(RefCell::new(Shared {
        subscribers: Vec::new(),
        stdin: stdin_tx,
        master,
        stdin_once: cfg.stdin_once,
        log,
        pid,
        cfg: cfg.clone(),
        bundle: bundle.clone(),
        children: Children::default(),
    }));
    let (exit_tx, exit_rx) = watch::channel::<Option<ExitStatus>>(None);

    let reaper = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("shim: SIGCHLD handler: {e}");
            return;
        }
    };
    let (init_tx, mut init_rx) = watch::channel::<Option<i32>>(None);
    tokio::task::spawn_local(reap_loop(shared.clone(), reaper, init_tx));
    let listener = listener
        .set_nonblocking(true)
        .and_then(|_| UnixListener::from_std(listener));
    let listener = match listener {
        Ok(l) => l,
        Err(e) => {
            eprintln!("shim: socket: {e}");
            return;
        }
    };
    let active = Rc::new(std::cell::Cell::new(0usize));
    let accept = tokio::task::spawn_local(accept_loop(
        listener,
        shared.clone(),
        exit_rx,
        active.clone(),
    ));
    let pumps: Vec<JoinHandle<()>> = outputs
        .into_iter()
        .map(|(stream, fd)| tokio::task::spawn_local(pump(fd, stream, shared.clone())))
        .collect();

    let raw = match init_rx.wait_for(|c| c.is_some()).await {
        Ok(c) => c.expect("checked by wait_for"),
        Err(_) => 255,
    };
    let oom_killed = oom_kill_count(&cfg.cgroups_path) > 0;
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, futures_join(pumps)).await;
    let status = ExitStatus {
        code: raw,
        exited_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        oom_killed,
    };
    {
        let mut sh = shared.borrow_mut();
        sh.log.flush_partials();
        // Closing the subscribers' channels ends their writer tasks, which
        // close the attach connections after sending what is queued.
        sh.subscribers.clear();
        sh.stdin = None;
    }
    if let Err(e) = write_exit_file(&bundle, &status) {
        eprintln!("shim: write {EXIT_FILE}: {e}");
    }
    // The runtime's record of the container goes before anyone hears of the
    // exit: a restart that follows at once must be able to create it again.
    let runtime = OciRuntime::new(cfg.runtime.clone(), cfg.runtime_root.clone());
    let _ = Command::new(runtime.binary())
        .args(runtime.delete_args(&cfg.id, true))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    // Unlink our socket before anyone hears of the exit: the next start's
    // shim binds the same path, and must not lose it to us.
    accept.abort();
    let _ = std::fs::remove_file(&cfg.socket);
    let _ = exit_tx.send(Some(status));
    // Let waiters get their reply and attachers their last bytes (bounded:
    // a client that stops reading does not keep us alive).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while active.get() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn futures_join(handles: Vec<JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}

/// Reaps every exited child as SIGCHLDs arrive and hands each exit to
/// whoever awaits it: the container's init, a `runc exec` launcher, an exec.
async fn reap_loop(
    shared: Rc<RefCell<Shared>>,
    mut sigchld: tokio::signal::unix::Signal,
    init: watch::Sender<Option<i32>>,
) {
    loop {
        // `wait`, not `waitpid(None)`: the latter waits only for our own
        // process group, and the container's init has a session of its own.
        while let Ok(Some((p, status))) = rustix::process::wait(WaitOptions::NOHANG) {
            let code = if let Some(code) = status.exit_status() {
                code
            } else if let Some(sig) = status.terminating_signal() {
                128 + sig
            } else {
                255
            };
            let pid = p.as_raw_nonzero().get();
            let mut sh = shared.borrow_mut();
            if pid == sh.pid {
                let _ = init.send(Some(code));
            } else if let Some(tx) = sh.children.launches.remove(&pid) {
                let _ = tx.send(code);
            } else if let Some(id) = sh.children.exec_pids.remove(&pid) {
                if let Some(e) = sh.children.execs.get(&id) {
                    let _ = e.exit.send(Some(code));
                }
            } else {
                if sh.children.unclaimed.len() >= MAX_UNCLAIMED {
                    sh.children.unclaimed.clear();
                }
                sh.children.unclaimed.insert(pid, code);
            }
        }
        if sigchld.recv().await.is_none() {
            return;
        }
    }
}

fn oom_kill_count(cgroups_path: &str) -> u64 {
    if cgroups_path.is_empty() {
        return 0;
    }
    let rel = cgroups_path.trim_start_matches('/');
    let candidates = [
        (
            format!("/sys/fs/cgroup/memory/{rel}/memory.oom_control"),
            "oom_kill ",
        ),
        (format!("/sys/fs/cgroup/{rel}/memory.events"), "oom_kill "),
        (
            format!("/sys/fs/cgroup/unified/{rel}/memory.events"),
            "oom_kill ",
        ),
    ];
    for (path, key) in candidates {
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text.lines() {
                if let Some(v) = line.strip_prefix(key) {
                    return v.trim().parse().unwrap_or(0);
                }
            }
        }
    }
    0
}

fn write_exit_file(bundle: &Path, status: &ExitStatus) -> io::Result<()> {
    let tmp = bundle.join(format!("{EXIT_FILE}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(status).map_err(io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, bundle.join(EXIT_FILE))?;
    File::open(bundle)?.sync_all()
}

/// Copies one output fd to the log and the attached clients until EOF (or
/// EIO: a pty master once every slave is closed).
async fn pump(fd: OwnedFd, stream: u8, shared: Rc<RefCell<Shared>>) {
    if let Err(e) = rustix::io::ioctl_fionbio(&fd, true) {
        eprintln!("shim: nonblocking output: {e}");
        return;
    }
    let afd = match crate::sys::async_fd(fd) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("shim: register output: {e}");
            return;
        }
    };
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match read_async(&afd, &mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) => {
                eprintln!("shim: read output: {e}");
                break;
            }
        };
        let data = &buf[..n];
        let targets: Vec<mpsc::Sender<Vec<u8>>> = {
            let mut sh = shared.borrow_mut();
            sh.log.write(stream, data);
            sh.subscribers.retain(|s| !s.tx.is_closed());
            sh.subscribers
                .iter()
                .filter(|s| if stream == 2 { s.stderr } else { s.stdout })
                .map(|s| s.tx.clone())
                .collect()
        };
        if targets.is_empty() {
            continue;
        }
        let frame = frame(stream, data);
        // Awaiting each send applies an attached client's backpressure to the
        // container, as Docker's attach does.
        for tx in targets {
            let _ = tx.send(frame.clone()).await;
        }
    }
    shared.borrow_mut().log.flush_stream(stream);
}

/// A stdcopy frame: stream byte, three zeros, big-endian length, payload.
fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + data.len());
    f.push(stream);
    f.extend_from_slice(&[0, 0, 0]);
    f.extend_from_slice(&(data.len() as u32).to_be_bytes());
    f.extend_from_slice(data);
    f
}

async fn read_async(afd: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        let mut guard = afd.readable().await?;
        match guard
            .try_io(|inner| rustix::io::read(inner.get_ref(), &mut *buf).map_err(io::Error::from))
        {
            Ok(result) => return result,
            Err(_would_block) => continue,
        }
    }
}

async fn write_all_async(afd: &AsyncFd<OwnedFd>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let mut guard = afd.writable().await?;
        match guard
            .try_io(|inner| rustix::io::write(inner.get_ref(), data).map_err(io::Error::from))
        {
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
    Ok(())
}

async fn stdin_writer(fd: OwnedFd, mut rx: mpsc::Receiver<StdinMsg>, tty: bool) {
    if rustix::io::ioctl_fionbio(&fd, true).is_err() {
        return;
    }
    let Ok(afd) = crate::sys::async_fd(fd) else {
        return;
    };
    while let Some(msg) = rx.recv().await {
        match msg {
            StdinMsg::Data(d) => {
                if write_all_async(&afd, &d).await.is_err() {
                    break;
                }
            }
            // A pty has no half-close; Docker leaves a TTY's input open.
            StdinMsg::Close if tty => {}
            StdinMsg::Close => break,
        }
    }
    // Dropping the fd is what the container sees as end of input.
}

async fn accept_loop(
    listener: UnixListener,
    shared: Rc<RefCell<Shared>>,
    exit: watch::Receiver<Option<ExitStatus>>,
    active: Rc<std::cell::Cell<usize>>,
) {
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            continue;
        };
        let (shared, exit, active) = (shared.clone(), exit.clone(), active.clone());
        active.set(active.get() + 1);
        tokio::task::spawn_local(async move {
            handle(conn, shared, exit).await;
            active.set(active.get() - 1);
        });
    }
}

async fn handle(
    conn: UnixStream,
    shared: Rc<RefCell<Shared>>,
    mut exit: watch::Receiver<Option<ExitStatus>>,
) {
    let mut conn = BufReader::new(conn);
    let mut line = String::new();
    if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
        return;
    }
    let req: Request = match serde_json::from_str(&line) {
        Ok(r) => r,
        Err(e) => {
            let _ = reply(
                conn.get_mut(),
                &Response::Error {
                    message: format!("bad request: {e}"),
                },
            )
            .await;
            return;
        }
    };
    match req {
        Request::State => {
            let pid = shared.borrow().pid;
            let status = exit.borrow().clone();
            let _ = reply(conn.get_mut(), &Response::State { pid, exit: status }).await;
        }
        Request::Wait => {
            let status = match exit.wait_for(|s| s.is_some()).await {
                Ok(s) => s.clone().expect("checked by wait_for"),
                Err(_) => return,
            };
            let _ = reply(conn.get_mut(), &Response::Exited { status }).await;
        }
        Request::Resize { height, width } => {
            let master = shared.borrow().master.clone();
            let resp = resize(master, height, width, "the container has no tty");
            let _ = reply(conn.get_mut(), &resp).await;
        }
        Request::Exec {
            exec_id,
            process,
            tty,
            stdin,
        } => {
            if exit.borrow().is_some() {
                let _ = reply(conn.get_mut(), &exited()).await;
                return;
            }
            match start_exec(&shared, &exec_id, &process, tty, stdin).await {
                Err(message) => {
                    let _ = reply(conn.get_mut(), &Response::Error { message }).await;
                }
                Ok(started) => {
                    // Served even if the daemon is gone: the output is
                    // drained and the exit reaped all the same.
                    let _ =
                        reply(conn.get_mut(), &Response::ExecStarted { pid: started.pid }).await;
                    serve_exec(conn.into_inner(), started, tty).await;
                    shared.borrow_mut().children.execs.remove(&exec_id);
                }
            }
        }
        Request::ResizeExec {
            exec_id,
            height,
            width,
        } => {
            let master = shared
                .borrow()
                .children
                .execs
                .get(&exec_id)
                .map(|e| e.master.clone());
            let resp = match master {
                Some(master) => resize(master, height, width, "the exec has no tty"),
                None => Response::Error {
                    message: format!("no such exec: {exec_id}"),
                },
            };
            let _ = reply(conn.get_mut(), &resp).await;
        }
        Request::SignalExec { exec_id, signal } => {
            let target = shared
                .borrow()
                .children
                .execs
                .get(&exec_id)
                .filter(|e| e.exit.borrow().is_none())
                .map(|e| e.pid);
            let resp = match target {
                // Still unreaped, so the pid is still the exec's.
                Some(pid) => match rustix::process::Signal::from_named_raw(signal)
                    .zip(Pid::from_raw(pid))
                    .ok_or_else(|| "bad signal or pid".to_string())
                    .and_then(|(sig, pid)| {
                        rustix::process::kill_process(pid, sig).map_err(|e| e.to_string())
                    }) {
                    Ok(()) => Response::Ok,
                    Err(e) => Response::Error {
                        message: format!("signal exec: {e}"),
                    },
                },
                None => Response::Error {
                    message: format!("exec {exec_id} is not running"),
                },
            };
            let _ = reply(conn.get_mut(), &resp).await;
        }
        Request::CloseStdin => {
            let tx = shared.borrow().stdin.clone();
            if let Some(tx) = tx {
                let _ = tx.send(StdinMsg::Close).await;
            }
            let _ = reply(conn.get_mut(), &Response::Ok).await;
        }
        Request::Attach {
            stdin,
            stdout,
            stderr,
        } => {
            if exit.borrow().is_some() {
                let _ = reply(conn.get_mut(), &exited()).await;
                return;
            }
            let (tx, mut rx) = mpsc::channel::<Vec<u8>>(32);
            let (stdin_tx, stdin_once) = {
                let mut sh = shared.borrow_mut();
                sh.subscribers.push(Subscriber { tx, stdout, stderr });
                (sh.stdin.clone(), sh.stdin_once)
            };
            if reply(conn.get_mut(), &Response::Ok).await.is_err() {
                return;
            }
            let stream = conn.into_inner();
            let (mut rd, mut wr) = stream.into_split();
            let input = forward_stdin(&mut rd, stdin_tx.filter(|_| stdin), stdin_once);
            let output = async {
                while let Some(frame) = rx.recv().await {
                    if wr.write_all(&frame).await.is_err() {
                        return;
                    }
                }
                let _ = wr.shutdown().await;
            };
            // The attachment ends with its output: at the container's exit or
            // when the client goes away.
            tokio::select! {
                _ = input => {}
                _ = output => {}
            }
        }
    }
}

fn resize(master: Option<Rc<OwnedFd>>, height: u16, width: u16, no_tty: &str) -> Response {
    match master.map(|m| set_winsize(&m, height, width)) {
        Some(Ok(())) => Response::Ok,
        Some(Err(e)) => Response::Error {
            message: format!("resize tty: {e}"),
        },
        None => Response::Error {
            message: no_tty.into(),
        },
    }
}

fn set_winsize(master: &OwnedFd, height: u16, width: u16) -> rustix::io::Result<()> {
    rustix::termios::tcsetwinsize(
        master.as_fd(),
        rustix::termios::Winsize {
            ws_row: height,
            ws_col: width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
}

/// `process.consoleSize` of an OCI process file.
fn console_size(process: &Path) -> Option<(u16, u16)> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(process).ok()?).ok()?;
    let size = v.get("consoleSize")?;
    let dim = |k: &str| size.get(k)?.as_u64().and_then(|n| u16::try_from(n).ok());
    Some((dim("height")?, dim("width")?))
}

/// An exec whose process runs; what `serve_exec` needs.
struct StartedExec {
    pid: i32,
    stdin: Option<OwnedFd>,
    outputs: Vec<(u8, OwnedFd)>,
    exit: watch::Receiver<Option<i32>>,
}

/// Runs `runc exec --detach` with fresh stdio and waits for it; the exec's
/// process is then our child. The error is the runtime's own message.
async fn start_exec(
    shared: &Rc<RefCell<Shared>>,
    exec_id: &str,
    process: &Path,
    tty: bool,
    want_stdin: bool,
) -> Result<StartedExec, String> {
    // The id names files in the bundle.
    if exec_id.is_empty() || !exec_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("invalid exec id {exec_id:?}"));
    }
    let (cfg, bundle, n) = {
        let mut sh = shared.borrow_mut();
        sh.children.next_console += 1;
        (sh.cfg.clone(), sh.bundle.clone(), sh.children.next_console)
    };
    let runtime = OciRuntime::new(cfg.runtime.clone(), cfg.runtime_root.clone());
    let pid_file = bundle.join(format!("exec-{exec_id}.pid"));
    let log_file = bundle.join(format!("exec-{exec_id}.log"));
    let console_path = cfg.socket.with_extension(format!("x{n}"));
    let _ = std::fs::remove_file(&pid_file);

    let mut cmd = Command::new(runtime.binary());
    let mut io = ProcessIo::new(&mut cmd, tty, want_stdin, &console_path)?;
    cmd.args(runtime.exec_args(
        &cfg.id,
        process,
        &pid_file,
        tty.then_some(console_path.as_path()),
        &log_file,
    ));
    let cleanup = || {
        for f in [&pid_file, &log_file, &console_path] {
            let _ = std::fs::remove_file(f);
        }
        let _ = std::fs::remove_file(process);
    };
    // The launcher is reaped by `reap_loop`, which hands us its status:
    // registering before the first await means its exit cannot be missed.
    let child = cmd.spawn();
    // Our copies of the child's pipe ends must close, or the outputs never
    // reach EOF.
    drop(cmd);
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            cleanup();
            return Err(format!("exec {}: {e}", runtime.binary().display()));
        }
    };
    let (tx, rx) = oneshot::channel();
    shared
        .borrow_mut()
        .children
        .launches
        .insert(child.id() as i32, tx);
    drop(child);
    let code = rx.await.unwrap_or(255);
    if code != 0 {
        let msg = OciRuntime::last_error_from_log(&log_file)
            .unwrap_or_else(|| format!("{} exec exited with status {code}", runtime.name()));
        cleanup();
        return Err(msg);
    }
    let pid = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok());
    // runc applies `consoleSize` only to a terminal it keeps itself; with
    // --detach the size is ours to set.
    let master = io.take_master(&console_path, want_stdin, console_size(process));
    cleanup();
    let master = master?;
    let Some(pid) = pid else {
        return Err(format!("shim: no pid in {}", pid_file.display()));
    };
    let (exit_tx, exit_rx) = watch::channel(None);
    {
        let mut sh = shared.borrow_mut();
        let ch = &mut sh.children;
        if let Some(code) = ch.unclaimed.remove(&pid) {
            let _ = exit_tx.send(Some(code));
        } else {
            ch.exec_pids.insert(pid, exec_id.to_string());
        }
        ch.execs.insert(
            exec_id.to_string(),
            ExecEntry {
                pid,
                master,
                exit: exit_tx,
            },
        );
    }
    Ok(StartedExec {
        pid,
        stdin: io.stdin,
        outputs: io.outputs,
        exit: exit_rx,
    })
}

/// Carries an exec's output to `conn` as frames and `conn`'s bytes to its
/// stdin, then sends the exit frame. If the daemon goes away the output is
/// still drained, so the process never blocks on a full pipe.
async fn serve_exec(conn: UnixStream, started: StartedExec, tty: bool) {
    let StartedExec {
        stdin,
        outputs,
        mut exit,
        ..
    } = started;
    let (mut rd, mut wr) = conn.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(32);
    let pumps: Vec<JoinHandle<()>> = outputs
        .into_iter()
        .map(|(stream, fd)| tokio::task::spawn_local(exec_pump(fd, stream, tx.clone())))
        .collect();
    drop(tx);
    let stdin_tx = stdin.map(|fd| {
        let (tx, rx) = mpsc::channel(16);
        tokio::task::spawn_local(stdin_writer(fd, rx, tty));
        tx
    });
    // An exec's stdin always ends with the client's (Docker's exec is
    // StdinOnce).
    let input = forward_stdin(&mut rd, stdin_tx, true);
    let driver = async move {
        let code = match exit.wait_for(|c| c.is_some()).await {
            Ok(c) => c.expect("checked by wait_for"),
            Err(_) => 255,
        };
        let aborts: Vec<_> = pumps.iter().map(|p| p.abort_handle()).collect();
        let _ = tokio::time::timeout(EXEC_DRAIN_TIMEOUT, futures_join(pumps)).await;
        // Pumps still blocked (a background process holds the pipe) are
        // cut off, which closes the channel.
        for a in aborts {
            a.abort();
        }
        code
    };
    let writer = async {
        let mut ok = true;
        while let Some(frame) = rx.recv().await {
            if ok && wr.write_all(&frame).await.is_err() {
                ok = false;
            }
        }
        ok
    };
    let (code, ok) = tokio::select! {
        r = async { tokio::join!(driver, writer) } => r,
        _ = input => unreachable!("input never completes"),
    };
    if ok {
        let _ = wr
            .write_all(&frame(EXEC_EXIT_STREAM, &code.to_be_bytes()))
            .await;
        let _ = wr.shutdown().await;
    }
}

/// Copies one of an exec's output fds into frames until EOF (or EIO: a pty
/// master once the slave is closed).
async fn exec_pump(fd: OwnedFd, stream: u8, tx: mpsc::Sender<Vec<u8>>) {
    if rustix::io::ioctl_fionbio(&fd, true).is_err() {
        return;
    }
    let Ok(afd) = crate::sys::async_fd(fd) else {
        return;
    };
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match read_async(&afd, &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if tx.send(frame(stream, &buf[..n])).await.is_err() {
            return;
        }
    }
}

/// Copies a client's bytes to the process's input until the client closes
/// its side (then closes the input too, with `close_at_end`); never
/// completes, so that the output alone ends a session.
async fn forward_stdin(
    rd: &mut tokio::net::unix::OwnedReadHalf,
    tx: Option<mpsc::Sender<StdinMsg>>,
    close_at_end: bool,
) {
    if let Some(tx) = tx {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(StdinMsg::Data(buf[..n].to_vec())).await.is_err() {
                        break;
                    }
                }
            }
        }
        if close_at_end {
            let _ = tx.send(StdinMsg::Close).await;
        }
    }
    std::future::pending::<()>().await
}

fn exited() -> Response {
    Response::Error {
        message: "container has exited".into(),
    }
}

async fn reply(conn: &mut UnixStream, resp: &Response) -> io::Result<()> {
    let mut line = serde_json::to_vec(resp).map_err(io::Error::other)?;
    line.push(b'\n');
    conn.write_all(&line).await
}

/// Docker's json-file log: one JSON object per line of output,
/// `{"log":"…\n","stream":"stdout","time":"RFC3339Nano"}`.
struct JsonLog {
    out: Option<BufWriter<File>>,
    partial: [Vec<u8>; 3],
}

impl JsonLog {
    fn open(path: &Path) -> io::Result<JsonLog> {
        let f = File::options().create(true).append(true).open(path)?;
        Ok(JsonLog {
            out: Some(BufWriter::with_capacity(64 * 1024, f)),
            partial: Default::default(),
        })
    }

    fn discard() -> JsonLog {
        JsonLog {
            out: None,
            partial: Default::default(),
        }
    }

    fn write(&mut self, stream: u8, mut data: &[u8]) {
        let idx = usize::from(stream.min(2));
        let now = now_rfc3339();
        while !data.is_empty() {
            let (line, rest) = match memchr(b'\n', data) {
                Some(i) => data.split_at(i + 1),
                None => (data, &data[data.len()..]),
            };
            data = rest;
            let complete = line.ends_with(b"\n");
            if self.partial[idx].is_empty() && complete {
                self.emit(idx, line, &now);
                continue;
            }
            self.partial[idx].extend_from_slice(line);
            if complete || self.partial[idx].len() >= MAX_LOG_LINE {
                let buf = std::mem::take(&mut self.partial[idx]);
                self.emit(idx, &buf, &now);
            }
        }
        if let Some(out) = self.out.as_mut() {
            let _ = out.flush();
        }
    }

    fn flush_stream(&mut self, stream: u8) {
        let idx = usize::from(stream.min(2));
        if !self.partial[idx].is_empty() {
            let buf = std::mem::take(&mut self.partial[idx]);
            self.emit(idx, &buf, &now_rfc3339());
        }
        if let Some(out) = self.out.as_mut() {
            let _ = out.flush();
        }
    }

    fn flush_partials(&mut self) {
        for s in 1..=2 {
            self.flush_stream(s);
        }
        if let Some(out) = self.out.as_mut() {
            let _ = out.get_ref().sync_data();
        }
    }

    fn emit(&mut self, idx: usize, line: &[u8], time: &str) {
        let Some(out) = self.out.as_mut() else { return };
        let entry = serde_json::json!({
            "log": String::from_utf8_lossy(line),
            "stream": if idx == 2 { "stderr" } else { "stdout" },
            "time": time,
        });
        let _ = serde_json::to_writer(&mut *out, &entry);
        let _ = out.write_all(b"\n");
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_log(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn json_log_splits_lines_per_stream_and_keeps_partials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut log = JsonLog::open(&path).unwrap();
        log.write(1, b"out1\nou");
        log.write(2, b"err1\n");
        log.write(1, b"t2\n");
        log.write(1, b"tail");
        log.flush_partials();
        let entries = read_log(&path);
        let got: Vec<(String, String)> = entries
            .iter()
            .map(|e| {
                (
                    e["stream"].as_str().unwrap().to_string(),
                    e["log"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("stdout".into(), "out1\n".into()),
                ("stderr".into(), "err1\n".into()),
                ("stdout".into(), "out2\n".into()),
                ("stdout".into(), "tail".into()),
            ]
        );
        assert!(entries[0]["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn json_log_cuts_overlong_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut log = JsonLog::open(&path).unwrap();
        let long = vec![b'x'; MAX_LOG_LINE + 10];
        log.write(1, &long);
        log.write(1, b"\n");
        log.flush_partials();
        let entries = read_log(&path);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["log"].as_str().unwrap().len(), MAX_LOG_LINE + 10);
        assert_eq!(entries[1]["log"].as_str().unwrap(), "\n");
    }
}
