//! Resolving Docker's `--user` against a container's `/etc/passwd` and
//! `/etc/group`, with the semantics of runc's `libcontainer/user`
//! `GetExecUser` and `GetAdditionalGroups` (now `github.com/moby/sys/user`),
//! which dockerd uses (moby `daemon/oci_linux.go` `getUser`).
//!
//! This module only parses file *contents*: the caller reads the container's
//! files safely inside the container root. Nothing here looks at the host's
//! files or NSS.

use crate::error::Error;

/// The identity a container process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: the groups listing the user as a member (when no
    /// group was given explicitly), then the `--group-add` groups, without
    /// duplicates. The primary gid is *not* included here; the spec puts it
    /// first in `additionalGids`, as moby does.
    pub additional_gids: Vec<u32>,
    /// The user's home directory from passwd, or "/" when there is none.
    pub home: String,
}

impl Default for ExecUser {
    fn default() -> Self {
        ExecUser {
            uid: 0,
            gid: 0,
            additional_gids: Vec::new(),
            home: "/".to_string(),
        }
    }
}

const MAX_ID: i64 = (1 << 31) - 1;
const NO_PASSWD_ENTRIES: &str = "no matching entries in passwd file";
const NO_GROUP_ENTRIES: &str = "no matching entries in group file";

fn range_error() -> Error {
    Error::invalid(format!("uids and gids must be in range 0-{MAX_ID}"))
}

/// Go's `strconv.Atoi` as `moby/sys/user.parseNumeric` uses it: a syntax
/// error means "not a number, a name"; an out-of-range number is an error.
fn parse_numeric(val: &str) -> Result<Option<u32>, Error> {
    if val.is_empty() {
        return Ok(None);
    }
    let digits = val.strip_prefix(['+', '-']).unwrap_or(val);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    match val.parse::<i64>() {
        Ok(id) if (0..=MAX_ID).contains(&id) => Ok(Some(id as u32)),
        _ => Err(range_error()),
    }
}

/// Go's `strconv.Atoi` with the error ignored, as `parseLine` fills ints.
fn atoi(s: &str) -> i64 {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    s.parse::<i64>().unwrap_or(0)
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: i64,
    gid: i64,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: i64,
    members: Vec<&'a str>,
}

/// passwd lines: `name:pass:uid:gid:gecos:home:shell`; blank lines are
/// skipped (runc does not skip `#` lines in passwd, only in group).
fn passwd_entries(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    passwd
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            PasswdEntry {
                name: f.first().copied().unwrap_or(""),
                uid: f.get(2).map_or(0, |s| atoi(s)),
                gid: f.get(3).map_or(0, |s| atoi(s)),
                home: f.get(5).copied().unwrap_or(""),
            }
        })
}

/// group lines: `name:pass:gid:member,member`; blank and `#` lines skipped.
fn group_entries(group: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    group
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            GroupEntry {
                name: f.first().copied().unwrap_or(""),
                gid: f.get(2).map_or(0, |s| atoi(s)),
                members: match f.get(3) {
                    Some(m) if !m.is_empty() => m.split(',').collect(),
                    _ => Vec::new(),
                },
            }
        })
}

fn to_id(v: i64) -> Result<u32, Error> {
    if (0..=MAX_ID).contains(&v) {
        Ok(v as u32)
    } else {
        Err(range_error())
    }
}

