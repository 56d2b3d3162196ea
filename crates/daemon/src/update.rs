//! `docker update` (moby `daemon/update.go` and `Container.UpdateContainer`):
//! the resources the client set are merged into the record and, for a live
//! container, applied through the OCI runtime; the restart policy is
//! recorded for the next exit.

use std::sync::Arc;

use berth_api_types::container::{Resources, UpdateConfig, UpdateResponse};
use serde_json::{Value, json};

use crate::Daemon;
use crate::container::Status;
use crate::error::{Error, Result};

/// The smallest memory limit dockerd accepts.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// The CFS period that `--cpus` uses.
const NANO_CPU_PERIOD: i64 = 100_000;

impl Daemon {
    pub async fn container_update(
        self: &Arc<Self>,
        key: &str,
        update: UpdateConfig,
    ) -> Result<UpdateResponse> {
        let c = self.lookup(key)?;
        let _ops = c.ops.lock().await;
        let cannot = |e: Error| {
            Error::new(
                e.kind,
                format!("Cannot update container {}: {}", c.id, e.message),
            )
        };
        let (resources, live) = {
            let g = c.lock();
            match g.rec.state.status {
                Status::Removing | Status::Dead => {
                    return Err(cannot(Error::conflict(
                        "container is marked for removal and cannot be \"update\"",
                    )));
                }
                _ => {}
            }
            let mut merged = g.rec.host_config.resources.clone();
            merge(&mut merged, &update.resources).map_err(cannot)?;
            if let Some(p) = &update.restart_policy
                && !p.name.is_empty()
            {
                crate::restart::validate(p).map_err(cannot)?;
                if g.rec.host_config.auto_remove && !p.is_none() {
                    return Err(cannot(Error::invalid(
                        "Restart policy cannot be updated because AutoRemove is enabled for the container",
                    )));
                }
            }
            (
                merged,
                g.rec.state.status.is_live() && g.rec.state.status != Status::Restarting,
            )
        };
        if live {
            let json = serde_json::to_vec(&linux_resources(&resources))
                .map_err(|e| Error::internal(e.to_string()))?;
            let file = c.paths.bundle.join("update.json");
            self.runtime
                .update(&c.id, &json, &file)
                .await
                .map_err(|e| cannot(e.into()))?;
        }
        {
            let mut g = c.lock();
            g.rec.host_config.resources = resources;
            if let Some(p) = update.restart_policy
                && !p.name.is_empty()
            {
                g.rec.host_config.restart_policy = p;
            }
            c.commit(&g)?;
        }
        self.container_event(&c, "update", &[]);
        Ok(UpdateResponse {
            warnings: Vec::new(),
        })
    }
}

