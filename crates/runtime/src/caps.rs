//! Capability sets with Docker's semantics (moby `daemon/pkg/oci/caps`).
//!
//! Docker starts from a fixed default set, applies `--cap-drop` then
//! `--cap-add`, understands the magic value `ALL`, and for `--privileged`
//! grants every capability the daemon itself holds. Names are accepted in any
//! case, with or without the `CAP_` prefix.

use std::sync::OnceLock;

use crate::error::Error;

/// Docker's default capability set (moby `caps.DefaultCapabilities`), in
/// Docker's order.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability Docker knows (containerd `pkg/cap.Known()`, which moby
/// uses), indexed by capability number: `ALL_CAPS[n]` is capability `n`.
pub const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The capability number of a canonical name (`"CAP_KILL"` → 5).
pub fn cap_number(name: &str) -> Option<u32> {
    ALL_CAPS.iter().position(|c| *c == name).map(|n| n as u32)
}

/// The bitmask (as in `/proc/PID/status` `CapEff:`) of a set of canonical
/// names; unknown names are ignored.
pub fn cap_mask<S: AsRef<str>>(names: &[S]) -> u64 {
    names
        .iter()
        .filter_map(|n| cap_number(n.as_ref()))
        .fold(0u64, |m, n| m | (1u64 << n))
}

/// The capabilities available in this environment: the known capabilities in
/// the daemon's own effective set, as moby's `GetAllCapabilities` (via
/// containerd `cap.Current()`) computes them. This is what `--privileged` and
/// `--cap-add ALL` grant: a daemon that lacks a capability (say, inside a
/// restricted container) cannot hand it out, and the runtime would refuse it.
/// Falls back to [`ALL_CAPS`] when `/proc/self/status` cannot be read, as moby
/// does.
pub fn available_caps() -> &'static [String] {
    static AVAILABLE: OnceLock<Vec<String>> = OnceLock::new();
    AVAILABLE.get_or_init(|| match std::fs::read_to_string("/proc/self/status") {
        Ok(status) => match parse_cap_eff(&status) {
            Some(mask) => caps_from_mask(mask),
            None => ALL_CAPS.iter().map(|s| s.to_string()).collect(),
        },
        Err(_) => ALL_CAPS.iter().map(|s| s.to_string()).collect(),
    })
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        if k.trim() == "CapEff" {
            u64::from_str_radix(v.trim(), 16).ok()
        } else {
            None
        }
    })
}

/// The known capability names whose bits are set in `mask`, in number order.
pub fn caps_from_mask(mask: u64) -> Vec<String> {
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1u64 << i) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

const ALL: &str = "ALL";

/// Upper-cases, adds the `CAP_` prefix and validates each name, keeping the
/// magic `ALL` (moby `NormalizeLegacyCapabilities`). A capability the kernel
/// knows but this environment lacks gets moby's distinct message.
fn normalize(caps: &[String], available: &[String]) -> Result<Vec<String>, Error> {
    let mut out = Vec::with_capacity(caps.len());
    for c in caps {
        let mut c = c.to_uppercase();
        if c == ALL {
            out.push(c);
            continue;
        }
        if !c.starts_with("CAP_") {
            c = format!("CAP_{c}");
        }
        if !ALL_CAPS.contains(&c.as_str()) {
            return Err(Error::invalid(format!("unknown capability: {c:?}")));
        }
        // moby treats every known capability as available when the current
        // set could not be determined (empty).
        if !available.is_empty() && !available.contains(&c) {
            return Err(Error::invalid(format!(
                "capability not supported by your kernel or not available in the current environment: {c:?}"
            )));
        }
        out.push(c);
    }
    Ok(out)
}

/// The effective capability set for a container (moby
/// `caps.TweakCapabilities`): privileged gets everything available; otherwise
/// `base` minus `drop` plus `add`, where `--cap-add ALL` means "everything
/// available except what is dropped" and `--cap-drop ALL` means "only what is
/// added". Unknown names are an `InvalidArgument` error with Docker's text
/// (`unknown capability: "CAP_FOO"`). The result has no duplicates.
pub fn tweak_capabilities(
    base: &[&str],
    add: &[String],
    drop: &[String],
    privileged: bool,
) -> Result<Vec<String>, Error> {
    tweak_with(available_caps(), base, add, drop, privileged)
}

/// [`tweak_capabilities`] against an explicit "available" set (for tests and
/// for callers that know better than `/proc/self/status`).
pub fn tweak_with(
    available: &[String],
    base: &[&str],
    add: &[String],
    drop: &[String],
    privileged: bool,
) -> Result<Vec<String>, Error> {
    let all_available = || -> Vec<String> {
        if available.is_empty() {
            ALL_CAPS.iter().map(|s| s.to_string()).collect()
        } else {
            available.to_vec()
        }
    };
    if privileged {
        return Ok(all_available());
    }
    if add.is_empty() && drop.is_empty() {
        return Ok(dedup(base.iter().map(|s| s.to_string())));
    }
    // moby normalizes the drops first, so an invalid drop is reported even
    // when an add is invalid too.
    let cap_drop = normalize(drop, available)?;
    let cap_add = normalize(add, available)?;

    let caps: Vec<String> = if cap_add.iter().any(|c| c == ALL) {
        all_available()
            .into_iter()
            .filter(|c| !cap_drop.contains(c))
            .collect()
    } else if cap_drop.iter().any(|c| c == ALL) {
        cap_add
    } else {
        base.iter()
            .map(|s| s.to_string())
            .filter(|c| !cap_drop.contains(c))
            .chain(cap_add)
            .collect()
    };
    Ok(dedup(caps.into_iter()))
}

