//! Nothing leaks: after many `docker run --rm`, the daemon's open fds, the
//! host's mounts, shims and zombies are back where they started.

mod common;

use std::time::Duration;

use common::{Berthd, eventually};

fn count_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn count_mounts() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| m.lines().count())
        .unwrap_or(0)
}

/// (shims, zombies) on the machine.
fn count_processes() -> (usize, usize) {
    let mut shims = 0;
    let mut zombies = 0;
    for ent in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = ent.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(ent.path().join("stat")) else {
            continue;
        };
        if let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r)
            && rest.starts_with('Z')
        {
            zombies += 1;
        }
        if let Ok(cmd) = std::fs::read(ent.path().join("cmdline"))
            && String::from_utf8_lossy(&cmd).contains("\0shim\0--id\0")
        {
            shims += 1;
        }
    }
    (shims, zombies)
}

#[test]
fn two_hundred_runs_leak_nothing() {
    require_env!();
    let d = Berthd::start();
    // Warm up (first-run allocations are not leaks).
    for _ in 0..3 {
        d.ok(&["run", "--rm", "busybox", "true"]);
    }
    let pid = d.pid();
    let fds = count_fds(pid);
    let mounts = count_mounts();
    let (shims, zombies) = count_processes();
    for i in 0..200 {
        let out = d.docker(&["run", "--rm", "busybox", "true"]);
        assert!(out.status.success(), "run {i}: {}", common::stderr(&out));
    }
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    // Reaping and unmounting finish asynchronously after the last exit.
    assert!(
        eventually(Duration::from_secs(10), || count_fds(pid) <= fds),
        "berthd fds: {fds} before, {} after",
        count_fds(pid)
    );
    assert!(
        eventually(Duration::from_secs(10), || count_mounts() <= mounts),
        "mounts: {mounts} before, {} after",
        count_mounts()
    );
    assert!(
        eventually(Duration::from_secs(10), || {
            let (s, z) = count_processes();
            s <= shims && z <= zombies
        }),
        "shims/zombies: {shims}/{zombies} before, {:?} after",
        count_processes()
    );
}
