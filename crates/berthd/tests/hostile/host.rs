//! The host side of the hostile tests: canary files whose content,
//! metadata and link count must not change, a scan for anything a hostile
//! archive names appearing outside the container, and memory sampling.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// What we remember of a canary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    kind: String,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: (i64, i64),
    nlink: u64,
    ino: u64,
    content: Option<Vec<u8>>,
    entries: Option<Vec<String>>,
}

pub fn stamp(p: &Path) -> Option<Stamp> {
    let m = std::fs::symlink_metadata(p).ok()?;
    let ft = m.file_type();
    let kind = if ft.is_dir() {
        "dir"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_file() {
        "file"
    } else {
        "other"
    };
    Some(Stamp {
        kind: kind.into(),
        mode: m.mode(),
        uid: m.uid(),
        gid: m.gid(),
        size: m.len(),
        mtime: (m.mtime(), m.mtime_nsec()),
        nlink: m.nlink(),
        ino: m.ino(),
        content: ft.is_file().then(|| std::fs::read(p).unwrap_or_default()),
        entries: ft.is_dir().then(|| {
            let mut v: Vec<String> = std::fs::read_dir(p)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v
        }),
    })
}

/// Canary files and directories; `check` compares them with their first
/// stamps.
pub struct Canaries {
    pub unique: String,
    /// `/tmp/berth-canary-<unique>`: `victim`, `secret`, `sub/`.
    pub dir: PathBuf,
    pub secret: Vec<u8>,
    with_tmp: bool,
    extra_dirs: Vec<PathBuf>,
    watch: Vec<PathBuf>,
    created: Vec<PathBuf>,
    stamps: BTreeMap<PathBuf, Option<Stamp>>,
}

impl Canaries {
    /// Plants canaries in `/tmp/berth-canary-<unique>` (with `with_tmp`)
    /// and a file in each of `extra_dirs` (the directories around the
    /// container's roots an escape would land in), and watches `watch`
    /// (host files such as /etc/passwd, which we never modify).
    pub fn plant(unique: &str, with_tmp: bool, extra_dirs: &[PathBuf], watch: &[&str]) -> Canaries {
        let dir = PathBuf::from(format!("/tmp/berth-canary-{unique}"));
        let secret = format!("BERTH-HOST-SECRET-{unique}-do-not-leak").into_bytes();
        let mut created = Vec::new();
        let mut paths = Vec::new();
        if with_tmp {
            std::fs::create_dir_all(dir.join("sub")).unwrap();
            std::fs::write(dir.join("victim"), format!("canary {unique}\n")).unwrap();
            std::fs::write(dir.join("secret"), &secret).unwrap();
            std::fs::write(dir.join("sub/inner"), b"inner canary\n").unwrap();
            created.push(dir.clone());
            paths.extend([
                dir.clone(),
                dir.join("victim"),
                dir.join("secret"),
                dir.join("sub"),
                dir.join("sub/inner"),
            ]);
        }
        for d in extra_dirs {
            if d.is_dir() {
                let f = d.join(format!("berth-canary-{unique}"));
                std::fs::write(&f, format!("canary {unique}\n")).unwrap();
                created.push(f.clone());
                paths.push(f);
            }
        }
        let watch: Vec<PathBuf> = watch.iter().map(PathBuf::from).collect();
        paths.extend(watch.iter().cloned());
        let stamps = paths.into_iter().map(|p| (p.clone(), stamp(&p))).collect();
        Canaries {
            unique: unique.to_string(),
            dir,
            secret,
            with_tmp,
            extra_dirs: extra_dirs.to_vec(),
            watch,
            created,
            stamps,
        }
    }

    /// Every difference from the planted state.
    pub fn check(&self) -> Vec<String> {
        let mut bad = Vec::new();
        for (p, was) in &self.stamps {
            let now = stamp(p);
            if &now != was {
                bad.push(format!(
                    "ESCAPE: host canary {} changed: was {:?}, now {:?}",
                    p.display(),
                    was.as_ref().map(brief),
                    now.as_ref().map(brief)
                ));
            }
        }
        bad
    }

    /// Restores the planted state after a failure so later cases judge
    /// only themselves (watched host files are only re-stamped).
    pub fn replant(&mut self) {
        self.remove();
        let watch: Vec<String> = self
            .watch
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let watch: Vec<&str> = watch.iter().map(String::as_str).collect();
        let mut fresh = Canaries::plant(&self.unique, self.with_tmp, &self.extra_dirs, &watch);
        // `fresh` is dropped empty-handed: the files stay, now ours.
        self.created = std::mem::take(&mut fresh.created);
        self.stamps = std::mem::take(&mut fresh.stamps);
    }

    pub fn remove(&self) {
        for p in &self.created {
            if p.is_dir() {
                let _ = std::fs::remove_dir_all(p);
            } else {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

impl Drop for Canaries {
    fn drop(&mut self) {
        self.remove();
    }
}

fn brief(s: &Stamp) -> String {
    format!(
        "{} mode {:o} owner {}:{} size {} mtime {:?} nlink {} ino {} content {:?} entries {:?}",
        s.kind,
        s.mode,
        s.uid,
        s.gid,
        s.size,
        s.mtime,
        s.nlink,
        s.ino,
        s.content
            .as_ref()
            .map(|c| String::from_utf8_lossy(&c[..c.len().min(60)]).into_owned()),
        s.entries
    )
}

/// Where to look for escaped names: whole trees, and directories looked at
/// only a few levels deep.
pub struct Scan {
    pub trees: Vec<PathBuf>,
    pub shallow: Vec<(PathBuf, usize)>,
    /// Inside the container: finds there are not escapes.
    pub inside: Vec<PathBuf>,
}

impl Scan {
    /// The standard places: the daemon's temp dir (data root and its
    /// parent), its exec root, and the host's `/`, `/tmp`, `/etc`, `/root`,
    /// `/run`, `/var/tmp`.
    pub fn standard(daemon_dir: &Path, exec_root: &Path, inside: Vec<PathBuf>) -> Scan {
        Scan {
            trees: vec![daemon_dir.to_path_buf(), exec_root.to_path_buf()],
            shallow: vec![
                (PathBuf::from("/"), 1),
                (PathBuf::from("/tmp"), 3),
                (PathBuf::from("/etc"), 1),
                (PathBuf::from("/root"), 1),
                (PathBuf::from("/run"), 2),
                (PathBuf::from("/var/tmp"), 1),
                (PathBuf::from("/var/lib"), 1),
            ],
            inside,
        }
    }

    /// Paths outside the container whose name contains `token`.
    pub fn find(&self, token: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for t in &self.trees {
            self.walk(t, usize::MAX, token, &mut found);
        }
        for (d, depth) in &self.shallow {
            self.walk(d, *depth, token, &mut found);
        }
        found.sort();
        found.dedup();
        found
    }

    fn walk(&self, dir: &Path, depth: usize, token: &str, found: &mut Vec<PathBuf>) {
        if depth == 0 || self.inside.iter().any(|i| dir.starts_with(i)) {
            return;
        }
        if ["/proc", "/sys", "/dev"]
            .iter()
            .any(|p| dir == Path::new(p))
        {
            return;
        }
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if self.inside.iter().any(|i| p.starts_with(i)) {
                continue;
            }
            if e.file_name().to_string_lossy().contains(token) {
                found.push(p.clone());
            }
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                self.walk(&p, depth - 1, token, found);
            }
        }
    }
}

/// Removes what an escape left (only names carrying our unique token).
pub fn clean_escapes(found: &[PathBuf], token: &str) {
    for p in found {
        if !p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains(token))
        {
            continue;
        }
        match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => {
                let _ = std::fs::remove_dir_all(p);
            }
            Ok(_) => {
                let _ = std::fs::remove_file(p);
            }
            Err(_) => {}
        }
    }
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
pub fn rss_kib(pid: i32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Processes descended from `pid` that are berthd itself but not a shim
/// (helpers the daemon might spawn for a filesystem view).
pub fn berthd_helpers(pid: i32) -> Vec<i32> {
    let mut parent: BTreeMap<i32, i32> = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat"))
                && let Some((_, rest)) = stat.rsplit_once(')')
                && let Some(pp) = rest.split_whitespace().nth(1)
                && let Ok(pp) = pp.parse()
            {
                parent.insert(p, pp);
            }
        }
    }
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    parent
        .keys()
        .copied()
        .filter(|&p| {
            let mut q = p;
            let mut depth = 0;
            while let Some(&pp) = parent.get(&q) {
                if pp == pid {
                    break;
                }
                q = pp;
                depth += 1;
                if depth > 64 || pp <= 1 {
                    return false;
                }
            }
            if parent.get(&q) != Some(&pid) {
                return false;
            }
            let same_exe = std::fs::read_link(format!("/proc/{p}/exe")).ok() == exe;
            let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let is_shim = cmd.split(|&b| b == 0).any(|a| a == b"shim");
            same_exe && !is_shim
        })
        .collect()
}

/// Samples berthd's memory every 100 ms until stopped.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    pub peak_rss: Arc<AtomicU64>,
    pub peak_helpers: Arc<AtomicU64>,
    handle: Option<std::thread::JoinHandle<()>>,
    pid: i32,
}