/// moby `UpdateContainer`: what the client set replaces what the container
/// has, with its conflict checks.
fn merge(cur: &mut Resources, new: &Resources) -> Result<()> {
    let conflict = |m: &str| Err(Error::invalid(format!("Conflicting options: {m}")));
    if new.nano_cpus > 0 && cur.cpu_period > 0 {
        return conflict("Nano CPUs cannot be updated as CPU Period has already been set");
    }
    if new.nano_cpus > 0 && cur.cpu_quota > 0 {
        return conflict("Nano CPUs cannot be updated as CPU Quota has already been set");
    }
    if new.cpu_period > 0 && cur.nano_cpus > 0 {
        return conflict("CPU Period cannot be updated as NanoCPUs has already been set");
    }
    if new.cpu_quota > 0 && cur.nano_cpus > 0 {
        return conflict("CPU Quota cannot be updated as NanoCPUs has already been set");
    }
    if new.memory != 0 && new.memory < MIN_MEMORY {
        return Err(Error::invalid("Minimum memory limit allowed is 6MB"));
    }
    if new.memory > 0 && cur.memory_swap > 0 && new.memory > cur.memory_swap && new.memory_swap == 0
    {
        return Err(Error::invalid(
            "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
        ));
    }
    let memory = if new.memory != 0 {
        new.memory
    } else {
        cur.memory
    };
    let swap = if new.memory_swap != 0 {
        new.memory_swap
    } else {
        cur.memory_swap
    };
    if memory > 0 && swap > 0 && swap < memory {
        return Err(Error::invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if new.blkio_weight != 0 {
        cur.blkio_weight = new.blkio_weight;
    }
    if new.cpu_shares != 0 {
        cur.cpu_shares = new.cpu_shares;
    }
    if new.nano_cpus != 0 {
        cur.nano_cpus = new.nano_cpus;
    }
    if new.cpu_period != 0 {
        cur.cpu_period = new.cpu_period;
    }
    if new.cpu_quota != 0 {
        cur.cpu_quota = new.cpu_quota;
    }
    if !new.cpuset_cpus.is_empty() {
        cur.cpuset_cpus = new.cpuset_cpus.clone();
    }
    if !new.cpuset_mems.is_empty() {
        cur.cpuset_mems = new.cpuset_mems.clone();
    }
    cur.memory = memory;
    cur.memory_swap = swap;
    if new.memory_reservation != 0 {
        cur.memory_reservation = new.memory_reservation;
    }
    if new.pids_limit.is_some() {
        cur.pids_limit = new.pids_limit;
    }
    Ok(())
}

/// The OCI `LinuxResources` that `runc update --resources` applies.
fn linux_resources(r: &Resources) -> Value {
    let mut out = json!({});
    let mut mem = json!({});
    if r.memory > 0 {
        mem["limit"] = json!(r.memory);
    }
    if r.memory_reservation > 0 {
        mem["reservation"] = json!(r.memory_reservation);
    }
    if r.memory_swap != 0 {
        mem["swap"] = json!(r.memory_swap);
    }
    if mem.as_object().is_some_and(|m| !m.is_empty()) {
        out["memory"] = mem;
    }
    let mut cpu = json!({});
    if r.cpu_shares > 0 {
        cpu["shares"] = json!(r.cpu_shares);
    }
    if r.nano_cpus > 0 {
        cpu["period"] = json!(NANO_CPU_PERIOD);
        cpu["quota"] = json!(r.nano_cpus * NANO_CPU_PERIOD / 1_000_000_000);
    } else {
        if r.cpu_period > 0 {
            cpu["period"] = json!(r.cpu_period);
        }
        if r.cpu_quota != 0 {
            cpu["quota"] = json!(r.cpu_quota);
        }
    }
    if !r.cpuset_cpus.is_empty() {
        cpu["cpus"] = json!(r.cpuset_cpus);
    }
    if !r.cpuset_mems.is_empty() {
        cpu["mems"] = json!(r.cpuset_mems);
    }
    if cpu.as_object().is_some_and(|m| !m.is_empty()) {
        out["cpu"] = cpu;
    }
    if let Some(p) = r.pids_limit {
        // Docker's 0 and -1 both mean no limit; OCI says -1.
        out["pids"] = json!({"limit": if p > 0 { p } else { -1 }});
    }
    if r.blkio_weight > 0 {
        out["blockIO"] = json!({"weight": r.blkio_weight});
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_takes_what_was_set_and_checks_conflicts() {
        let mut cur = Resources {
            cpu_shares: 1024,
            memory: 64 << 20,
            memory_swap: 128 << 20,
            ..Default::default()
        };
        let new = Resources {
            cpu_shares: 512,
            pids_limit: Some(50),
            ..Default::default()
        };
        merge(&mut cur, &new).unwrap();
        assert_eq!(
            (cur.cpu_shares, cur.memory, cur.pids_limit),
            (512, 64 << 20, Some(50))
        );
        // Raising memory past the swap limit needs the swap too.
        let e = merge(
            &mut cur.clone(),
            &Resources {
                memory: 256 << 20,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.message.contains("update the memoryswap at the same time"));
        assert!(
            merge(
                &mut cur.clone(),
                &Resources {
                    memory: 1 << 20,
                    ..Default::default()
                }
            )
            .unwrap_err()
            .message
            .contains("Minimum memory limit allowed is 6MB")
        );
        let mut nano = Resources {
            nano_cpus: 1_000_000_000,
            ..Default::default()
        };
        assert!(
            merge(
                &mut nano,
                &Resources {
                    cpu_quota: 50_000,
                    ..Default::default()
                }
            )
            .is_err()
        );
    }

    #[test]
    fn oci_resources() {
        let v = linux_resources(&Resources {
            memory: 64 << 20,
            memory_swap: 128 << 20,
            cpu_shares: 512,
            nano_cpus: 1_500_000_000,
            pids_limit: Some(0),
            ..Default::default()
        });
        assert_eq!(
            v,
            json!({
                "memory": {"limit": 64 << 20, "swap": 128 << 20},
                "cpu": {"shares": 512, "period": 100000, "quota": 150000},
                "pids": {"limit": -1}
            })
        );
        assert_eq!(linux_resources(&Resources::default()), json!({}));
    }
}
