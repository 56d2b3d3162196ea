//! `docker attach` / `docker run`'s attached streams: the client's hijacked
//! connection bridged to an attach connection of the container's shim.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};

use crate::Daemon;
use crate::container::{PendingAttach, Status};
use crate::error::{Error, Result};
use crate::logs;

pub trait Conn: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Conn for T {}

pub struct AttachSession {
    pub tty: bool,
    pub run: Box<dyn FnOnce(Box<dyn Conn>) -> BoxFuture<'static, ()> + Send>,
}

#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub stream: bool,
    pub logs: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub detach_keys: Option<String>,
}

/// Docker's default detach sequence, ctrl-p ctrl-q.
pub(crate) const DEFAULT_DETACH_KEYS: &[u8] = &[0x10, 0x11];

enum Source {
    /// The task is live: connect when the session runs.
    Live(crate::task::TaskPaths),
    /// Not started yet: the next start hands over the stream.
    Pending(oneshot::Receiver<UnixStream>),
    None,
}

impl Daemon {
    pub fn container_attach(
        self: &Arc<Self>,
        key: &str,
        opts: AttachOptions,
    ) -> Result<AttachSession> {
        let c = self.lookup(key)?;
        let detach = match &opts.detach_keys {
            Some(k) => parse_detach_keys(k)?,
            None => DEFAULT_DETACH_KEYS.to_vec(),
        };
        let (tty, stdin_open) = {
            let g = c.lock();
            (g.rec.config.tty, g.rec.config.open_stdin)
        };
        let want_stdin = opts.stdin && stdin_open;
        // Registering before the 101 goes out: `docker run` attaches, then
        // starts, and must not miss the first bytes.
        let source = if !opts.stream {
            Source::None
        } else {
            let mut g = c.lock();
            match g.rec.state.status {
                Status::Paused => {
                    return Err(Error::conflict(
                        "container is paused, unpause the container before attach",
                    ));
                }
                Status::Removing | Status::Dead => {
                    return Err(Error::conflict(format!(
                        "container {} is being removed",
                        c.id
                    )));
                }
                _ if g.task_live => Source::Live(c.paths.clone()),
                _ => {
                    let (tx, rx) = oneshot::channel();
                    g.pending.push(PendingAttach {
                        stdin: want_stdin,
                        stdout: opts.stdout,
                        stderr: opts.stderr,
                        tx,
                    });
                    Source::Pending(rx)
                }
            }
        };
        if opts.stream {
            self.container_event(&c, "attach", &[]);
        }
        let log_replay = opts.logs.then(|| {
            (
                c.log_path(),
                logs::ReadOptions {
                    stdout: opts.stdout,
                    stderr: opts.stderr,
                    tty,
                    ..Default::default()
                },
            )
        });
        let run = move |mut conn: Box<dyn Conn>| -> BoxFuture<'static, ()> {
            Box::pin(async move {
                if let Some((path, ropts)) = log_replay {
                    let (tx, mut rx) = mpsc::channel(16);
                    tokio::task::spawn_blocking(move || logs::read(path, ropts, || false, tx));
                    while let Some(Ok(chunk)) = rx.recv().await {
                        if conn.write_all(&chunk).await.is_err() {
                            return;
                        }
                    }
                }
                let shim = match source {
                    Source::None => {
                        let _ = conn.shutdown().await;
                        return;
                    }
                    Source::Live(paths) => {
                        match paths
                            .client()
                            .attach(want_stdin, opts.stdout, opts.stderr)
                            .await
                        {
                            Ok(s) => s,
                            // The task ended between the check and now.
                            Err(_) => {
                                let _ = conn.shutdown().await;
                                return;
                            }
                        }
                    }
                    Source::Pending(rx) => match rx.await {
                        Ok(s) => s,
                        Err(_) => {
                            let _ = conn.shutdown().await;
                            return;
                        }
                    },
                };
                bridge(conn, shim, tty, want_stdin, detach).await;
            })
        };
        Ok(AttachSession {
            tty,
            run: Box::new(run),
        })
    }
}

