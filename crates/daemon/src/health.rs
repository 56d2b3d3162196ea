//! Health checks (moby `daemon/health.go`): the configured probe runs as an
//! exec every interval while the container runs; its results update
//! `State.Health` and emit `health_status` events.

use std::sync::Arc;
use std::time::Duration;

use berth_api_types::container::{Health, HealthConfig, HealthStatus, HealthcheckResult};
use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::Daemon;
use crate::container::{Container, Record, Status};
use crate::exec::Sink;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
/// Results kept in `State.Health.Log`.
const MAX_LOG_ENTRIES: usize = 5;
/// Bytes of a probe's output kept.
const MAX_OUTPUT: usize = 4096;
/// Exit code recorded for a probe that could not run or timed out.
const PROBE_FAILED: i64 = -1;

/// What a container's probe is, with moby's defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Probe {
    pub cmd: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: i64,
}

fn dur(nanos: i64, default: Duration) -> Duration {
    if nanos > 0 {
        Duration::from_nanos(nanos as u64)
    } else {
        default
    }
}

/// The container's health check merged over the image's (moby
/// mergeAndVerifyConfig: an empty test or a zero duration inherits), or
/// `None` when there is none or it is `NONE`.
pub(crate) fn probe_of(
    container: Option<&HealthConfig>,
    image: Option<&HealthConfig>,
    shell: Option<&[String]>,
) -> Option<Probe> {
    let mut hc = container.cloned().or_else(|| image.cloned())?;
    if let Some(img) = image {
        if hc.test.is_empty() {
            hc.test = img.test.clone();
        }
        for (mine, theirs) in [
            (&mut hc.interval, img.interval),
            (&mut hc.timeout, img.timeout),
            (&mut hc.start_period, img.start_period),
            (&mut hc.start_interval, img.start_interval),
        ] {
            if *mine == 0 {
                *mine = theirs;
            }
        }
        if hc.retries == 0 {
            hc.retries = img.retries;
        }
    }
    let cmd = match hc.test.first().map(String::as_str) {
        Some("CMD") => hc.test[1..].to_vec(),
        Some("CMD-SHELL") => {
            let mut v: Vec<String> = match shell.filter(|s| !s.is_empty()) {
                Some(s) => s.to_vec(),
                None => vec!["/bin/sh".into(), "-c".into()],
            };
            v.push(hc.test[1..].join(" "));
            v
        }
        _ => return None,
    };
    if cmd.is_empty() {
        return None;
    }
    Some(Probe {
        cmd,
        interval: dur(hc.interval, DEFAULT_INTERVAL),
        timeout: dur(hc.timeout, DEFAULT_TIMEOUT),
        start_period: dur(hc.start_period, Duration::ZERO),
        start_interval: dur(hc.start_interval, DEFAULT_START_INTERVAL),
        retries: if hc.retries > 0 {
            hc.retries
        } else {
            DEFAULT_RETRIES
        },
    })
}

/// Applies one result (moby handleProbeResult); returns the new status if
/// it changed.
pub(crate) fn apply_result(
    health: &mut Health,
    probe: &Probe,
    result: HealthcheckResult,
    since_start: Duration,
) -> Option<HealthStatus> {
    let old = health.status.clone();
    if result.exit_code == 0 {
        health.failing_streak = 0;
        health.status = HealthStatus::HEALTHY;
    } else {
        // Failures while starting, within the start period, do not count.
        let in_start_period =
            health.status == HealthStatus::STARTING && since_start < probe.start_period;
        if !in_start_period {
            health.failing_streak += 1;
            if health.failing_streak >= probe.retries {
                health.status = HealthStatus::UNHEALTHY;
            }
        }
    }
    health.log.push(result);
    if health.log.len() > MAX_LOG_ENTRIES {
        let extra = health.log.len() - MAX_LOG_ENTRIES;
        health.log.drain(..extra);
    }
    (health.status != old).then(|| health.status.clone())
}

impl Daemon {
    fn probe_for(&self, rec: &Record) -> Option<Probe> {
        let image = self
            .images
            .get(&rec.image_id)
            .ok()
            .and_then(|img| img.config.config.healthcheck.clone())
            .and_then(|v| serde_json::from_value::<HealthConfig>(v).ok());
        probe_of(
            rec.config.healthcheck.as_ref(),
            image.as_ref(),
            rec.config.shell.as_deref(),
        )
    }