impl RssSampler {
    pub fn start(pid: i32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_rss = Arc::new(AtomicU64::new(0));
        let peak_helpers = Arc::new(AtomicU64::new(0));
        let handle = {
            let (stop, peak_rss, peak_helpers) =
                (stop.clone(), peak_rss.clone(), peak_helpers.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if let Some((rss, _)) = rss_kib(pid) {
                        peak_rss.fetch_max(rss, Ordering::Relaxed);
                    }
                    // Helpers are looked for less often (a /proc walk).
                    if n.is_multiple_of(5) {
                        let sum: u64 = berthd_helpers(pid)
                            .into_iter()
                            .filter_map(|h| rss_kib(h).map(|(r, _)| r))
                            .sum();
                        peak_helpers.fetch_max(sum, Ordering::Relaxed);
                    }
                    n += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        RssSampler {
            stop,
            peak_rss,
            peak_helpers,
            handle: Some(handle),
            pid,
        }
    }

    /// (peak VmRSS, VmHWM now, peak helper RSS), KiB.
    pub fn finish(mut self) -> (u64, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        let hwm = rss_kib(self.pid).map(|(_, h)| h).unwrap_or(0);
        (
            self.peak_rss.load(Ordering::Relaxed),
            hwm,
            self.peak_helpers.load(Ordering::Relaxed),
        )
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Bytes available (to root) on the filesystem holding `p`.
pub fn free_bytes(p: &Path) -> u64 {
    let s = rustix::fs::statvfs(p).unwrap();
    s.f_bavail * s.f_frsize
}
