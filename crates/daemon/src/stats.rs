//! `docker stats`: samples of a container's cgroup, v1 or v2, shaped as
//! dockerd's (moby `daemon/stats_unix.go`, and the docker CLI's
//! `stats_helpers.go`, which computes the percentages from them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_api_types::stats::{
    BlkioStatEntry, BlkioStats, CpuUsage, MemoryStats, PidsStats, StatsResponse, ThrottlingData,
};
use chrono::Utc;
use futures_util::stream::{self, BoxStream, StreamExt};

use crate::Daemon;
use crate::container::Container;
use crate::error::Result;

/// dockerd's collector interval.
const INTERVAL: Duration = Duration::from_secs(1);
/// /proc/stat counts in USER_HZ, which the kernel ABI fixes at 100.
const USER_HZ: u64 = 100;
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

impl Daemon {
    pub async fn container_stats(
        self: &Arc<Self>,
        key: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<BoxStream<'static, StatsResponse>> {
        let c = self.lookup(key)?;
        let v2 = self.cgroup_v2;
        let sampler = move |c: &Container| sample(c, v2);
        // A single sample waits for a second one unless one-shot, so that
        // its precpu_stats are filled (moby's noStreamFirstFrame).
        let skip_first = !stream && !one_shot && c.status().is_live();
        let out = stream::unfold(
            (c, None::<StatsResponse>, true),
            move |(c, prev, first)| async move {
                if !first {
                    tokio::time::sleep(INTERVAL).await;
                }
                let mut s = tokio::task::spawn_blocking({
                    let c = c.clone();
                    move || sampler(&c)
                })
                .await
                .unwrap_or_default();
                if let Some(p) = &prev {
                    s.precpu_stats = p.cpu_stats.clone();
                    s.preread = p.read;
                }
                Some((s.clone(), (c, Some(s), false)))
            },
        );
        Ok(if skip_first {
            out.skip(1).boxed()
        } else {
            out.boxed()
        })
    }
}

/// One sample; a container without a running task gives dockerd's empty
/// one (name and id only).
fn sample(c: &Container, v2: bool) -> StatsResponse {
    let (name, live) = {
        let g = c.lock();
        (
            g.rec.name.clone(),
            g.rec.state.status.is_live() && g.task_live,
        )
    };
    let mut s = StatsResponse {
        name,
        id: c.id.clone(),
        ..Default::default()
    };
    if !live {
        return s;
    }
    let rel = format!("berth/{}", c.id);
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    let num = |p: PathBuf| read(p).trim().parse::<u64>().ok();
    let host_mem = host_memory();
    if v2 {
        let dir = Path::new(CGROUP_ROOT).join(&rel);
        s.memory_stats = memory_v2(
            num(dir.join("memory.current")),
            &read(dir.join("memory.max")),
            &read(dir.join("memory.stat")),
            host_mem,
        );
        let (usage, throttling) = cpu_v2(&read(dir.join("cpu.stat")));
        s.cpu_stats.cpu_usage = usage;
        s.cpu_stats.throttling_data = throttling;
        s.pids_stats = pids(num(dir.join("pids.current")), &read(dir.join("pids.max")));
        s.blkio_stats = blkio_v2(&read(dir.join("io.stat")));
    } else {
        let ctl = |c: &str| Path::new(CGROUP_ROOT).join(c).join(&rel);
        s.memory_stats = memory_v1(
            num(ctl("memory").join("memory.usage_in_bytes")),
            num(ctl("memory").join("memory.max_usage_in_bytes")),
            num(ctl("memory").join("memory.limit_in_bytes")),
            num(ctl("memory").join("memory.failcnt")),
            &read(ctl("memory").join("memory.stat")),
            host_mem,
        );
        let acct = ctl("cpuacct");
        s.cpu_stats.cpu_usage = cpu_v1(
            num(acct.join("cpuacct.usage")),
            &read(acct.join("cpuacct.usage_percpu")),
            &read(acct.join("cpuacct.stat")),
        );
        s.cpu_stats.throttling_data = throttling_v1(&read(ctl("cpu").join("cpu.stat")));
        s.pids_stats = pids(
            num(ctl("pids").join("pids.current")),
            &read(ctl("pids").join("pids.max")),
        );
        s.blkio_stats = blkio_v1(
            &read(ctl("blkio").join("blkio.throttle.io_service_bytes_recursive")),
            &read(ctl("blkio").join("blkio.throttle.io_serviced_recursive")),
        );
    }
    let (system, cpus) = system_cpu(&read(PathBuf::from("/proc/stat")));
    s.cpu_stats.system_cpu_usage = system;
    s.cpu_stats.online_cpus = cpus;
    // Read last, so that the CPU figures are no older than the stamp.
    s.read = Utc::now();
    s
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}

