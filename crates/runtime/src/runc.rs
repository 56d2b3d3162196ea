//! A thin async client of an OCI runtime's command line (runc or crun), in
//! the manner of containerd's `go-runc`: one process per call, `--root`
//! always given, the runtime's own error text surfaced in our errors.
//!
//! `create` is not run from here: the shim runs it (it owns the container's
//! stdio), with the argv from [`OciRuntime::create_args`], and reads the
//! runtime's failure from the log file with
//! [`OciRuntime::last_error_from_log`].

use std::ffi::OsString;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Deserialize;

use crate::error::{Error, ErrorKind};

/// How to call one OCI runtime binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRuntime {
    binary: PathBuf,
    state_root: PathBuf,
    systemd_cgroup: bool,
    name: String,
}

/// The runtime's `state` output, as far as the daemon needs it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RuntimeState {
    #[serde(default)]
    pub id: String,
    /// "creating", "created", "running", "paused" or "stopped".
    pub status: String,
    /// The container's init process (0 once stopped, for runc).
    #[serde(default)]
    pub pid: i32,
    #[serde(default)]
    pub bundle: PathBuf,
    /// RFC 3339 creation time, as the runtime reports it.
    #[serde(default)]
    pub created: String,
}

impl OciRuntime {
    /// A runtime at `binary` keeping its state under `state_root` (e.g.
    /// `/run/berth/runc`; it should be on a tmpfs, so that a reboot forgets
    /// containers whose processes are gone).
    pub fn new(binary: PathBuf, state_root: PathBuf) -> Self {
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "runtime".to_string());
        OciRuntime {
            binary,
            state_root,
            systemd_cgroup: false,
            name,
        }
    }

    /// Use the systemd cgroup driver (`--systemd-cgroup`; the spec's
    /// `cgroupsPath` must then be `slice:prefix:name`).
    pub fn with_systemd_cgroup(mut self, on: bool) -> Self {
        self.systemd_cgroup = on;
        self
    }

    /// "runc" first, then "crun", searching `$PATH` plus `/usr/sbin` and
    /// `/sbin` (root's tools are often not on a service's PATH).
    pub fn find_on_path() -> Option<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        for extra in ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
            let extra = PathBuf::from(extra);
            if !dirs.contains(&extra) {
                dirs.push(extra);
            }
        }
        ["runc", "crun"].iter().find_map(|name| {
            dirs.iter()
                .filter(|d| d.is_absolute())
                .map(|d| d.join(name))
                .find(|p| is_executable(p))
        })
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The binary's file name ("runc", "crun"), for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn state_root(&self) -> &Path {
        &self.state_root
    }

    pub fn systemd_cgroup(&self) -> bool {
        self.systemd_cgroup
    }

    fn global_args(&self) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec!["--root".into(), self.state_root.clone().into()];
        if self.systemd_cgroup {
            v.push("--systemd-cgroup".into());
        }
        v
    }

    /// The runtime's version (`1.1.5+ds1` from "runc version 1.1.5+ds1").
    pub async fn version(&self) -> Result<String, Error> {
        let out = self
            .output("version", None, vec!["--version".into()])
            .await?;
        let text = String::from_utf8_lossy(&out);
        let first = text.lines().next().unwrap_or("").trim();
        let prefix = format!("{} version ", self.name);
        Ok(first
            .strip_prefix(&prefix)
            .or_else(|| first.split_once(" version ").map(|(_, v)| v))
            .unwrap_or(first)
            .to_string())
    }

    /// The argv (after the binary) for `create`, run by the shim, which owns
    /// stdio: `--root R --log L --log-format json create --bundle B
    /// --pid-file P [--console-socket S] ID`.
    pub fn create_args(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        log_file: &Path,
    ) -> Vec<OsString> {
        let op = [
            "create".into(),
            "--bundle".into(),
            bundle.as_os_str().to_owned(),
        ];
        self.process_args(op, id, pid_file, console_socket, log_file)
    }

    /// The argv (after the binary) for `exec --detach`, run by the shim
    /// (the exec's process becomes its child, and stdio is the shim's pipes
    /// or, with `console_socket`, a pty whose master is sent there).
    pub fn exec_args(
        &self,
        id: &str,
        process: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        log_file: &Path,
    ) -> Vec<OsString> {
        let op = [
            "exec".into(),
            "--detach".into(),
            "--process".into(),
            process.as_os_str().to_owned(),
        ];
        self.process_args(op, id, pid_file, console_socket, log_file)
    }

    /// `--root R --log L --log-format json OP… --pid-file P
    /// [--console-socket S] ID`: the shape of the two commands that start a
    /// process the shim keeps.
    fn process_args(
        &self,
        op: impl IntoIterator<Item = OsString>,
        id: &str,
        pid_file: &Path,
        console_socket: Option<&Path>,
        log_file: &Path,
    ) -> Vec<OsString> {
        let mut v = self.global_args();
        v.extend([
            "--log".into(),
            log_file.as_os_str().to_owned(),
            "--log-format".into(),
            "json".into(),
        ]);
        v.extend(op);
        v.extend(["--pid-file".into(), pid_file.as_os_str().to_owned()]);
        if let Some(s) = console_socket {
            v.push("--console-socket".into());
            v.push(s.as_os_str().to_owned());
        }
        v.push(id.into());
        v
    }

    /// The argv (after the binary) for `delete [--force] ID`.
    pub fn delete_args(&self, id: &str, force: bool) -> Vec<OsString> {
        let mut v = self.global_args();
        v.push("delete".into());
        if force {
            v.push("--force".into());
        }
        v.push(id.into());
        v
    }

    /// Starts the user process of a created container.
    pub async fn start(&self, id: &str) -> Result<(), Error> {
        self.run("start", id, vec!["start".into(), id.into()]).await
    }

    /// Sends `signal` to the container's init (or, with `all`, to every
    /// process of the container). A stopped container is a `Conflict`.
    pub async fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), Error> {
        let mut args: Vec<OsString> = vec!["kill".into()];
        if all {
            args.push("--all".into());
        }
        args.push(id.into());
        args.push(signal.to_string().into());
        self.run("kill", id, args).await
    }

    /// Freezes every process of the container.
    pub async fn pause(&self, id: &str) -> Result<(), Error> {
        self.run("pause", id, vec!["pause".into(), id.into()]).await
    }

    /// Thaws a paused container.
    pub async fn resume(&self, id: &str) -> Result<(), Error> {
        self.run("resume", id, vec!["resume".into(), id.into()])
            .await
    }

    /// Deletes the container's runtime state (and, with `force`, kills it
    /// first if it is still running).
    pub async fn delete(&self, id: &str, force: bool) -> Result<(), Error> {
        let mut args: Vec<OsString> = vec!["delete".into()];
        if force {
            args.push("--force".into());
        }
        args.push(id.into());
        self.run("delete", id, args).await
    }

    /// Applies new cgroup limits to a live container: `resources` is the
    /// OCI `LinuxResources` JSON, written to `file` (runc and crun both read
    /// `update --resources FILE`).
    pub async fn update(&self, id: &str, resources: &[u8], file: &Path) -> Result<(), Error> {
        std::fs::write(file, resources).map_err(|e| {
            Error::with_source(
                ErrorKind::Internal,
                format!("{} update {id}: write {}", self.name, file.display()),
                e,
            )
        })?;
        let r = self
            .run(
                "update",
                id,
                vec![
                    "update".into(),
                    "--resources".into(),
                    file.as_os_str().to_owned(),
                    id.into(),
                ],
            )
            .await;
        let _ = std::fs::remove_file(file);
        r
    }

    /// The runtime's view of the container; `NotFound` when it does not know
    /// the id.
    pub async fn state(&self, id: &str) -> Result<RuntimeState, Error> {
        let out = self
            .output("state", Some(id), vec!["state".into(), id.into()])
            .await?;
        serde_json::from_slice(&out).map_err(|e| {
            Error::with_source(
                ErrorKind::Internal,
                format!("{} state {id}: decode output", self.name),
                e,
            )
        })
    }

    /// The host pids of the container's processes.
    pub async fn ps(&self, id: &str) -> Result<Vec<i32>, Error> {
        let out = self
            .output(
                "ps",
                Some(id),
                vec!["ps".into(), "--format".into(), "json".into(), id.into()],
            )
            .await?;
        // runc prints "null" for a container without processes.
        let pids: Option<Vec<i32>> = serde_json::from_slice(&out).map_err(|e| {
            Error::with_source(
                ErrorKind::Internal,
                format!("{} ps {id}: decode output", self.name),
                e,
            )
        })?;
        Ok(pids.unwrap_or_default())
    }

    /// The last error the runtime wrote to its JSON log file (runc and crun
    /// write `{"level":"error","msg":...}` lines with `--log-format json`),
    /// so that a failed `create` is reported in the runtime's own words.
    /// Text-format lines (`level=error msg="..."`) are understood too.
    pub fn last_error_from_log(log_file: &Path) -> Option<String> {
        // The log of one create is small; read at most its last 64 KiB.
        const TAIL: u64 = 64 * 1024;
        let mut f = std::fs::File::open(log_file).ok()?;
        let len = f.metadata().ok()?.len();
        if len > TAIL {
            f.seek(SeekFrom::Start(len - TAIL)).ok()?;
        }
        let mut buf = Vec::new();
        f.take(TAIL).read_to_end(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf);
        text.lines()
            .filter_map(parse_log_line)
            .filter(|(level, _)| matches!(level.as_str(), "error" | "fatal" | "panic"))
            .map(|(_, msg)| msg)
            .next_back()
    }

    fn command(&self, args: Vec<OsString>) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.args(self.global_args())
            // JSON on stderr: the message can be extracted exactly.
            .args(["--log-format", "json"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // NOTIFY_SOCKET makes runc talk to systemd on the container's
            // behalf; it must only be set when systemd runs runc directly
            // (as go-runc filters it).
            .env_remove("NOTIFY_SOCKET");
        cmd
    }

    async fn run(&self, op: &str, id: &str, args: Vec<OsString>) -> Result<(), Error> {
        self.output(op, Some(id), args).await.map(|_| ())
    }

    /// Runs the runtime once; stdout on success, an error carrying the
    /// runtime's message on failure.
    async fn output(
        &self,
        op: &str,
        id: Option<&str>,
        args: Vec<OsString>,
    ) -> Result<Vec<u8>, Error> {
        let what = match id {
            Some(id) => format!("{} {op} {id}", self.name),
            None => format!("{} {op}", self.name),
        };
        let out = self.command(args).output().await.map_err(|e| {
            let kind = if e.kind() == std::io::ErrorKind::NotFound {
                ErrorKind::Unavailable
            } else {
                ErrorKind::Internal
            };
            Error::with_source(kind, format!("{what}: exec {}", self.binary.display()), e)
        })?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        let msg = error_message(&out.stderr)
            .or_else(|| error_message(&out.stdout))
            .unwrap_or_else(|| format!("exited with {}", out.status));
        Err(Error::new(classify(&msg), format!("{what}: {msg}")))
    }
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[derive(Deserialize)]
struct LogLine {
    #[serde(default)]
    level: String,
    #[serde(default)]
    msg: String,
}

/// `(level, msg)` of a runtime log line, JSON or logrus text format.
fn parse_log_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    if line.starts_with('{') {
        let l: LogLine = serde_json::from_str(line).ok()?;
        return Some((l.level, l.msg));
    }
    let level = text_field(line, "level")?;
    let msg = text_field(line, "msg")?;
    Some((level, msg))
}