/// Resolves `user` (`""`, `name`, `uid`, `name:group`, `uid:gid`,
/// `name:gid`, `uid:group`) against the contents of the container's
/// `/etc/passwd` and `/etc/group` (`None` when the file does not exist), and
/// adds the `--group-add` groups (names or numbers).
///
/// As in runc: numeric ids need not exist in passwd/group, names must
/// (`unable to find user x: no matching entries in passwd file`); the empty
/// user means uid 0 looked up in passwd; supplementary groups come from group
/// membership only when no group was given explicitly.
pub fn resolve(
    user: &str,
    passwd: Option<&str>,
    group: Option<&str>,
    group_add: &[String],
) -> Result<ExecUser, Error> {
    let mut out = ExecUser::default();
    let mut parts = user.split(':');
    let user_arg = parts.next().unwrap_or("");
    let group_arg = parts.next().unwrap_or("");

    let uid_arg = parse_numeric(user_arg)?;
    let gid_arg = parse_numeric(group_arg)?;

    let matched = passwd.and_then(|p| {
        passwd_entries(p).find(|u| {
            if user_arg.is_empty() {
                u.uid == i64::from(out.uid)
            } else if let Some(uid) = uid_arg {
                u.uid == i64::from(uid)
            } else {
                u.name == user_arg
            }
        })
    });

    let mut matched_name: Option<&str> = None;
    if let Some(u) = matched {
        matched_name = Some(u.name);
        out.uid = to_id(u.uid)?;
        out.gid = to_id(u.gid)?;
        if !u.home.is_empty() {
            out.home = u.home.to_string();
        }
    } else if !user_arg.is_empty() {
        match uid_arg {
            Some(uid) => out.uid = uid,
            None => {
                return Err(Error::new(
                    crate::ErrorKind::NotFound,
                    format!("unable to find user {user_arg}: {NO_PASSWD_ENTRIES}"),
                ));
            }
        }
    }

    if !group_arg.is_empty() {
        let found = group.and_then(|g| {
            group_entries(g).find(|e| match gid_arg {
                Some(gid) => e.gid == i64::from(gid),
                None => e.name == group_arg,
            })
        });
        match (found, gid_arg) {
            (Some(e), _) => out.gid = to_id(e.gid)?,
            (None, Some(gid)) => out.gid = gid,
            (None, None) => {
                return Err(Error::new(
                    crate::ErrorKind::NotFound,
                    format!("unable to find group {group_arg}: {NO_GROUP_ENTRIES}"),
                ));
            }
        }
    } else if let (Some(name), Some(g)) = (matched_name, group) {
        for e in group_entries(g) {
            if e.members.contains(&name) {
                push_unique(&mut out.additional_gids, to_id(e.gid)?);
            }
        }
    }

    for gid in additional_groups(group_add, group)? {
        push_unique(&mut out.additional_gids, gid);
    }
    Ok(out)
}

/// `--group-add`: each entry is a group name (must exist in the container's
/// group file) or a number (used as is when absent), as runc's
/// `GetAdditionalGroups`. Order of first appearance, no duplicates.
pub fn additional_groups(group_add: &[String], group: Option<&str>) -> Result<Vec<u32>, Error> {
    let mut out = Vec::new();
    for ag in group_add {
        let numeric = parse_numeric(ag)?;
        let found = group.and_then(|g| {
            group_entries(g).find(|e| match numeric {
                Some(gid) => e.gid == i64::from(gid),
                None => e.name == ag,
            })
        });
        let gid = match (found, numeric) {
            (Some(e), _) => to_id(e.gid)?,
            (None, Some(gid)) => gid,
            (None, None) => {
                return Err(Error::new(
                    crate::ErrorKind::NotFound,
                    format!("unable to find group {ag}: {NO_GROUP_ENTRIES}"),
                ));
            }
        };
        push_unique(&mut out, gid);
    }
    Ok(out)
}