/// `key value` lines (memory.stat, cpu.stat, cpuacct.stat).
fn flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// An unlimited container is reported against the host's memory, as
/// dockerd does.
fn clamp_limit(limit: Option<u64>, host: u64) -> u64 {
    match limit {
        Some(l) if host == 0 || l < host => l,
        _ => host,
    }
}

fn memory_v1(
    usage: Option<u64>,
    max_usage: Option<u64>,
    limit: Option<u64>,
    failcnt: Option<u64>,
    stat: &str,
    host: u64,
) -> MemoryStats {
    MemoryStats {
        usage: usage.unwrap_or(0),
        max_usage: max_usage.unwrap_or(0),
        stats: flat_keyed(stat),
        failcnt: failcnt.unwrap_or(0),
        limit: clamp_limit(limit, host),
    }
}

fn memory_v2(current: Option<u64>, max: &str, stat: &str, host: u64) -> MemoryStats {
    MemoryStats {
        usage: current.unwrap_or(0),
        stats: flat_keyed(stat),
        limit: clamp_limit(max.trim().parse().ok(), host),
        ..Default::default()
    }
}

fn cpu_v1(total: Option<u64>, percpu: &str, stat: &str) -> CpuUsage {
    let ticks = flat_keyed(stat);
    let ns = |k: &str| ticks.get(k).copied().unwrap_or(0) * (1_000_000_000 / USER_HZ);
    CpuUsage {
        total_usage: total.unwrap_or(0),
        percpu_usage: percpu
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect(),
        usage_in_kernelmode: ns("system"),
        usage_in_usermode: ns("user"),
    }
}

fn throttling_v1(stat: &str) -> ThrottlingData {
    let m = flat_keyed(stat);
    let g = |k: &str| m.get(k).copied().unwrap_or(0);
    ThrottlingData {
        periods: g("nr_periods"),
        throttled_periods: g("nr_throttled"),
        throttled_time: g("throttled_time"),
    }
}

fn cpu_v2(stat: &str) -> (CpuUsage, ThrottlingData) {
    let m = flat_keyed(stat);
    let g = |k: &str| m.get(k).copied().unwrap_or(0);
    (
        CpuUsage {
            total_usage: g("usage_usec") * 1000,
            percpu_usage: Vec::new(),
            usage_in_kernelmode: g("system_usec") * 1000,
            usage_in_usermode: g("user_usec") * 1000,
        },
        ThrottlingData {
            periods: g("nr_periods"),
            throttled_periods: g("nr_throttled"),
            throttled_time: g("throttled_usec") * 1000,
        },
    )
}

fn pids(current: Option<u64>, max: &str) -> PidsStats {
    PidsStats {
        current: current.unwrap_or(0),
        // "max": no limit, which dockerd reports as 0 (left out).
        limit: max.trim().parse().unwrap_or(0),
    }
}

/// blkio v1 `MAJ:MIN Op Value` lines (the final `Total N` is dropped).
fn blkio_v1_entries(text: &str) -> Option<Vec<BlkioStatEntry>> {
    let v: Vec<BlkioStatEntry> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (dev, op, value) = (f.next()?, f.next()?, f.next()?);
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioStatEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_string(),
                value: value.parse().ok()?,
            })
        })
        .collect();
    (!v.is_empty()).then_some(v)
}

fn blkio_v1(bytes: &str, ios: &str) -> BlkioStats {
    BlkioStats {
        io_service_bytes_recursive: blkio_v1_entries(bytes),
        io_serviced_recursive: blkio_v1_entries(ios),
        ..Default::default()
    }
}

/// io.stat: `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. …`, reported as
/// dockerd does for v2 (lower-case `read`/`write` ops).
fn blkio_v2(text: &str) -> BlkioStats {
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "read"),
                "wbytes" => (&mut bytes, "write"),
                "rios" => (&mut ios, "read"),
                "wios" => (&mut ios, "write"),
                _ => continue,
            };
            list.push(BlkioStatEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    BlkioStats {
        io_service_bytes_recursive: (!bytes.is_empty()).then_some(bytes),
        io_serviced_recursive: (!ios.is_empty()).then_some(ios),
        ..Default::default()
    }
}