/// Copies the shim's frames to the client (unwrapped for a TTY) and the
/// client's input to the shim, until the output ends (the container
/// exited) or the client detaches or goes away.
async fn bridge(conn: Box<dyn Conn>, shim: UnixStream, tty: bool, stdin: bool, detach: Vec<u8>) {
    let (mut cr, mut cw) = tokio::io::split(conn);
    let (mut sr, mut sw) = shim.into_split();
    let output = async {
        let mut buf = vec![0u8; 32 * 1024];
        if tty {
            let mut header = [0u8; 8];
            loop {
                if sr.read_exact(&mut header).await.is_err() {
                    break;
                }
                let mut left =
                    u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
                while left > 0 {
                    let n = match sr.read(&mut buf[..left.min(32 * 1024)]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if cw.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                    left -= n;
                }
            }
        } else {
            loop {
                let n = match sr.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if cw.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
        let _ = cw.flush().await;
        let _ = cw.shutdown().await;
    };
    let input = async {
        if !stdin {
            return std::future::pending::<()>().await;
        }
        let mut buf = vec![0u8; 32 * 1024];
        let mut matched = 0usize;
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    // The client closed its stdin: the shim closes the
                    // container's if it is StdinOnce.
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
    tokio::select! {
        _ = output => {}
        _ = input => {}
    }
}

/// Passes input through, holding back a partial detach sequence; returns
/// the bytes to forward and whether the full sequence was typed.
pub(crate) fn scan_detach(input: &[u8], keys: &[u8], matched: &mut usize) -> (Vec<u8>, bool) {
    if keys.is_empty() {
        return (input.to_vec(), false);
    }
    let mut out = Vec::with_capacity(input.len());
    for &b in input {
        if b == keys[*matched] {
            *matched += 1;
            if *matched == keys.len() {
                return (out, true);
            }
        } else {
            out.extend_from_slice(&keys[..*matched]);
            *matched = 0;
            if b == keys[0] {
                *matched = 1;
            } else {
                out.push(b);
            }
        }
    }
    (out, false)
}

/// Docker's `--detach-keys` syntax: comma-separated `ctrl-<x>` or single
/// characters ("ctrl-p,ctrl-q", "ctrl-@", "a,b").
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for part in s.split(',') {
        let bad = || Error::invalid(format!("Invalid escape keys ({s}) provided"));
        if let Some(k) = part.strip_prefix("ctrl-") {
            let kb = k.as_bytes();
            if kb.len() != 1 {
                return Err(bad());
            }
            let c = kb[0].to_ascii_lowercase();
            out.push(match c {
                b'a'..=b'z' => c - b'a' + 1,
                b'@' => 0,
                b'[' => 27,
                b'\\' => 28,
                b']' => 29,
                b'^' => 30,
                b'_' => 31,
                _ => return Err(bad()),
            });
        } else if part.len() == 1 {
            out.push(part.as_bytes()[0]);
        } else {
            return Err(bad());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_sequences() {
        assert_eq!(
            parse_detach_keys("ctrl-p,ctrl-q").unwrap(),
            vec![0x10, 0x11]
        );
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), vec![b'a', 0]);
        assert!(parse_detach_keys("ctrl-pp").is_err());
        let keys = [0x10, 0x11];
        let mut m = 0;
        assert_eq!(scan_detach(b"ab", &keys, &mut m), (b"ab".to_vec(), false));
        assert_eq!(
            scan_detach(&[b'x', 0x10], &keys, &mut m),
            (b"x".to_vec(), false)
        );
        assert_eq!(scan_detach(&[0x11], &keys, &mut m), (vec![], true));
        let mut m = 0;
        // A lone ctrl-p followed by something else is passed through.
        assert_eq!(
            scan_detach(&[0x10, b'y'], &keys, &mut m),
            (vec![0x10, b'y'], false)
        );
        let mut m = 0;
        assert_eq!(
            scan_detach(&[0x10, 0x10, 0x11], &keys, &mut m),
            (vec![0x10], true)
        );
    }
}
