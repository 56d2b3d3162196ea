//! Reading Docker's json-file logs (written by the shim) for `docker logs`:
//! stream selection, tail, since/until, timestamps and follow. Runs on a
//! blocking thread and hands framed output to the HTTP body through a
//! bounded channel, so a slow client slows the reader, not the memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub timestamps: bool,
    pub tail: Option<usize>,
    pub follow: bool,
    /// Raw output (TTY) rather than stdcopy frames.
    pub tty: bool,
}

#[derive(Deserialize)]
struct Entry {
    log: String,
    stream: String,
    time: DateTime<Utc>,
}

/// 1 for stdout, 2 for stderr.
fn stream_id(s: &str) -> u8 {
    if s == "stderr" { 2 } else { 1 }
}

impl ReadOptions {
    fn wants(&self, e: &Entry) -> bool {
        let s = stream_id(&e.stream);
        (s == 1 && self.stdout) || (s == 2 && self.stderr)
    }

    fn in_window(&self, e: &Entry) -> bool {
        self.since.is_none_or(|s| e.time >= s)
    }

    fn past_until(&self, e: &Entry) -> bool {
        self.until.is_some_and(|u| e.time > u)
    }

    fn render(&self, e: &Entry) -> Bytes {
        let mut payload = Vec::with_capacity(e.log.len() + 40);
        if self.timestamps {
            payload
                .extend_from_slice(berth_api_types::time::format_rfc3339_nano(e.time).as_bytes());
            payload.push(b' ');
        }
        payload.extend_from_slice(e.log.as_bytes());
        if self.tty {
            return Bytes::from(payload);
        }
        berth_api_types::stdcopy::frame(
            if stream_id(&e.stream) == 2 {
                berth_api_types::stdcopy::StdType::Stderr
            } else {
                berth_api_types::stdcopy::StdType::Stdout
            },
            &payload,
        )
    }
}

