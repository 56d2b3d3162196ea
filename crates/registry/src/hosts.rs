//! Which host serves a registry domain, and whether it may be spoken to
//! without verified TLS.
//!
//! dockerd (`registry/config.go`, `isSecureIndex`): an index is insecure if
//! `--insecure-registry` names it exactly (`host[:port]`), or if one of its
//! IP addresses is inside an insecure CIDR; `127.0.0.0/8` is always one. For
//! an insecure registry it tries https without certificate verification
//! first, then plain http (`lookupV2Endpoints`).

use std::net::IpAddr;

/// Docker Hub's registry host: `docker.io` and `index.docker.io` are names
/// of the index, not hosts that serve `/v2/`.
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";

/// The host[:port] that serves `/v2/` for a registry domain.
pub fn registry_host(domain: &str) -> &str {
    if is_docker_hub(domain) {
        DOCKER_HUB_HOST
    } else {
        domain
    }
}

pub fn is_docker_hub(domain: &str) -> bool {
    matches!(
        domain.to_ascii_lowercase().as_str(),
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// A `docker login` server argument as a registry domain: scheme and path
/// dropped (dockerd's `ConvertToHostname`), Docker Hub's aliases folded.
pub fn server_domain(server: &str) -> String {
    let s = server.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or(s);
    if host.is_empty() || is_docker_hub(host) {
        "docker.io".to_string()
    } else {
        host.to_string()
    }
}

/// Splits `host[:port]` (IPv6 in brackets) into the host without brackets.
pub fn host_part(domain: &str) -> &str {
    if let Some(rest) = domain.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match domain.rsplit_once(':') {
        // More than one ':' without brackets: a bare IPv6 address.
        Some((h, _)) if !h.contains(':') => h,
        Some(_) => domain,
        None => domain,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = s.split_once('/')?;
        let net: IpAddr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { net, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        fn bits(ip: IpAddr) -> (u128, u32) {
            match ip {
                IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
                IpAddr::V6(v) => (u128::from(v), 128),
            }
        }
        // An IPv4-mapped IPv6 address matches IPv4 networks, as Go's
        // net.IPNet.Contains does.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let (n, width) = bits(self.net);
        let (a, w2) = bits(ip);
        if width != w2 {
            return false;
        }
        let shift = width - u32::from(self.prefix);
        if shift >= 128 {
            return true;
        }
        (n >> shift) == (a >> shift)
    }
}

/// The `insecure_registries` setting, split into names and networks.
#[derive(Debug, Clone, Default)]
pub struct Insecure {
    names: Vec<String>,
    cidrs: Vec<Cidr>,
}

impl Insecure {
    pub fn new(entries: &[String]) -> Insecure {
        let mut out = Insecure::default();
        for e in entries {
            let e = e.trim();
            // dockerd refuses "http://..." entries; we just drop the scheme.
            let e = e
                .strip_prefix("http://")
                .or_else(|| e.strip_prefix("https://"))
                .unwrap_or(e)
                .trim_end_matches('/');
            if e.is_empty() {
                continue;
            }
            match Cidr::parse(e) {
                Some(c) => out.cidrs.push(c),
                None => out.names.push(e.to_ascii_lowercase()),
            }
        }
        out
    }

    /// Whether `domain` is insecure without looking it up: named in the
    /// setting, `localhost`, or a literal address that is loopback or in a
    /// configured network.
    pub fn matches_literal(&self, domain: &str) -> bool {
        let d = domain.to_ascii_lowercase();
        if self.names.contains(&d) {
            return true;
        }
        let host = host_part(&d);
        if host == "localhost" || host.ends_with(".localhost") {
            return true;
        }
        match host.parse::<IpAddr>() {
            Ok(ip) => self.ip_insecure(ip),
            Err(_) => false,
        }
    }

    /// Whether a resolved address of the host makes it insecure.
    pub fn ip_insecure(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        ip.is_loopback() || self.cidrs.iter().any(|c| c.contains(ip))
    }

    /// Only worth a DNS lookup when networks beyond loopback are configured.
    pub fn has_cidrs(&self) -> bool {
        !self.cidrs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_aliases() {
        assert_eq!(registry_host("docker.io"), "registry-1.docker.io");
        assert_eq!(registry_host("index.docker.io"), "registry-1.docker.io");
        assert_eq!(registry_host("localhost:5000"), "localhost:5000");
        assert_eq!(server_domain("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(server_domain(""), "docker.io");
        assert_eq!(server_domain("http://localhost:5000/"), "localhost:5000");
        assert_eq!(server_domain("quay.io"), "quay.io");
    }

    #[test]
    fn host_parts() {
        assert_eq!(host_part("localhost:5000"), "localhost");
        assert_eq!(host_part("example.com"), "example.com");
        assert_eq!(host_part("[::1]:5000"), "::1");
        assert_eq!(host_part("[::1]"), "::1");
        assert_eq!(host_part("::1"), "::1");
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.9.9.9".parse().unwrap()));
        assert!(!c.contains("fd00::1".parse().unwrap()));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("10.0.0.0").is_none());
        assert!(Cidr::parse("host/8").is_none());
    }

    #[test]
    fn insecure_matching() {
        let i = Insecure::new(&[
            "myreg:5000".to_string(),
            "http://other.example/".to_string(),
            "192.168.0.0/16".to_string(),
        ]);
        assert!(i.matches_literal("myreg:5000"));
        assert!(i.matches_literal("MyReg:5000"));
        // dockerd matches names exactly, port included.
        assert!(!i.matches_literal("myreg"));
        assert!(i.matches_literal("other.example"));
        assert!(i.matches_literal("localhost:5000"));
        assert!(i.matches_literal("127.0.0.1:5000"));
        assert!(i.matches_literal("127.3.4.5"));
        assert!(i.matches_literal("[::1]:5000"));
        assert!(i.matches_literal("192.168.4.5:443"));
        assert!(!i.matches_literal("10.0.0.1:5000"));
        assert!(!i.matches_literal("registry-1.docker.io"));
        assert!(i.has_cidrs());
        assert!(!Insecure::new(&[]).matches_literal("example.com"));
    }
}