fn dedup(it: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in it {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn all() -> Vec<String> {
        s(&ALL_CAPS)
    }

    #[test]
    fn default_mask_is_dockers() {
        assert_eq!(cap_mask(&DEFAULT_CAPS), 0xa80425fb);
    }

    #[test]
    fn all_caps_match_numbers() {
        assert_eq!(cap_number("CAP_CHOWN"), Some(0));
        assert_eq!(cap_number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(cap_number("CAP_MKNOD"), Some(27));
        assert_eq!(cap_number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(caps_from_mask(0xa80425fb).len(), 14);
    }

    #[test]
    fn tweak_table() {
        struct Case {
            add: &'static [&'static str],
            drop: &'static [&'static str],
            privileged: bool,
            want: Result<Vec<&'static str>, &'static str>,
        }
        let def: Vec<&str> = DEFAULT_CAPS.to_vec();
        let without = |x: &[&str]| -> Vec<&'static str> {
            DEFAULT_CAPS
                .iter()
                .copied()
                .filter(|c| !x.contains(c))
                .collect()
        };
        let cases = vec![
            Case {
                add: &[],
                drop: &[],
                privileged: false,
                want: Ok(def.clone()),
            },
            Case {
                add: &["NET_ADMIN"],
                drop: &[],
                privileged: false,
                want: Ok({
                    let mut v = def.clone();
                    v.push("CAP_NET_ADMIN");
                    v
                }),
            },
            Case {
                add: &["cap_sys_admin", "Sys_Ptrace"],
                drop: &["chown", "CAP_KILL"],
                privileged: false,
                want: Ok({
                    let mut v = without(&["CAP_CHOWN", "CAP_KILL"]);
                    v.push("CAP_SYS_ADMIN");
                    v.push("CAP_SYS_PTRACE");
                    v
                }),
            },
            Case {
                add: &[],
                drop: &["all"],
                privileged: false,
                want: Ok(vec![]),
            },
            Case {
                add: &["chown", "net_bind_service"],
                drop: &["ALL"],
                privileged: false,
                want: Ok(vec!["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]),
            },
            Case {
                add: &["all"],
                drop: &["SYS_ADMIN", "cap_net_admin"],
                privileged: false,
                want: Ok(ALL_CAPS
                    .iter()
                    .copied()
                    .filter(|c| *c != "CAP_SYS_ADMIN" && *c != "CAP_NET_ADMIN")
                    .collect()),
            },
            Case {
                add: &["ALL"],
                drop: &["ALL"],
                privileged: false,
                want: Ok(ALL_CAPS.to_vec()),
            },
            Case {
                add: &["CHOWN"],
                drop: &[],
                privileged: false,
                want: Ok(def.clone()),
            },
            Case {
                add: &["foo"],
                drop: &[],
                privileged: false,
                want: Err("unknown capability: \"CAP_FOO\""),
            },
            Case {
                add: &[],
                drop: &["cap_bar"],
                privileged: false,
                want: Err("unknown capability: \"CAP_BAR\""),
            },
            Case {
                add: &["foo"],
                drop: &[],
                privileged: true,
                want: Ok(ALL_CAPS.to_vec()),
            },
        ];
        for (i, c) in cases.into_iter().enumerate() {
            let got = tweak_with(&all(), &DEFAULT_CAPS, &s(c.add), &s(c.drop), c.privileged);
            match (got, c.want) {
                (Ok(g), Ok(w)) => assert_eq!(g, s(&w), "case {i}"),
                (Err(e), Err(w)) => {
                    assert_eq!(e.to_string(), w, "case {i}");
                    assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
                }
                (g, w) => panic!("case {i}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn unavailable_capability() {
        let avail: Vec<String> = all()
            .into_iter()
            .filter(|c| c != "CAP_SYS_RESOURCE")
            .collect();
        let err = tweak_with(&avail, &DEFAULT_CAPS, &s(&["sys_resource"]), &[], false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "capability not supported by your kernel or not available in the current environment: \"CAP_SYS_RESOURCE\""
        );
        let p = tweak_with(&avail, &DEFAULT_CAPS, &[], &[], true).unwrap();
        assert_eq!(p, avail);
        let a = tweak_with(&avail, &DEFAULT_CAPS, &s(&["ALL"]), &[], false).unwrap();
        assert!(!a.contains(&"CAP_SYS_RESOURCE".to_string()));
    }

    #[test]
    fn parses_cap_eff() {
        let st = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t00000000a80425fb\n";
        assert_eq!(parse_cap_eff(st), Some(0xa80425fb));
    }
}