/// A `key=value` or `key="quoted value"` field of a logrus text line.
fn text_field(line: &str, key: &str) -> Option<String> {
    let start = line
        .match_indices(&format!("{key}="))
        .find(|(i, _)| *i == 0 || line.as_bytes()[i - 1] == b' ')
        .map(|(i, _)| i + key.len() + 1)?;
    let rest = &line[start..];
    if let Some(q) = rest.strip_prefix('"') {
        // Go's %q: backslash escapes.
        let mut out = String::new();
        let mut chars = q.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(c) => out.push(c),
                    None => break,
                },
                '"' => break,
                c => out.push(c),
            }
        }
        Some(out)
    } else {
        Some(rest.split(' ').next().unwrap_or("").to_string())
    }
}

/// The runtime's message from its stderr: the last error-level message of
/// its (JSON) log lines, else the last message of any level, else the raw
/// text, trimmed.
fn error_message(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let parsed: Vec<(String, String)> = text.lines().filter_map(parse_log_line).collect();
    if let Some((_, msg)) = parsed
        .iter()
        .rev()
        .find(|(l, m)| matches!(l.as_str(), "error" | "fatal" | "panic") && !m.is_empty())
    {
        return Some(msg.trim().to_string());
    }
    if let Some((_, msg)) = parsed.iter().rev().find(|(_, m)| !m.is_empty()) {
        return Some(msg.trim().to_string());
    }
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// The error kind a runtime message means. runc: "container does not exist",
/// "container not running", "container not paused", "cannot delete container
/// X that is not stopped", "cannot start an already running container",
/// "container with id exists"; crun: "error opening file `.../status`: No
/// such file or directory" for an unknown id.
fn classify(msg: &str) -> ErrorKind {
    let m = msg.to_ascii_lowercase();
    if m.contains("does not exist")
        || m.contains("not found")
        || (m.contains("status") && m.contains("no such file or directory"))
    {
        ErrorKind::NotFound
    } else if m.contains("not running")
        || m.contains("not paused")
        || m.contains("not stopped")
        || m.contains("already running")
        || m.contains("already paused")
        || m.contains("has stopped")
        || m.contains("is paused")
        || m.contains("is stopped")
        || m.contains("exists")
        || m.contains("no such process")
    {
        ErrorKind::Conflict
    } else if m.contains("permission denied") || m.contains("operation not permitted") {
        ErrorKind::PermissionDenied
    } else {
        ErrorKind::Internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> OciRuntime {
        OciRuntime::new("/usr/sbin/runc".into(), "/run/berth/runc".into())
    }

    fn strs(v: &[OsString]) -> Vec<String> {
        v.iter().map(|s| s.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn create_argv() {
        let r = rt();
        assert_eq!(r.name(), "runc");
        let a = r.create_args(
            "c1",
            Path::new("/b"),
            Path::new("/b/init.pid"),
            Some(Path::new("/b/console.sock")),
            Path::new("/b/runtime.log"),
        );
        assert_eq!(
            strs(&a),
            [
                "--root",
                "/run/berth/runc",
                "--log",
                "/b/runtime.log",
                "--log-format",
                "json",
                "create",
                "--bundle",
                "/b",
                "--pid-file",
                "/b/init.pid",
                "--console-socket",
                "/b/console.sock",
                "c1"
            ]
        );
        let a = r.create_args(
            "c1",
            Path::new("/b"),
            Path::new("/p"),
            None,
            Path::new("/l"),
        );
        assert!(!strs(&a).contains(&"--console-socket".to_string()));
        let r = r.with_systemd_cgroup(true);
        assert_eq!(
            strs(&r.delete_args("c1", true)),
            [
                "--root",
                "/run/berth/runc",
                "--systemd-cgroup",
                "delete",
                "--force",
                "c1"
            ]
        );
        assert_eq!(
            strs(&rt().delete_args("c1", false)),
            ["--root", "/run/berth/runc", "delete", "c1"]
        );
    }

    #[test]
    fn messages_and_kinds() {
        let runc =
            br#"{"level":"error","msg":"container does not exist","time":"2026-11-23T18:12:57Z"}"#;
        assert_eq!(error_message(runc).unwrap(), "container does not exist");
        assert_eq!(classify("container does not exist"), ErrorKind::NotFound);
        let crun = br#"{"msg":"error opening file `/tmp/rr/x/status`: No such file or directory","level":"error","time":"2026"}"#;
        let m = error_message(crun).unwrap();
        assert_eq!(classify(&m), ErrorKind::NotFound);
        assert_eq!(classify("container not running"), ErrorKind::Conflict);
        assert_eq!(
            classify("cannot delete container c1 that is not stopped: running"),
            ErrorKind::Conflict
        );
        assert_eq!(classify("container not paused"), ErrorKind::Conflict);
        assert_eq!(classify("something odd"), ErrorKind::Internal);
        let text = b"time=\"2026-11-23T18:12:57Z\" level=error msg=\"container \\\"x\\\" does not exist\"\n";
        assert_eq!(
            error_message(text).unwrap(),
            "container \"x\" does not exist"
        );
        assert_eq!(
            error_message(b"  plain failure \n").unwrap(),
            "plain failure"
        );
        let mixed = b"{\"level\":\"warning\",\"msg\":\"w\"}\n{\"level\":\"error\",\"msg\":\"e1\"}\n{\"level\":\"info\",\"msg\":\"i\"}\n";
        assert_eq!(error_message(mixed).unwrap(), "e1");
    }

    #[test]
    fn last_error_in_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runtime.log");
        assert_eq!(OciRuntime::last_error_from_log(&log), None);
        std::fs::write(
            &log,
            "{\"level\":\"warning\",\"msg\":\"w\"}\n{\"level\":\"error\",\"msg\":\"runc create failed: unable to start container process: exec: \\\"nope\\\": executable file not found in $PATH\",\"time\":\"t\"}\n",
        )
        .unwrap();
        assert_eq!(
            OciRuntime::last_error_from_log(&log).unwrap(),
            "runc create failed: unable to start container process: exec: \"nope\": executable file not found in $PATH"
        );
        std::fs::write(&log, "{\"level\":\"info\",\"msg\":\"fine\"}\n").unwrap();
        assert_eq!(OciRuntime::last_error_from_log(&log), None);
    }

    #[tokio::test]
    async fn missing_binary_is_unavailable() {
        let r = OciRuntime::new("/nonexistent/runc".into(), "/tmp/x".into());
        let e = r.state("c1").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(
            e.to_string()
                .starts_with("runc state c1: exec /nonexistent/runc")
        );
    }
}
