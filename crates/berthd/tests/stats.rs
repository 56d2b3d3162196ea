//! `docker stats` and `docker update` end to end, checked against the
//! container's own cgroup files.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Berthd, stderr};

/// A cgroup file of the container, v1 (`controller`) or v2.
fn cgroup_file(id: &str, controller: &str, v1: &str, v2: &str) -> PathBuf {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        PathBuf::from(format!("/sys/fs/cgroup/berth/{id}/{v2}"))
    } else {
        PathBuf::from(format!("/sys/fs/cgroup/{controller}/berth/{id}/{v1}"))
    }
}

fn read_num(p: &PathBuf) -> u64 {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .parse()
        .unwrap()
}

/// What the CLI shows as memory usage: usage less the inactive file cache.
fn cgroup_memory(id: &str) -> u64 {
    let usage = read_num(&cgroup_file(
        id,
        "memory",
        "memory.usage_in_bytes",
        "memory.current",
    ));
    let stat =
        std::fs::read_to_string(cgroup_file(id, "memory", "memory.stat", "memory.stat")).unwrap();
    let key = if stat.contains("total_inactive_file") {
        "total_inactive_file "
    } else {
        "inactive_file "
    };
    let inactive: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    usage.saturating_sub(inactive)
}

/// "64.5MiB" → bytes.
fn parse_size(s: &str) -> f64 {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().unwrap();
    n * match unit {
        "B" => 1.0,
        "KiB" | "kB" => 1024.0,
        "MiB" | "MB" => 1024.0 * 1024.0,
        "GiB" | "GB" => 1024.0 * 1024.0 * 1024.0,
        u => panic!("unit {u}"),
    }
}

/// One HTTP GET on the API socket whose body is read line by line for at
/// most `limit`; returns the lines and when each arrived.
fn stream_lines(d: &Berthd, path: &str, n: usize, limit: Duration) -> Vec<(Instant, String)> {
    let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: docker\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut out = Vec::new();
    let deadline = Instant::now() + limit;
    let mut line = String::new();
    // Chunked encoding: chunk sizes and payload lines alternate; keep the
    // JSON lines.
    while out.len() < n && Instant::now() < deadline {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.starts_with('{') {
            out.push((Instant::now(), line.trim().to_string()));
        }
    }
    out
}