/// Streams the log at `path` into `tx`. With `follow`, keeps reading as the
/// file grows until `running()` turns false and the file has been read to
/// its end, or the receiver goes away.
pub fn read(
    path: PathBuf,
    opts: ReadOptions,
    running: impl Fn() -> bool + Send + 'static,
    tx: mpsc::Sender<io::Result<Bytes>>,
) {
    let file = match File::open(&path) {
        Ok(f) => f,
        // A container that never started has no log yet.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => {
            let _ = tx.blocking_send(Err(e));
            return;
        }
    };
    let start = match opts.tail {
        Some(n) => match tail_offset(&file, n, &opts) {
            Ok(o) => o,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        },
        None => 0,
    };
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    if reader.seek(SeekFrom::Start(start)).is_err() {
        return;
    }
    let mut line = Vec::with_capacity(256);
    loop {
        // Read what is there now.
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) if !line.ends_with(b"\n") => {
                    // The shim is mid-write: rewind and retry later.
                    let back = line.len() as i64;
                    if reader.seek_relative(-back).is_err() {
                        return;
                    }
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
            let Ok(entry) = serde_json::from_slice::<Entry>(&line) else {
                continue;
            };
            if opts.past_until(&entry) {
                return;
            }
            if !opts.wants(&entry) || !opts.in_window(&entry) {
                continue;
            }
            if tx.blocking_send(Ok(opts.render(&entry))).is_err() {
                return;
            }
        }
        if !opts.follow || tx.is_closed() {
            return;
        }
        if !running() {
            // One more pass catches what was written just before the exit.
            line.clear();
            let mut rest = Vec::new();
            if reader
                .read_to_end(&mut rest)
                .map(|n| n == 0)
                .unwrap_or(true)
            {
                return;
            }
            for l in rest.split_inclusive(|b| *b == b'\n') {
                if let Ok(entry) = serde_json::from_slice::<Entry>(l)
                    && opts.wants(&entry)
                    && opts.in_window(&entry)
                    && !opts.past_until(&entry)
                    && tx.blocking_send(Ok(opts.render(&entry))).is_err()
                {
                    return;
                }
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The offset of the first of the last `n` wanted entries, found by reading
/// backwards in blocks, so `--tail` costs what it shows, not the file size.
fn tail_offset(file: &File, n: usize, opts: &ReadOptions) -> io::Result<u64> {
    if n == 0 {
        return file.metadata().map(|m| m.len());
    }
    let len = file.metadata()?.len();
    let mut f = file;
    let mut pos = len;
    let mut carry: Vec<u8> = Vec::new();
    let mut found = 0usize;
    const BLOCK: u64 = 64 * 1024;
    while pos > 0 {
        let size = BLOCK.min(pos);
        pos -= size;
        let mut block = vec![0u8; size as usize];
        f.seek(SeekFrom::Start(pos))?;
        f.read_exact(&mut block)?;
        block.extend_from_slice(&carry);
        // Lines that end inside `block`, scanned from the back; the head
        // (before the first newline) may be a line cut by the block start.
        let mut end = block.len();
        while let Some(i) = block[..end.saturating_sub(1)]
            .iter()
            .rposition(|b| *b == b'\n')
        {
            let entry = &block[i + 1..end];
            if let Ok(e) = serde_json::from_slice::<Entry>(entry)
                && opts.wants(&e)
            {
                found += 1;
                if found == n {
                    return Ok(pos + i as u64 + 1);
                }
            }
            end = i + 1;
        }
        carry = block[..end].to_vec();
    }
    // The first line of the file.
    if let Ok(e) = serde_json::from_slice::<Entry>(&carry)
        && opts.wants(&e)
    {
        found += 1;
    }
    let _ = found;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_log(lines: &[(&str, &str, &str)]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        for (stream, log, time) in lines {
            writeln!(
                f,
                "{}",
                serde_json::json!({"log": log, "stream": stream, "time": time})
            )
            .unwrap();
        }
        f
    }

    fn collect(path: PathBuf, opts: ReadOptions) -> Vec<u8> {
        let (tx, mut rx) = mpsc::channel(1024);
        read(path, opts, || false, tx);
        let mut out = Vec::new();
        while let Ok(Some(Ok(b))) = rx.try_recv().map(Some) {
            out.extend_from_slice(&b);
        }
        out
    }

    fn all() -> ReadOptions {
        ReadOptions {
            stdout: true,
            stderr: true,
            tty: true,
            ..Default::default()
        }
    }

    #[test]
    fn selects_streams_tail_and_window() {
        let f = write_log(&[
            ("stdout", "a\n", "2026-01-01T00:00:01Z"),
            ("stderr", "b\n", "2026-01-01T00:00:02Z"),
            ("stdout", "c\n", "2026-01-01T00:00:03Z"),
            ("stdout", "d\n", "2026-01-01T00:00:04Z"),
        ]);
        let p = f.path().to_path_buf();
        assert_eq!(collect(p.clone(), all()), b"a\nb\nc\nd\n");
        let only_out = ReadOptions {
            stderr: false,
            ..all()
        };
        assert_eq!(collect(p.clone(), only_out.clone()), b"a\nc\nd\n");
        let tail2 = ReadOptions {
            tail: Some(2),
            ..all()
        };
        assert_eq!(collect(p.clone(), tail2), b"c\nd\n");
        let tail_out = ReadOptions {
            tail: Some(3),
            ..only_out
        };
        assert_eq!(collect(p.clone(), tail_out), b"a\nc\nd\n");
        let tail0 = ReadOptions {
            tail: Some(0),
            ..all()
        };
        assert_eq!(collect(p.clone(), tail0), b"");
        let tail_many = ReadOptions {
            tail: Some(100),
            ..all()
        };
        assert_eq!(collect(p.clone(), tail_many), b"a\nb\nc\nd\n");
        let window = ReadOptions {
            since: Some("2026-01-01T00:00:02Z".parse().unwrap()),
            until: Some("2026-01-01T00:00:03Z".parse().unwrap()),
            ..all()
        };
        assert_eq!(collect(p.clone(), window), b"b\nc\n");
        let stamped = ReadOptions {
            timestamps: true,
            tail: Some(1),
            ..all()
        };
        assert_eq!(collect(p, stamped), b"2026-01-01T00:00:04Z d\n");
    }

    #[test]
    fn frames_when_not_tty() {
        let f = write_log(&[
            ("stdout", "out\n", "2026-01-01T00:00:01Z"),
            ("stderr", "err\n", "2026-01-01T00:00:02Z"),
        ]);
        let out = collect(
            f.path().to_path_buf(),
            ReadOptions {
                tty: false,
                ..all()
            },
        );
        assert_eq!(&out[..8], &[1, 0, 0, 0, 0, 0, 0, 4]);
        assert_eq!(&out[8..12], b"out\n");
        assert_eq!(&out[12..20], &[2, 0, 0, 0, 0, 0, 0, 4]);
        assert_eq!(&out[20..], b"err\n");
    }

    #[test]
    fn tail_across_blocks() {
        let mut lines = Vec::new();
        let texts: Vec<String> = (0..5000).map(|i| format!("line {i}\n")).collect();
        for t in &texts {
            lines.push(("stdout", t.as_str(), "2026-01-01T00:00:01Z"));
        }
        let f = write_log(&lines);
        let out = collect(
            f.path().to_path_buf(),
            ReadOptions {
                tail: Some(3),
                ..all()
            },
        );
        assert_eq!(out, b"line 4997\nline 4998\nline 4999\n");
    }
}