    /// Starts the container's health monitor, if it has a health check;
    /// the status starts over at `starting`.
    pub(crate) fn start_health_monitor(self: &Arc<Self>, c: &Arc<Container>) {
        let rec = c.record();
        let Some(probe) = self.probe_for(&rec) else {
            return;
        };
        let stop = CancellationToken::new();
        {
            let mut g = c.lock();
            if let Some(old) = g.health_stop.replace(stop.clone()) {
                old.cancel();
            }
            let health = g.rec.state.health.get_or_insert_with(Health::default);
            health.status = HealthStatus::STARTING;
            health.failing_streak = 0;
            let _ = c.commit(&g);
        }
        let d = self.clone();
        let c = c.clone();
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            loop {
                let starting = c
                    .lock()
                    .rec
                    .state
                    .health
                    .as_ref()
                    .is_some_and(|h| h.status == HealthStatus::STARTING);
                let wait = if starting && started.elapsed() < probe.start_period {
                    probe.start_interval
                } else {
                    probe.interval
                };
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                match c.status() {
                    Status::Running => {}
                    // A frozen container cannot run a probe; wait.
                    Status::Paused => continue,
                    _ => return,
                }
                let result = d.run_probe(&c, &probe).await;
                if stop.is_cancelled() {
                    return;
                }
                let changed = {
                    let mut g = c.lock();
                    let Some(health) = g.rec.state.health.as_mut() else {
                        return;
                    };
                    let changed = apply_result(health, &probe, result, started.elapsed());
                    let _ = c.commit(&g);
                    changed
                };
                if let Some(status) = changed {
                    d.container_event(&c, &format!("health_status: {status}"), &[]);
                }
            }
        });
    }

    /// Runs the probe as an exec (registered and announced like any other,
    /// as dockerd does) and collects its result.
    async fn run_probe(self: &Arc<Self>, c: &Arc<Container>, probe: &Probe) -> HealthcheckResult {
        let start = Utc::now();
        let mut ids = Vec::new();
        let result = self.probe_once(c, probe, start, &mut ids).await;
        // A probe's exec is forgotten once done, or a long-lived container
        // would collect one record per interval.
        for id in ids {
            self.execs.remove(&id);
        }
        result
    }

    async fn probe_once(
        self: &Arc<Self>,
        c: &Arc<Container>,
        probe: &Probe,
        start: chrono::DateTime<Utc>,
        ids: &mut Vec<String>,
    ) -> HealthcheckResult {
        let ex = Arc::new(self.new_exec(
            c,
            probe.cmd.clone(),
            Vec::new(),
            String::new(),
            String::new(),
            false,
            false,
            [false, true, true],
        ));
        ids.push(ex.id.clone());
        self.register_exec(c, ex.clone());
        let failed = |output: String| HealthcheckResult {
            start,
            end: Utc::now(),
            exit_code: PROBE_FAILED,
            output,
        };
        let stream = match self.launch_exec(c, &ex, None).await {
            Ok(s) => s,
            Err(e) => {
                self.exec_failed(&ex, &e);
                return failed(e.message);
            }
        };
        let run = {
            let (d, c, ex) = (self.clone(), c.clone(), ex.clone());
            tokio::spawn(
                async move { d.run_exec(&c, &ex, stream, Sink::Capture(MAX_OUTPUT)).await },
            )
        };
        tokio::pin!(run);
        let (code, output) = tokio::select! {
            r = &mut run => r.unwrap_or((PROBE_FAILED, Vec::new())),
            _ = tokio::time::sleep(probe.timeout) => {
                let _ = c.paths.client().signal_exec(&ex.id, libc::SIGKILL).await;
                // Its stream ends once it is dead; do not wait for long.
                let _ = tokio::time::timeout(Duration::from_secs(5), run).await;
                return failed(format!(
                    "Health check exceeded timeout ({})",
                    go_duration(probe.timeout)
                ));
            }
        };
        HealthcheckResult {
            start,
            end: Utc::now(),
            exit_code: code,
            output: String::from_utf8_lossy(&output).into_owned(),
        }
    }
}

/// Go's `time.Duration.String()` for the whole seconds and milliseconds a
/// health check timeout is given in ("30s", "1.5s", "500ms").
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(test: &[&str]) -> HealthConfig {
        HealthConfig {
            test: test.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn probes_and_inheritance() {
        let p = probe_of(Some(&hc(&["CMD-SHELL", "exit 1"])), None, None).unwrap();
        assert_eq!(p.cmd, ["/bin/sh", "-c", "exit 1"]);
        assert_eq!(p.interval, DEFAULT_INTERVAL);
        assert_eq!(p.retries, 3);
        let p = probe_of(Some(&hc(&["CMD", "true", "x"])), None, None).unwrap();
        assert_eq!(p.cmd, ["true", "x"]);
        assert!(probe_of(Some(&hc(&["NONE"])), Some(&hc(&["CMD", "true"])), None).is_none());
        assert!(probe_of(None, None, None).is_none());
        let mut img = hc(&["CMD", "img"]);
        img.interval = 2_000_000_000;
        img.retries = 7;
        let mine = HealthConfig {
            interval: 1_000_000_000,
            ..Default::default()
        };
        let p = probe_of(Some(&mine), Some(&img), None).unwrap();
        assert_eq!(p.cmd, ["img"]);
        assert_eq!(p.interval, Duration::from_secs(1));
        assert_eq!(p.retries, 7);
        let shell = ["/bin/bash".to_string(), "-ec".to_string()];
        let p = probe_of(Some(&hc(&["CMD-SHELL", "a"])), None, Some(&shell)).unwrap();
        assert_eq!(p.cmd, ["/bin/bash", "-ec", "a"]);
    }

    #[test]
    fn results_move_the_status_like_dockerd() {
        let probe = Probe {
            cmd: vec!["x".into()],
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            start_period: Duration::from_secs(10),
            start_interval: DEFAULT_START_INTERVAL,
            retries: 2,
        };
        let r = |code| HealthcheckResult {
            exit_code: code,
            ..Default::default()
        };
        let mut h = Health {
            status: HealthStatus::STARTING,
            ..Default::default()
        };
        // Within the start period a failure does not count.
        assert_eq!(
            apply_result(&mut h, &probe, r(1), Duration::from_secs(1)),
            None
        );
        assert_eq!(h.failing_streak, 0);
        assert_eq!(
            apply_result(&mut h, &probe, r(0), Duration::from_secs(2)),
            Some(HealthStatus::HEALTHY)
        );
        assert_eq!(
            apply_result(&mut h, &probe, r(1), Duration::from_secs(3)),
            None
        );
        assert_eq!(h.failing_streak, 1);
        assert_eq!(
            apply_result(&mut h, &probe, r(1), Duration::from_secs(4)),
            Some(HealthStatus::UNHEALTHY)
        );
        for i in 0..10 {
            apply_result(&mut h, &probe, r(1), Duration::from_secs(5 + i));
        }
        assert_eq!(h.log.len(), MAX_LOG_ENTRIES);
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(200)), "200ms");
    }
}