#[test]
fn stats_match_the_cgroup_and_stream_every_second() {
    require_env!();
    let d = Berthd::start();
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "st",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/shm/fill bs=1M count=64 2>/dev/null; sleep 600",
    ]);
    // Let the 64 MiB land.
    std::thread::sleep(Duration::from_secs(2));
    let out = d.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.MemUsage}}|{{.CPUPerc}}|{{.PIDs}}",
        "st",
    ]);
    let cg = cgroup_memory(&id) as f64;
    let parts: Vec<&str> = out.split('|').collect();
    let shown = parse_size(parts[0].split('/').next().unwrap());
    assert!(
        (shown - cg).abs() <= cg * 0.10,
        "docker stats shows {shown} bytes, the cgroup {cg}: {out}"
    );
    assert!(shown > 60.0 * 1024.0 * 1024.0, "{out}");
    let cpu: f64 = parts[1].trim_end_matches('%').parse().unwrap();
    assert!((0.0..=200.0).contains(&cpu), "{out}");
    assert_eq!(parts[2], "1", "{out}");

    // The raw API: one sample with precpu filled, after about a second.
    let (code, _, body) = d.http("GET", "/containers/st/stats?stream=false", None);
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["name"], "/st");
    assert!(
        v["precpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert!(v["cpu_stats"]["online_cpus"].as_u64().unwrap() >= 1);
    assert!(v["memory_stats"]["limit"].as_u64().unwrap() > 0);
    assert!(v["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap() > 0);
    // one-shot answers at once, without precpu.
    let t = Instant::now();
    let (code, _, body) = d.http(
        "GET",
        "/containers/st/stats?stream=false&one-shot=true",
        None,
    );
    assert_eq!(code, 200);
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["precpu_stats"].get("system_cpu_usage").is_none(), "{v}");
    // A stream: samples about a second apart.
    let lines = stream_lines(&d, "/containers/st/stats", 3, Duration::from_secs(10));
    assert_eq!(lines.len(), 3, "{lines:?}");
    let gap = lines[2].0 - lines[1].0;
    assert!(
        gap > Duration::from_millis(700) && gap < Duration::from_millis(1500),
        "{gap:?}"
    );
    let v: serde_json::Value = serde_json::from_str(&lines[2].1).unwrap();
    assert!(
        v["precpu_stats"]["cpu_usage"]["total_usage"]
            .as_u64()
            .unwrap()
            > 0
    );

    // A stopped container: dockerd's empty sample.
    d.ok(&["stop", "-t", "0", "st"]);
    let (code, _, body) = d.http("GET", "/containers/st/stats?stream=false", None);
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["read"], "0001-01-01T00:00:00Z");
    let (code, _, _) = d.http("GET", "/containers/nope/stats?stream=false", None);
    assert_eq!(code, 404);
}

#[test]
fn update_changes_a_running_containers_limits() {
    require_env!();
    let d = Berthd::start();
    let id = d.ok(&["run", "-d", "--name", "up", "busybox", "sleep", "600"]);
    d.ok(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--cpu-shares",
        "512",
        "--pids-limit",
        "50",
        "up",
    ]);
    let mem = cgroup_file(&id, "memory", "memory.limit_in_bytes", "memory.max");
    assert_eq!(read_num(&mem), 64 << 20);
    let pids = cgroup_file(&id, "pids", "pids.max", "pids.max");
    assert_eq!(read_num(&pids), 50);
    if !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        assert_eq!(read_num(&cgroup_file(&id, "cpu", "cpu.shares", "")), 512);
    }
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}}",
            "up"
        ]),
        format!("{} {} 512 50", 64 << 20, 128 << 20)
    );
    // The limit holds: the container cannot start more than 50 processes.
    let out = d.docker(&[
        "exec",
        "up",
        "sh",
        "-c",
        "for i in $(seq 60); do sleep 5 & done; wait",
    ]);
    assert!(
        stderr(&out).contains("fork") || stderr(&out).contains("Resource temporarily unavailable"),
        "{}",
        stderr(&out)
    );
    d.ok(&["update", "--restart", "on-failure:2", "up"]);
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}",
            "up"
        ]),
        "on-failure 2"
    );
    let out = d.docker(&["update", "--restart", "always:3", "up"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("maximum retry count can only be used with 'on-failure'"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["update", "--memory", "1m", "up"]);
    assert!(
        stderr(&out).contains("Minimum memory limit allowed is 6MB"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["update", "--memory", "64m", "no-such"]);
    assert!(
        stderr(&out).contains("No such container: no-such"),
        "{}",
        stderr(&out)
    );
    // A stopped container's update is recorded and applied at its start.
    d.ok(&["stop", "-t", "0", "up"]);
    d.ok(&["update", "--memory", "96m", "--memory-swap", "192m", "up"]);
    d.ok(&["start", "up"]);
    assert_eq!(read_num(&mem), 96 << 20);
    d.ok(&["rm", "-f", "up"]);
}

#[test]
fn run_applies_resource_limits_and_ulimits() {
    require_env!();
    let d = Berthd::start();
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "res",
        "--memory",
        "48m",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "256",
        "--pids-limit",
        "20",
        "--ulimit",
        "nofile=1000:2000",
        "busybox",
        "sleep",
        "600",
    ]);
    assert_eq!(
        read_num(&cgroup_file(
            &id,
            "memory",
            "memory.limit_in_bytes",
            "memory.max"
        )),
        48 << 20
    );
    assert_eq!(
        read_num(&cgroup_file(&id, "pids", "pids.max", "pids.max")),
        20
    );
    if !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        assert_eq!(
            read_num(&cgroup_file(&id, "cpu", "cpu.cfs_quota_us", "")),
            50_000
        );
        assert_eq!(
            read_num(&cgroup_file(&id, "cpu", "cpu.cfs_period_us", "")),
            100_000
        );
        assert_eq!(read_num(&cgroup_file(&id, "cpu", "cpu.shares", "")), 256);
    }
    assert_eq!(
        d.ok(&["exec", "res", "sh", "-c", "ulimit -n; ulimit -Hn"]),
        "1000\n2000"
    );
    // The memory limit is what `docker stats` reports as the limit.
    let (code, _, body) = d.http(
        "GET",
        "/containers/res/stats?stream=false&one-shot=true",
        None,
    );
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["memory_stats"]["limit"].as_u64().unwrap(), 48 << 20);
    assert_eq!(v["pids_stats"]["limit"].as_u64().unwrap(), 20);
    d.ok(&["rm", "-f", "res"]);
}