fn push_unique(v: &mut Vec<u32>, x: u32) {
    if !v.contains(&x) {
        v.push(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
app:x:1000:1000:App,,,:/home/app:/bin/bash
nohome:x:1001:1001::
";
    const GROUP: &str = "\
# a comment
root:x:0:root
bin:x:1:root,daemon
wheel:x:10:root,app
app:x:1000:
staff:x:50:app,other
nogroup:x:65534:
";

    fn ga(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn eu(uid: u32, gid: u32, sg: &[u32], home: &str) -> ExecUser {
        ExecUser {
            uid,
            gid,
            additional_gids: sg.to_vec(),
            home: home.to_string(),
        }
    }

    /// (user, passwd, group, group_add, want)
    type Case = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Vec<String>,
        Result<ExecUser, &'static str>,
    );

    #[test]
    fn resolve_table() {
        let p = Some(PASSWD);
        let g = Some(GROUP);
        let cases: Vec<Case> = vec![
            ("", p, g, vec![], Ok(eu(0, 0, &[0, 1, 10], "/root"))),
            ("root", p, g, vec![], Ok(eu(0, 0, &[0, 1, 10], "/root"))),
            ("0", p, g, vec![], Ok(eu(0, 0, &[0, 1, 10], "/root"))),
            (
                "app",
                p,
                g,
                vec![],
                Ok(eu(1000, 1000, &[10, 50], "/home/app")),
            ),
            (
                "1000",
                p,
                g,
                vec![],
                Ok(eu(1000, 1000, &[10, 50], "/home/app")),
            ),
            (
                "app:staff",
                p,
                g,
                vec![],
                Ok(eu(1000, 50, &[], "/home/app")),
            ),
            ("app:50", p, g, vec![], Ok(eu(1000, 50, &[], "/home/app"))),
            (
                "app:4242",
                p,
                g,
                vec![],
                Ok(eu(1000, 4242, &[], "/home/app")),
            ),
            (
                "1000:wheel",
                p,
                g,
                vec![],
                Ok(eu(1000, 10, &[], "/home/app")),
            ),
            ("4242", p, g, vec![], Ok(eu(4242, 0, &[], "/"))),
            ("4242:4343", p, g, vec![], Ok(eu(4242, 4343, &[], "/"))),
            ("4242:staff", p, g, vec![], Ok(eu(4242, 50, &[], "/"))),
            ("nohome", p, g, vec![], Ok(eu(1001, 1001, &[], "/"))),
            (
                "daemon",
                p,
                g,
                ga(&["wheel", "777", "bin"]),
                Ok(eu(1, 1, &[1, 10, 777], "/usr/sbin")),
            ),
            ("", None, None, vec![], Ok(eu(0, 0, &[], "/"))),
            (
                "1234:5678",
                None,
                None,
                ga(&["9"]),
                Ok(eu(1234, 5678, &[9], "/")),
            ),
            (
                "nosuch",
                p,
                g,
                vec![],
                Err("unable to find user nosuch: no matching entries in passwd file"),
            ),
            (
                "nosuch",
                None,
                None,
                vec![],
                Err("unable to find user nosuch: no matching entries in passwd file"),
            ),
            (
                "app:nosuch",
                p,
                g,
                vec![],
                Err("unable to find group nosuch: no matching entries in group file"),
            ),
            ("app", p, None, vec![], Ok(eu(1000, 1000, &[], "/home/app"))),
            (
                "app",
                p,
                g,
                ga(&["nosuch"]),
                Err("unable to find group nosuch: no matching entries in group file"),
            ),
            (
                "-1",
                p,
                g,
                vec![],
                Err("uids and gids must be in range 0-2147483647"),
            ),
            (
                "2147483648",
                p,
                g,
                vec![],
                Err("uids and gids must be in range 0-2147483647"),
            ),
            (
                "99999999999999999999",
                p,
                g,
                vec![],
                Err("uids and gids must be in range 0-2147483647"),
            ),
            (
                "0:-5",
                p,
                g,
                vec![],
                Err("uids and gids must be in range 0-2147483647"),
            ),
        ];
        for (i, (user, pw, gr, add, want)) in cases.into_iter().enumerate() {
            let got = resolve(user, pw, gr, &add);
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "case {i} ({user:?})"),
                (Err(e), Err(w)) => assert_eq!(e.to_string(), w, "case {i} ({user:?})"),
                (g, w) => panic!("case {i} ({user:?}): got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn missing_user_is_not_found() {
        let e = resolve("ghost", Some(PASSWD), Some(GROUP), &[]).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::NotFound);
    }

    #[test]
    fn numeric_parsing_matches_atoi() {
        assert_eq!(parse_numeric("").unwrap(), None);
        assert_eq!(parse_numeric("abc").unwrap(), None);
        assert_eq!(parse_numeric("0x10").unwrap(), None);
        assert_eq!(parse_numeric("+7").unwrap(), Some(7));
        assert!(parse_numeric("-1").is_err());
    }
}
