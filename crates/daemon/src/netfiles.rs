//! The files Docker bind-mounts over a container's /etc/hostname, /etc/hosts
//! and /etc/resolv.conf, kept in the container's directory.

use std::path::Path;

use crate::container::Record;
use crate::error::{Error, Result};
use crate::network::NetworkMode;

/// (file in the container dir, destination in the container)
pub const FILES: &[(&str, &str)] = &[
    ("hostname", "/etc/hostname"),
    ("hosts", "/etc/hosts"),
    ("resolv.conf", "/etc/resolv.conf"),
];

/// What Docker falls back to when the host's resolver is on loopback, which
/// a container with its own network namespace cannot reach.
const FALLBACK_NAMESERVERS: &[&str] = &["8.8.8.8", "8.8.4.4"];

pub fn write(dir: &Path, rec: &Record, net: &NetworkMode) -> Result<()> {
    let w = |name: &str, body: String| {
        std::fs::write(dir.join(name), body).map_err(|e| Error::io(format!("write {name}"), e))
    };
    let cfg = &rec.config;
    w("hostname", format!("{}\n", cfg.hostname))?;
    let hosts = if *net == NetworkMode::Host {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        let mut h = String::from(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
        );
        for extra in rec.host_config.extra_hosts.iter().flatten() {
            // "name:ip" (or "name=ip" from newer clients).
            if let Some((name, ip)) = extra.split_once('=').or_else(|| extra.split_once(':')) {
                h.push_str(&format!("{ip}\t{name}\n"));
            }
        }
        h
    };
    w("hosts", hosts)?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    w(
        "resolv.conf",
        resolv_conf(&host_resolv, rec, *net == NetworkMode::Host),
    )?;
    Ok(())
}

fn resolv_conf(host: &str, rec: &Record, host_net: bool) -> String {
    let hc = &rec.host_config;
    let dns = hc.dns.clone().unwrap_or_default();
    let search = hc.dns_search.clone().unwrap_or_default();
    let options = hc.dns_options.clone().unwrap_or_default();
    let mut out = String::new();
    let mut servers: Vec<String> = Vec::new();
    for line in host.lines() {
        let t = line.trim();
        if let Some(ns) = t.strip_prefix("nameserver") {
            let ns = ns.trim();
            if host_net || !(ns.starts_with("127.") || ns == "::1") {
                servers.push(ns.to_string());
            }
        } else if (t.starts_with("search") && !search.is_empty())
            || (t.starts_with("options") && !options.is_empty())
        {
            continue;
        } else if !t.is_empty() {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !dns.is_empty() {
        servers = dns;
    } else if servers.is_empty() {
        servers = FALLBACK_NAMESERVERS.iter().map(|s| s.to_string()).collect();
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}