/// The host's CPU time in nanoseconds (the first seven fields of the `cpu`
/// line, as moby sums them) and the number of online CPUs.
fn system_cpu(proc_stat: &str) -> (u64, u32) {
    let mut total = 0;
    let mut cpus = 0;
    for line in proc_stat.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("cpu") => {
                let ticks: u64 = f.take(7).filter_map(|v| v.parse::<u64>().ok()).sum();
                total = ticks * (1_000_000_000 / USER_HZ);
            }
            Some(c) if c.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    (total, cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_v1_files() {
        let stat = "cache 4096\nrss 1052672\ntotal_inactive_file 4096\ntotal_rss 1052672\n";
        let m = memory_v1(
            Some(2_000_000),
            Some(3_000_000),
            Some(9_223_372_036_854_771_712),
            Some(0),
            stat,
            8 << 30,
        );
        assert_eq!(m.usage, 2_000_000);
        assert_eq!(m.max_usage, 3_000_000);
        assert_eq!(m.limit, 8 << 30, "unlimited is the host's memory");
        assert_eq!(m.stats["total_inactive_file"], 4096);
        assert_eq!(
            memory_v1(None, None, Some(64 << 20), None, "", 8 << 30).limit,
            64 << 20
        );
        let cpu = cpu_v1(Some(123_456_789), "100 200 \n", "user 12\nsystem 3\n");
        assert_eq!(cpu.total_usage, 123_456_789);
        assert_eq!(cpu.percpu_usage, [100, 200]);
        assert_eq!(cpu.usage_in_usermode, 120_000_000);
        assert_eq!(cpu.usage_in_kernelmode, 30_000_000);
        let t = throttling_v1("nr_periods 10\nnr_throttled 2\nthrottled_time 500\n");
        assert_eq!(
            (t.periods, t.throttled_periods, t.throttled_time),
            (10, 2, 500)
        );
        assert_eq!(
            pids(Some(3), "max\n"),
            PidsStats {
                current: 3,
                limit: 0
            }
        );
        assert_eq!(pids(Some(3), "50\n").limit, 50);
        let b = blkio_v1(
            "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\nTotal 12288\n",
            "8:0 Read 1\nTotal 1\n",
        );
        let bytes = b.io_service_bytes_recursive.unwrap();
        assert_eq!(bytes.len(), 3);
        assert_eq!((bytes[1].op.as_str(), bytes[1].value), ("Write", 8192));
        assert_eq!(blkio_v1("", "").io_service_bytes_recursive, None);
    }

    #[test]
    fn cgroup_v2_files() {
        let m = memory_v2(
            Some(5000),
            "max\n",
            "anon 100\ninactive_file 200\n",
            1 << 30,
        );
        assert_eq!((m.usage, m.limit), (5000, 1 << 30));
        assert_eq!(m.stats["inactive_file"], 200);
        assert_eq!(memory_v2(Some(1), "1048576\n", "", 1 << 30).limit, 1 << 20);
        let (u, t) = cpu_v2(
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 7\n",
        );
        assert_eq!(
            (u.total_usage, u.usage_in_usermode, u.usage_in_kernelmode),
            (1_500_000, 1_000_000, 500_000)
        );
        assert_eq!((t.periods, t.throttled_time), (4, 7000));
        let b = blkio_v2("8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n");
        let bytes = b.io_service_bytes_recursive.unwrap();
        assert_eq!(
            bytes
                .iter()
                .map(|e| (e.op.as_str(), e.value))
                .collect::<Vec<_>>(),
            [("read", 4096), ("write", 8192)]
        );
        assert_eq!(b.io_serviced_recursive.unwrap().len(), 2);
    }

    #[test]
    fn proc_stat() {
        let text = "cpu  100 0 50 1000 10 0 5 7 0 0\ncpu0 50 0 25 500 5 0 2 3 0 0\ncpu1 50 0 25 500 5 0 3 4 0 0\nintr 1\n";
        let (ns, cpus) = system_cpu(text);
        assert_eq!(ns, 1165 * 10_000_000);
        assert_eq!(cpus, 2);
    }
}
