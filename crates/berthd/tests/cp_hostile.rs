//! Hostile input to the container filesystem API, end to end against a real
//! berthd: malicious tar streams sent to `PUT /containers/{id}/archive`,
//! reads aimed at host files through symlinks and `..` (also inside a bind
//! mount, whose content the container controls), decompression and header
//! bombs, a symlink-swap race (CVE-2018-15664) while `docker cp` runs in and
//! out, and a 4 GiB copy each way with berthd's memory sampled.
//!
//! Problems are labelled: ESCAPE / LEAK (something left or entered the
//! container), POLICY (a hostile archive was accepted, though contained:
//! the issue wants it refused), MESSAGE (an error names berth's host paths).
//!
//! Every case must leave the host untouched outside the container: canary
//! files (content, mode, mtime, inode, link count) around the container's
//! roots and in /tmp must not change, and no name the archive carries may
//! appear outside the container's own upper/work/merged directories. A
//! refused archive must answer 4xx/5xx (never 501) with a JSON message, and
//! afterwards the daemon, the target container (running, created or exited)
//! and a bystander container must still work.
//!
//! Run with `-- --nocapture` to see the table of answers.

mod common;
mod hostile;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Berthd, HttpLimits, HttpReply, stderr, stdout};
use hostile::bomb::{Bomb, Codec, Seg};
use hostile::host::{self, Canaries, RssSampler, Scan};
use hostile::tarb::{Hdr, Size, TarB};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;
/// The query the docker CLI sends for `docker cp SRC CONTAINER:/`.
const ROOT_Q: &str = "path=%2F&noOverwriteDirNonDir=true";
const TAR: &str = "application/x-tar";
/// Host files an attacker aims at; we only ever read them.
const WATCHED: &[&str] = &["/etc/passwd", "/etc/shadow", "/etc/hostname"];

// ---------------------------------------------------------------------------
// Containers

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Running,
    Created,
    Exited,
}

#[derive(Clone, Debug)]
struct Target {
    id: String,
    state: State,
    upper: PathBuf,
    work: PathBuf,
    merged: PathBuf,
    lower: PathBuf,
    pid: Option<i64>,
}

impl Target {
    fn inside(&self) -> Vec<PathBuf> {
        vec![self.upper.clone(), self.work.clone(), self.merged.clone()]
    }
    fn archive_url(&self, query: &str) -> String {
        format!("/containers/{}/archive?{query}", self.id)
    }
}

fn inspect(d: &Berthd, id: &str) -> Result<serde_json::Value, String> {
    let (st, _, body) = d.http("GET", &format!("/containers/{id}/json"), None);
    if st != 200 {
        return Err(format!("inspect {id}: {st} {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("inspect {id}: {e}: {body}"))
}

fn new_target(d: &Berthd, state: State, name: &str) -> Target {
    let id = match state {
        State::Running => d.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "busybox",
            "sh",
            "-c",
            "trap 'exit 0' TERM; while :; do sleep 1; done",
        ]),
        State::Created | State::Exited => {
            d.ok(&["create", "--name", name, "busybox", "cat", "/etc/passwd"])
        }
    };
    if state == State::Exited {
        d.ok(&["start", "-a", &id]);
    }
    let j = inspect(d, &id).unwrap();
    let data = &j["GraphDriver"]["Data"];
    let p = |k: &str| PathBuf::from(data[k].as_str().unwrap_or_else(|| panic!("{k}: {j}")));
    let lower = data["LowerDir"]
        .as_str()
        .unwrap()
        .split(':')
        .next_back()
        .unwrap()
        .into();
    Target {
        id,
        state,
        upper: p("UpperDir"),
        work: p("WorkDir"),
        merged: p("MergedDir"),
        lower,
        pid: j["State"]["Pid"].as_i64().filter(|&p| p > 0),
    }
}

/// The image's /etc/passwd, which every target prints (or holds).
fn image_passwd(t: &Target) -> Vec<u8> {
    std::fs::read(t.lower.join("etc/passwd")).unwrap()
}

/// The container still works: a running one still runs with the same pid
/// and an intact root; a stopped one starts and prints /etc/passwd.
fn container_ok(d: &Berthd, t: &Target, passwd: &[u8]) -> Result<(), String> {
    let j = inspect(d, &t.id)?;
    match t.state {
        State::Running => {
            let running = j["State"]["Running"].as_bool() == Some(true);
            let pid = j["State"]["Pid"].as_i64();
            if !running || pid != t.pid {
                return Err(format!(
                    "running container {} no longer runs (state {})",
                    t.id, j["State"]
                ));
            }
            let root = PathBuf::from(format!("/proc/{}/root", t.pid.unwrap()));
            let seen = std::fs::read(root.join("etc/passwd")).unwrap_or_default();
            if seen != passwd || !root.join("bin/sh").exists() {
                return Err(format!("running container {}: its root is damaged", t.id));
            }
        }
        State::Created | State::Exited => {
            let want = if t.state == State::Created {
                "created"
            } else {
                "exited"
            };
            let status = j["State"]["Status"].as_str().unwrap_or_default();
            if status != want {
                return Err(format!("container {}: status {status}, want {want}", t.id));
            }
            let out = d.docker(&["start", "-a", &t.id]);
            if !out.status.success() || out.stdout != passwd {
                return Err(format!(
                    "stopped container {} does not start cleanly: {} stdout {:?} stderr {:?}",
                    t.id,
                    out.status,
                    String::from_utf8_lossy(&out.stdout[..out.stdout.len().min(200)]),
                    stderr(&out)
                ));
            }
        }
    }
    Ok(())
}

/// Removes what accepted cases left inside the container under the canary
/// dir's name (an absolute name rooted at the destination creates it), so
/// each case meets the same container.
fn reset_inside(t: &Target, can: &Path) {
    let rel = can.strip_prefix("/").unwrap();
    let at = match t.state {
        State::Running => PathBuf::from(format!("/proc/{}/root", t.pid.unwrap())).join(rel),
        State::Created | State::Exited => t.upper.join(rel),
    };
    if std::fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir()) {
        let _ = std::fs::remove_dir_all(&at);
    }
}

/// Error messages must speak of container paths, not of where berth keeps
/// things on the host.
fn reveals_host_paths(d: &Berthd, message: &str) -> Option<String> {
    let roots = [
        d.exec_root.to_string_lossy().into_owned(),
        d.dir.path().to_string_lossy().into_owned(),
    ];
    roots
        .iter()
        .find(|r| message.contains(r.as_str()))
        .map(|r| format!("MESSAGE: reveals a host path under {r}: {message:?}"))
}

fn daemon_ok(d: &Berthd) -> Result<(), String> {
    let (st, _, body) = d.http("GET", "/_ping", None);
    if st == 200 && body == "OK" {
        Ok(())
    } else {
        Err(format!(
            "daemon no longer answers _ping: {st} {body:?}\n{}",
            log_tail(d, 20)
        ))
    }
}

/// Symlinks and a FIFO inside the container that later cases aim through.
fn fixture(can: &Path) -> Vec<u8> {
    let can = can.to_str().unwrap();
    TarB::new()
        .symlink("leak", &format!("{can}/secret"))
        .symlink("leakdir", can)
        .symlink("evil", "/")
        .fifo("fifo")
        .dir("dst")
        .file("dst/existing", b"existing\n")
        .finish()
}

fn put(d: &Berthd, t: &Target, query: &str, body: &[u8]) -> HttpReply {
    d.http_bytes_with(
        "PUT",
        &t.archive_url(query),
        TAR,
        body,
        HttpLimits {
            timeout: Duration::from_secs(30),
            max_body: 1 << 20,
        },
    )
}

/// Endpoints that are not there yet answer 501: say so plainly rather than
/// let a refusal count as a pass.
fn endpoint_works(r: &HttpReply, what: &str) -> Result<(), String> {
    if r.status == 501 {
        Err(format!("{what}: 501 not implemented: {}", r.text()))
    } else if r.status == 0 {
        Err(format!("{what}: no answer (hung or connection dropped)"))
    } else {
        Ok(())
    }
}

fn apply_fixture(d: &Berthd, t: &Target, fx: &[u8]) -> Result<(), String> {
    // Without noOverwriteDirNonDir: a case may have turned `leakdir` into
    // a directory, and the fixture turns it back into the symlink.
    let r = put(d, t, "path=%2F", fx);
    endpoint_works(&r, "PUT archive (fixture)")?;
    if r.status != 200 {
        return Err(format!(
            "benign fixture archive refused: {} {}",
            r.status,
            r.text()
        ));
    }
    // `up -> ../../..` climbs above the root: moby's lexical check refuses
    // it in an archive unless extracting at / in a chroot, so the test
    // plants it itself, as a process in the container would.
    let at = match t.state {
        State::Running => PathBuf::from(format!("/proc/{}/root/up", t.pid.unwrap())),
        State::Created | State::Exited => t.upper.join("up"),
    };
    let _ = std::fs::remove_file(&at);
    std::os::unix::fs::symlink("../../../../../../../..", &at)
        .map_err(|e| format!("planting {}: {e}", at.display()))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Cases

#[derive(Clone, Debug)]
enum Expect {
    /// 4xx/5xx with a message.
    Refused,
    /// Either way, as long as nothing leaves the container.
    Contained,
    /// 200, and these paths (relative to the container root) exist inside.
    Accepted(Vec<String>),
    /// Refused, or kept as a literal name inside (what dockerd does with
    /// `.wh.` names in `docker cp`): the path must then exist inside.
    RefusedOrLiteral(String),
}

struct Case {
    name: String,
    /// Every name the case aims outside carries it.
    token: String,
    /// Full request path; `None`: the target's archive URL with `query`.
    url: Option<String>,
    query: String,
    content_type: &'static str,
    body: Vec<u8>,
    expect: Expect,
}

/// Enough `..` to reach `/` from any directory berth keeps a root in.
fn deep() -> String {
    "../".repeat(16)
}

/// Builds a case's body and expectation from its token and its
/// `berth-pwned-<token>` name.
type Build<'a> = dyn Fn(&str, &str) -> (Vec<u8>, Expect) + 'a;

/// The PUT cases. `u` is unique to the test, `can` the canary directory.
fn put_cases(u: &str, can: &Path) -> Vec<Case> {
    let can = can.to_str().unwrap().to_string();
    let mut cases = Vec::new();
    let mut n = 0;
    let mut add = |name: &str, query: &str, build: &Build<'_>| {
        n += 1;
        let token = format!("pw{u}{n:03}");
        let p = format!("berth-pwned-{token}");
        let (body, expect) = build(&token, &p);
        cases.push(Case {
            name: name.to_string(),
            token,
            url: None,
            query: query.to_string(),
            content_type: TAR,
            body,
            expect,
        });
    };
    use Expect::*;
    let dp = deep();

    // `..` traversal
    add("traversal ../P", ROOT_Q, &|_, p| {
        (TarB::new().file(&format!("../{p}"), b"x").finish(), Refused)
    });
    add("traversal ../../../P", ROOT_Q, &|_, p| {
        (
            TarB::new().file(&format!("../../../{p}"), b"x").finish(),
            Refused,
        )
    });
    add("traversal ../x16 tmp/P", ROOT_Q, &|_, p| {
        (
            TarB::new().file(&format!("{dp}tmp/{p}"), b"x").finish(),
            Refused,
        )
    });
    add("traversal a/../../P", ROOT_Q, &|_, p| {
        (
            TarB::new()
                .dir("a")
                .file(&format!("a/../../{p}"), b"x")
                .finish(),
            Refused,
        )
    });
    add("traversal ./../P", ROOT_Q, &|_, p| {
        (
            TarB::new().file(&format!("./../{p}"), b"x").finish(),
            Refused,
        )
    });
    add("traversal dir ../P/ then ../P/f", ROOT_Q, &|_, p| {
        (
            TarB::new()
                .dir(&format!("../{p}/"))
                .file(&format!("../{p}/f"), b"x")
                .finish(),
            Refused,
        )
    });
    add("traversal overwrites host canary", ROOT_Q, &|_, _| {
        (
            TarB::new()
                .file(&format!("{dp}{}/victim", &can[1..]), b"PWNED\n")
                .finish(),
            Refused,
        )
    });
    add(
        "traversal ../../P with path=/etc",
        "path=%2Fetc&noOverwriteDirNonDir=true",
        &|_, p| {
            (
                TarB::new().file(&format!("../../{p}"), b"x").finish(),
                Refused,
            )
        },
    );
    // Absolute names
    add("absolute /etc/P", ROOT_Q, &|_, p| {
        (
            TarB::new().file(&format!("/etc/{p}"), b"x").finish(),
            Refused,
        )
    });
    add("absolute name overwrites host canary", ROOT_Q, &|_, _| {
        (
            TarB::new()
                .file(&format!("{can}/victim"), b"PWNED\n")
                .finish(),
            Refused,
        )
    });
    add("absolute dir /P/ then /P/f", ROOT_Q, &|_, p| {
        (
            TarB::new()
                .dir(&format!("/{p}/"))
                .file(&format!("/{p}/f"), b"x")
                .finish(),
            Refused,
        )
    });
    add("absolute //tmp/P", ROOT_Q, &|_, p| {
        (
            TarB::new().file(&format!("//tmp/{p}"), b"x").finish(),
            Refused,
        )
    });
    // Symlink, then a file written through it
    add("symlink l->/ then l/tmp/P", ROOT_Q, &|t, p| {
        (
            TarB::new()
                .symlink(&format!("l{t}"), "/")
                .file(&format!("l{t}/tmp/{p}"), b"x")
                .finish(),
            Refused,
        )
    });
    add("symlink l->canary dir then l/victim", ROOT_Q, &|t, _| {
        (
            TarB::new()
                .symlink(&format!("l{t}"), &can)
                .file(&format!("l{t}/victim"), b"PWNED\n")
                .finish(),
            Refused,
        )
    });
    add("symlink l->../../../.. then l/tmp/P", ROOT_Q, &|t, p| {
        (
            TarB::new()
                .symlink(&format!("l{t}"), "../../../../../../../..")
                .file(&format!("l{t}/tmp/{p}"), b"x")
                .finish(),
            Refused,
        )
    });
    add(
        "symlink l->../../../.. alone (climbs above the root)",
        ROOT_Q,
        &|t, _| {
            (
                TarB::new()
                    .symlink(&format!("l{t}"), "../../../../../../../..")
                    .finish(),
                Contained,
            )
        },
    );
    add("symlink l->.. then l/P", ROOT_Q, &|t, p| {
        (
            TarB::new()
                .symlink(&format!("l{t}"), "..")
                .file(&format!("l{t}/{p}"), b"x")
                .finish(),
            Refused,
        )
    });
    add("symlink chain a->b, b->/tmp, then a/P", ROOT_Q, &|t, p| {
        (
            TarB::new()
                .symlink(&format!("a{t}"), &format!("b{t}"))
                .symlink(&format!("b{t}"), "/tmp")
                .file(&format!("a{t}/{p}"), b"x")
                .finish(),
            Refused,
        )
    });
    add(
        "symlink l->/tmp then dir l/P/ and l/P/f",
        ROOT_Q,
        &|t, p| {
            (
                TarB::new()
                    .symlink(&format!("l{t}"), "/tmp")
                    .dir(&format!("l{t}/{p}"))
                    .file(&format!("l{t}/{p}/f"), b"x")
                    .finish(),
                Refused,
            )
        },
    );
    add(
        "symlink to host file then same-name file",
        ROOT_Q,
        &|t, _| {
            (
                TarB::new()
                    .symlink(&format!("s{t}"), &format!("{can}/victim"))
                    .file(&format!("s{t}"), b"PWNED\n")
                    .finish(),
                Contained,
            )
        },
    );
    add(
        "symlink to host dir then dir entry (chmod)",
        ROOT_Q,
        &|t, _| {
            let mut h = Hdr::new("", b'5');
            let name = format!("s{t}");
            h.name = name.as_bytes();
            h.mode = 0o777;
            (
                TarB::new()
                    .symlink(&name, &can)
                    .header(h)
                    .file(&format!("s{t}/f"), b"x")
                    .finish(),
                Contained,
            )
        },
    );
    add(
        "symlink to host file, plain (lchown/lutimes)",
        ROOT_Q,
        &|t, _| {
            let mut h = Hdr::new("", b'2');
            let name = format!("s{t}");
            let target = format!("{can}/victim");
            h.name = name.as_bytes();
            h.link = target.as_bytes();
            h.mode = 0o777;
            h.uid = 4321;
            h.gid = 4321;
            (TarB::new().header(h).finish(), Accepted(vec![name.clone()]))
        },
    );
    // Hard links
    add("hardlink to /etc/passwd", ROOT_Q, &|t, _| {
        (
            TarB::new()
                .hardlink(&format!("h{t}"), "/etc/passwd")
                .finish(),
            Refused,
        )
    });
    add("hardlink to ../x16 etc/passwd", ROOT_Q, &|t, _| {
        (
            TarB::new()
                .hardlink(&format!("h{t}"), &format!("{dp}etc/passwd"))
                .finish(),
            Refused,
        )
    });
    add("hardlink to ../x16 host canary", ROOT_Q, &|t, _| {
        (
            TarB::new()
                .hardlink(&format!("h{t}"), &format!("{dp}{}/victim", &can[1..]))
                .finish(),
            Refused,
        )
    });
    add(
        "hardlink to host canary then overwrite it",
        ROOT_Q,
        &|t, _| {
            (
                TarB::new()
                    .hardlink(&format!("h{t}"), &format!("{dp}{}/victim", &can[1..]))
                    .file(&format!("h{t}"), b"PWNED\n")
                    .finish(),
                Refused,
            )
        },
    );
    add("hardlink through symlink l->canary dir", ROOT_Q, &|t, _| {
        (
            TarB::new()
                .symlink(&format!("l{t}"), &can)
                .hardlink(&format!("h{t}"), &format!("l{t}/victim"))
                .finish(),
            Refused,
        )
    });
    add("hardlink to a symlink to a host file", ROOT_Q, &|t, _| {
        (
            TarB::new()
                .symlink(&format!("s{t}"), &format!("{can}/victim"))
                .hardlink(&format!("h{t}"), &format!("s{t}"))
                .file(&format!("h{t}"), b"PWNED\n")
                .finish(),
            Contained,
        )
    });
    // Duplicate entries: a directory replaced by a symlink, then written through
    add(
        "dup: dir d, then d->/ symlink, then d/tmp/P",
        ROOT_Q,
        &|t, p| {
            (
                TarB::new()
                    .dir(&format!("d{t}"))
                    .file(&format!("d{t}/ok"), b"ok")
                    .symlink(&format!("d{t}"), "/")
                    .file(&format!("d{t}/tmp/{p}"), b"x")
                    .finish(),
                Refused,
            )
        },
    );
    add(
        "dup: dir d, then d->/ (no noOverwriteDirNonDir), then d/tmp/P",
        "path=%2F",
        &|t, p| {
            (
                TarB::new()
                    .dir(&format!("d{t}"))
                    .file(&format!("d{t}/ok"), b"ok")
                    .symlink(&format!("d{t}"), "/")
                    .file(&format!("d{t}/tmp/{p}"), b"x")
                    .finish(),
                Refused,
            )
        },
    );
    add(
        "dup: symlink l->x re-pointed to /, then l/tmp/P",
        ROOT_Q,
        &|t, p| {
            (
                TarB::new()
                    .dir(&format!("x{t}"))
                    .symlink(&format!("l{t}"), &format!("x{t}"))
                    .symlink(&format!("l{t}"), "/")
                    .file(&format!("l{t}/tmp/{p}"), b"x")
                    .finish(),
                Refused,
            )
        },
    );
    add(
        "dup: symlink l->/tmp replaced by dir l, then l/P",
        ROOT_Q,
        &|t, p| {
            (
                TarB::new()
                    .symlink(&format!("l{t}"), "/tmp")
                    .dir(&format!("l{t}"))
                    .file(&format!("l{t}/{p}"), b"x")
                    .finish(),
                Contained,
            )
        },
    );
    // Whiteouts
    add("whiteout ../.wh.P", ROOT_Q, &|_, p| {
        (
            TarB::new().file(&format!("../.wh.{p}"), b"").finish(),
            Refused,
        )
    });
    add("whiteout of a host canary via ../x16", ROOT_Q, &|_, _| {
        (
            TarB::new()
                .file(&format!("{dp}{}/.wh.victim", &can[1..]), b"")
                .finish(),
            Refused,
        )
    });
    add("whiteout ../.wh..wh..opq", ROOT_Q, &|_, _| {
        (TarB::new().file("../.wh..wh..opq", b"").finish(), Refused)
    });
    add(
        "whiteout .wh... at the root (removes ..?)",
        ROOT_Q,
        &|_, _| {
            (
                TarB::new().file(".wh...", b"").finish(),
                RefusedOrLiteral(".wh...".into()),
            )
        },
    );
    add("whiteout sub/.wh... (removes sub/..?)", ROOT_Q, &|t, _| {
        (
            TarB::new()
                .dir(&format!("sub{t}"))
                .file(&format!("sub{t}/.wh..."), b"")
                .finish(),
            RefusedOrLiteral(format!("sub{t}/.wh...")),
        )
    });
    add("whiteout .wh.. (removes .?)", ROOT_Q, &|t, _| {
        (
            TarB::new()
                .dir(&format!("sub{t}"))
                .file(&format!("sub{t}/.wh.."), b"")
                .finish(),
            RefusedOrLiteral(format!("sub{t}/.wh..")),
        )
    });
    // PAX and GNU headers
    add("PAX path escaping", ROOT_Q, &|t, p| {
        let path = format!("{dp}tmp/{p}");
        (
            TarB::new()
                .pax(&[("path", path.as_bytes())])
                .file(&format!("innocent{t}"), b"x")
                .finish(),
            Refused,
        )
    });
    add("PAX path absolute", ROOT_Q, &|t, p| {
        let path = format!("/etc/{p}");
        (
            TarB::new()
                .pax(&[("path", path.as_bytes())])
                .file(&format!("innocent{t}"), b"x")
                .finish(),
            Refused,
        )
    });
    add("PAX linkpath escaping (hardlink)", ROOT_Q, &|t, _| {
        let link = format!("{dp}etc/passwd");
        (
            TarB::new()
                .pax(&[("linkpath", link.as_bytes())])
                .hardlink(&format!("h{t}"), "innocent")
                .finish(),
            Refused,
        )
    });
    add("GNU long name escaping", ROOT_Q, &|t, p| {
        (
            TarB::new()
                .gnu_long(b'L', &format!("{dp}{dp}tmp/{p}"))
                .file(&format!("short{t}"), b"x")
                .finish(),
            Refused,
        )
    });
    add("GNU long link escaping (hardlink)", ROOT_Q, &|t, _| {
        (
            TarB::new()
                .gnu_long(b'K', &format!("{dp}{dp}etc/passwd"))
                .hardlink(&format!("h{t}"), "x")
                .finish(),
            Refused,
        )
    });
    // Broken streams
    add("truncated inside a header", ROOT_Q, &|t, _| {
        let mut b = TarB::new().file(&format!("ok{t}"), b"ok\n").unfinished();
        let h = Hdr::new("next", b'0').encode();
        b.extend_from_slice(&h[..200]);
        (b, Refused)
    });
    add("truncated inside file data", ROOT_Q, &|t, _| {
        let mut h = Hdr::new("", b'0');
        let name = format!("cut{t}");
        h.name = name.as_bytes();
        h.size = Size::Octal(10_000);
        (
            TarB::new().header(h).raw(&[b'a'; 3000]).unfinished(),
            Refused,
        )
    });
    add("huge declared size (1 TiB, base-256)", ROOT_Q, &|t, _| {
        let mut h = Hdr::new("", b'0');
        let name = format!("huge{t}");
        h.name = name.as_bytes();
        h.size = Size::Base256(1 << 40);
        (
            TarB::new().header(h).raw(&[0u8; 4096]).unfinished(),
            Refused,
        )
    });
    add("huge declared size (1 TiB, PAX size)", ROOT_Q, &|t, _| {
        (
            TarB::new()
                .pax(&[("size", b"1099511627776")])
                .file(&format!("huge{t}"), b"")
                .raw(&[0u8; 4096])
                .unfinished(),
            Refused,
        )
    });
    add("huge declared size (8 GiB octal)", ROOT_Q, &|t, _| {
        let mut h = Hdr::new("", b'0');
        let name = format!("huge{t}");
        h.name = name.as_bytes();
        h.size = Size::Octal(0o77777777777);
        (
            TarB::new().header(h).raw(&[0u8; 4096]).unfinished(),
            Refused,
        )
    });
    add("negative size (base-256)", ROOT_Q, &|t, _| {
        let mut h = Hdr::new("", b'0');
        let name = format!("neg{t}");
        h.name = name.as_bytes();
        h.size = Size::Raw([0xff; 12]);
        (TarB::new().header(h).finish(), Refused)
    });
    add("bad header checksum", ROOT_Q, &|t, _| {
        let mut h = Hdr::new("", b'0');
        let name = format!("cks{t}");
        h.name = name.as_bytes();
        h.size = Size::Octal(2);
        h.bad_checksum = true;
        (TarB::new().header(h).data(b"x\n").finish(), Refused)
    });
    add("garbage body", ROOT_Q, &|_, _| (vec![0x55; 4096], Refused));
    // Devices and FIFOs
    add(
        "char device inside (Docker creates it as root)",
        ROOT_Q,
        &|t, _| {
            (
                TarB::new().chardev(&format!("dev{t}"), 1, 3).finish(),
                Accepted(vec![format!("dev{t}")]),
            )
        },
    );
    add("char device ../dev", ROOT_Q, &|t, _| {
        (
            TarB::new().chardev(&format!("../dev{t}"), 1, 3).finish(),
            Refused,
        )
    });
    add("fifo ../fifo", ROOT_Q, &|t, _| {
        (TarB::new().fifo(&format!("../fifo{t}")).finish(), Refused)
    });
    add(
        "file replacing an existing FIFO (must not hang)",
        ROOT_Q,
        &|_, _| {
            (
                TarB::new().file("fifo", b"not a fifo\n").finish(),
                Contained,
            )
        },
    );
    add(
        "destination is a FIFO (must not hang)",
        "path=%2Ffifo&noOverwriteDirNonDir=true",
        &|_, p| (TarB::new().file(p, b"x").finish(), Refused),
    );
    // Pre-existing symlinks inside the container (the fixture)
    add(
        "through container symlink evil->/ : evil/tmp/P",
        ROOT_Q,
        &|_, p| {
            (
                TarB::new().file(&format!("evil/tmp/{p}"), b"x").finish(),
                Contained,
            )
        },
    );
    add(
        "destination through container symlink evil->/ (path=/evil/tmp)",
        "path=%2Fevil%2Ftmp&noOverwriteDirNonDir=true",
        &|_, p| {
            (
                TarB::new().file(p, b"x").finish(),
                Accepted(vec![format!("tmp/{p}")]),
            )
        },
    );
    add(
        "destination through container symlink up->../../.. (path=/up)",
        "path=%2Fup&noOverwriteDirNonDir=true",
        &|_, p| (TarB::new().file(p, b"x").finish(), Accepted(vec![p.into()])),
    );
    add(
        "destination through container symlink leakdir->host dir",
        "path=%2Fleakdir&noOverwriteDirNonDir=true",
        &|_, p| {
            (
                TarB::new()
                    .file("victim", b"PWNED\n")
                    .file(p, b"x")
                    .finish(),
                Refused,
            )
        },
    );
    add(
        "through container symlink leakdir: leakdir/victim",
        ROOT_Q,
        &|_, _| {
            (
                TarB::new().file("leakdir/victim", b"PWNED\n").finish(),
                Contained,
            )
        },
    );
    add(
        "file replacing container symlink leak->host file",
        ROOT_Q,
        &|_, _| (TarB::new().file("leak", b"PWNED\n").finish(), Contained),
    );
    add(
        "dir entry over container symlink leakdir (chmod)",
        ROOT_Q,
        &|_, _| {
            let mut h = Hdr::new("leakdir", b'5');
            h.mode = 0o777;
            (TarB::new().header(h).finish(), Contained)
        },
    );
    // Overlay xattrs smuggled in PAX records.
    add(
        "PAX xattr trusted.overlay.opaque on /etc",
        ROOT_Q,
        &|_, _| {
            (
                TarB::new()
                    .pax(&[("SCHILY.xattr.trusted.overlay.opaque", b"y")])
                    .dir("etc")
                    .finish(),
                Contained,
            )
        },
    );
    // Queries
    add(
        "query path=/../../../../tmp",
        "path=%2F..%2F..%2F..%2F..%2F..%2F..%2Ftmp&noOverwriteDirNonDir=true",
        &|_, p| (TarB::new().file(p, b"x").finish(), Contained),
    );
    add(
        "query path=/proc/self/root/tmp",
        "path=%2Fproc%2Fself%2Froot%2Ftmp&noOverwriteDirNonDir=true",
        &|_, p| (TarB::new().file(p, b"x").finish(), Contained),
    );
    add(
        "query path=/proc/1/root/tmp",
        "path=%2Fproc%2F1%2Froot%2Ftmp&noOverwriteDirNonDir=true",
        &|_, p| (TarB::new().file(p, b"x").finish(), Contained),
    );
    add(
        "destination is a file (path=/etc/passwd)",
        "path=%2Fetc%2Fpasswd&noOverwriteDirNonDir=true",
        &|_, p| (TarB::new().file(p, b"x").finish(), Refused),
    );
    add(
        "destination missing",
        "path=%2Fno-such-dir&noOverwriteDirNonDir=true",
        &|_, p| (TarB::new().file(p, b"x").finish(), Refused),
    );
    add(
        "query without path",
        "noOverwriteDirNonDir=true",
        &|_, p| (TarB::new().file(p, b"x").finish(), Refused),
    );
    add(
        "query with empty path",
        "path=&noOverwriteDirNonDir=true",
        &|_, p| (TarB::new().file(p, b"x").finish(), Refused),
    );

    let mut c = Case {
        name: "malformed JSON body instead of a tar".into(),
        token: format!("pw{u}j"),
        url: None,
        query: ROOT_Q.into(),
        content_type: "application/json",
        body: br#"{"malformed": "#.to_vec(),
        expect: Refused,
    };
    cases.push(c);
    c = Case {
        name: "no such container".into(),
        token: format!("pw{u}n"),
        url: Some(format!("/containers/nosuch{u}/archive?{ROOT_Q}")),
        query: String::new(),
        content_type: TAR,
        body: TarB::new().file(&format!("f{u}"), b"x").finish(),
        expect: Refused,
    };
    cases.push(c);
    cases
}

/// One row of the result table.
struct Row {
    state: State,
    case: String,
    status: u16,
    message: String,
    millis: u128,
    problems: Vec<String>,
}

/// The end of berthd's log, each line cut short (a hostile name can make
/// a line hundreds of MiB long).
fn log_tail(d: &Berthd, n: usize) -> String {
    common::tail(&d.log(), n)
        .lines()
        .map(|l| short(l, 500))
        .collect::<Vec<_>>()
        .join("\n")
}

/// At most `n` characters of `s`, saying how much was left out.
fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let head: String = s.chars().take(n).collect();
    format!("{head}… ({} bytes in all)", s.len())
}

fn print_rows(title: &str, rows: &[Row]) -> String {
    let mut s = format!("\n=== {title} ===\n");
    for r in rows {
        s.push_str(&format!(
            "{:<8} {:<68} {:>3} {:>5}ms {}{}\n",
            format!("{:?}", r.state),
            r.case,
            r.status,
            r.millis,
            if r.problems.is_empty() { "ok" } else { "FAIL" },
            if r.message.is_empty() {
                String::new()
            } else {
                format!("  {:?}", short(&r.message, 300))
            }
        ));
        for p in &r.problems {
            s.push_str(&format!("           !! {}\n", short(p, 600)));
        }
    }
    eprintln!("{s}");
    s
}

fn judge(d: &Berthd, c: &Case, r: &HttpReply, t: &Target) -> Vec<String> {
    let mut bad = Vec::new();
    if let Err(e) = endpoint_works(r, "PUT archive") {
        return vec![e];
    }
    if let Some(m) = r.message()
        && let Some(p) = reveals_host_paths(d, &m)
    {
        bad.push(p);
    }
    let refused = (400..600).contains(&r.status);
    let message_ok = |bad: &mut Vec<String>| {
        let m = r.message().unwrap_or_default();
        if m.trim().len() < 8 {
            bad.push(format!(
                "{} without a clear JSON message: {:?}",
                r.status,
                r.text()
            ));
        }
    };
    let inside = |rel: &str| std::fs::symlink_metadata(t.upper.join(rel)).is_ok();
    match &c.expect {
        Expect::Refused => {
            if refused {
                message_ok(&mut bad);
            } else {
                bad.push(format!(
                    "POLICY: hostile archive accepted (want 4xx/5xx): {} {}",
                    r.status,
                    r.text()
                ));
            }
        }
        Expect::Contained => {
            if refused {
                message_ok(&mut bad);
            } else if r.status != 200 {
                bad.push(format!("unexpected status {} {}", r.status, r.text()));
            }
        }
        Expect::Accepted(paths) => {
            if r.status != 200 {
                bad.push(format!("expected 200, got {} {}", r.status, r.text()));
            }
            for p in paths {
                if !inside(p) {
                    bad.push(format!("accepted but {p} is not in the container"));
                }
            }
        }
        Expect::RefusedOrLiteral(p) => {
            if refused {
                message_ok(&mut bad);
            } else if r.status == 200 {
                if !inside(p) {
                    bad.push(format!(
                        "200 but the literal {p:?} is not in the container either"
                    ));
                }
            } else {
                bad.push(format!("unexpected status {} {}", r.status, r.text()));
            }
        }
    }
    bad
}

/// Host-side checks after a case: canaries, escaped names, daemon, target,
/// bystander.
#[allow(clippy::too_many_arguments)]
fn after_case(
    d: &Berthd,
    token: &str,
    t: &Target,
    passwd: &[u8],
    bystander: &Target,
    canaries: &mut [&mut Canaries],
    problems: &mut Vec<String>,
) {
    for c in canaries.iter_mut() {
        let changed = c.check();
        if !changed.is_empty() {
            problems.extend(changed);
            c.replant();
        }
    }
    let scan = Scan::standard(d.dir.path(), &d.exec_root, t.inside());
    let escaped = scan.find(token);
    if !escaped.is_empty() {
        problems.push(format!(
            "ESCAPE: written outside the container: {escaped:?}"
        ));
        host::clean_escapes(&escaped, token);
    }
    if let Err(e) = daemon_ok(d) {
        problems.push(e);
        return;
    }
    if let Err(e) = container_ok(d, t, passwd) {
        problems.push(e);
    }
    if let Err(e) = container_ok(d, bystander, passwd) {
        problems.push(format!("bystander: {e}"));
    }
}

fn put_suite(state: State) {
    let d = Berthd::start();
    let u = hostile::unique();
    let bystander = new_target(&d, State::Running, &format!("bystander-{u}"));
    let passwd = image_passwd(&bystander);
    let persistent = (state != State::Created).then(|| new_target(&d, state, &format!("t-{u}")));
    let around = |t: &Target| -> Vec<PathBuf> {
        let mut v = vec![
            d.dir.path().to_path_buf(),
            d.data_root(),
            d.exec_root.clone(),
        ];
        for p in [&t.upper, &t.merged] {
            // Not the grandparents: berth lists those (snapshot ids,
            // container ids) and a stray file there is not ours to add.
            if let Some(parent) = p.parent() {
                v.push(parent.to_path_buf());
            }
        }
        v.sort();
        v.dedup();
        v
    };
    let mut canaries = Canaries::plant(
        &u,
        true,
        &around(persistent.as_ref().unwrap_or(&bystander)),
        WATCHED,
    );
    let fx = fixture(&canaries.dir);
    let cases = put_cases(&u, &canaries.dir);
    let mut rows = Vec::new();

    // The endpoint must work at all before refusals mean anything.
    {
        let t = persistent
            .clone()
            .unwrap_or_else(|| new_target(&d, State::Created, &format!("probe-{u}")));
        let name = format!("benign-{u}");
        let r = put(&d, &t, ROOT_Q, &TarB::new().file(&name, b"hi\n").finish());
        assert!(
            r.status == 200 && t.upper.join(&name).is_file(),
            "a benign PUT /archive must work first: {} {}\n{}",
            r.status,
            r.text(),
            log_tail(&d, 30)
        );
        if persistent.is_none() {
            d.ok(&["rm", "-f", &t.id]);
        }
    }

    for (i, c) in cases.iter().enumerate() {
        let t = persistent
            .clone()
            .unwrap_or_else(|| new_target(&d, State::Created, &format!("c{i}-{u}")));
        let mut per_case = (state == State::Created).then(|| {
            let dirs: Vec<PathBuf> = [&t.upper, &t.merged]
                .iter()
                .filter_map(|p| p.parent().map(Path::to_path_buf))
                .collect();
            Canaries::plant(&format!("{u}x{i}"), false, &dirs, &[])
        });
        let mut problems = Vec::new();
        if let Err(e) = apply_fixture(&d, &t, &fx) {
            problems.push(e);
        }
        let t0 = Instant::now();
        let url = c.url.clone().unwrap_or_else(|| t.archive_url(&c.query));
        let r = d.http_bytes_with(
            "PUT",
            &url,
            c.content_type,
            &c.body,
            HttpLimits {
                timeout: Duration::from_secs(30),
                max_body: 1 << 20,
            },
        );
        let millis = t0.elapsed().as_millis();
        problems.extend(judge(&d, c, &r, &t));
        reset_inside(&t, &canaries.dir);
        let mut cs: Vec<&mut Canaries> = vec![&mut canaries];
        if let Some(p) = per_case.as_mut() {
            cs.push(p);
        }
        after_case(
            &d,
            &c.token,
            &t,
            &passwd,
            &bystander,
            &mut cs,
            &mut problems,
        );
        if persistent.is_none() {
            let _ = d.docker(&["rm", "-f", &t.id]);
        }
        rows.push(Row {
            state,
            case: c.name.clone(),
            status: r.status,
            message: r.message().unwrap_or_default(),
            millis,
            problems,
        });
    }

    // Reads aimed at host files, and the CLI on top, in a container that
    // only holds the fixture.
    let t = new_target(&d, state, &format!("g-{u}"));
    if let Err(e) = apply_fixture(&d, &t, &fx) {
        panic!("fixture for the read cases: {e}");
    }
    rows.extend(get_cases(&d, &t, &canaries, state));
    rows.extend(cli_cases(&d, &t, &canaries, &u, state));
    let mut problems = Vec::new();
    // The read phase wrote nothing; only the CLI case aimed names outside.
    let token = format!("pw{u}cli");
    after_case(
        &d,
        &token,
        &t,
        &passwd,
        &bystander,
        &mut [&mut canaries],
        &mut problems,
    );
    rows.push(Row {
        state,
        case: "after the read and CLI cases".into(),
        status: 0,
        message: String::new(),
        millis: 0,
        problems,
    });

    let table = print_rows(&format!("PUT/GET /archive hostile cases, {state:?}"), &rows);
    let failed: Vec<&Row> = rows.iter().filter(|r| !r.problems.is_empty()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:{table}\n--- berthd log tail ---\n{}",
        failed.len(),
        rows.len(),
        log_tail(&d, 40)
    );
}

/// The tar entries of a reply: (name, type, link target).
fn tar_entries(body: &[u8]) -> Result<Vec<(String, tar::EntryType, String)>, String> {
    let mut a = tar::Archive::new(body);
    let mut v = Vec::new();
    for e in a.entries().map_err(|e| e.to_string())? {
        let e = e.map_err(|e| e.to_string())?;
        let name = e.path().map_err(|e| e.to_string())?.display().to_string();
        let link = e
            .link_name()
            .ok()
            .flatten()
            .map(|l| l.display().to_string())
            .unwrap_or_default();
        v.push((name, e.header().entry_type(), link));
    }
    Ok(v)
}

fn get_cases(d: &Berthd, t: &Target, can: &Canaries, state: State) -> Vec<Row> {
    let c = can.dir.to_str().unwrap();
    let enc = |p: &str| p.replace('/', "%2F");
    // (name, method, path, must be 200 / must fail / either)
    let mut cases: Vec<(String, &str, String, Option<bool>)> = vec![
        (
            "GET ../ traversal in path to host secret".into(),
            "GET",
            format!("/../../../../../../../..{c}/secret"),
            Some(false),
        ),
        (
            "HEAD ../ traversal in path to host secret".into(),
            "HEAD",
            format!("/../../../../../../../..{c}/secret"),
            Some(false),
        ),
        (
            "GET through container symlink leakdir->host dir".into(),
            "GET",
            "/leakdir/secret".into(),
            Some(false),
        ),
        (
            "HEAD through container symlink leakdir->host dir".into(),
            "HEAD",
            "/leakdir/secret".into(),
            Some(false),
        ),
        (
            "GET leakdir/ (follow with trailing slash)".into(),
            "GET",
            "/leakdir/".into(),
            Some(false),
        ),
        (
            "GET leakdir/. (contents)".into(),
            "GET",
            "/leakdir/.".into(),
            Some(false),
        ),
        (
            "GET symlink leak itself (a symlink entry)".into(),
            "GET",
            "/leak".into(),
            Some(true),
        ),
        (
            "GET through up->../../.. to host secret".into(),
            "GET",
            format!("/up{c}/secret"),
            Some(false),
        ),
        (
            "GET through evil->/ to host secret".into(),
            "GET",
            format!("/evil{c}/secret"),
            Some(false),
        ),
        (
            "GET /proc/self/root to host secret".into(),
            "GET",
            format!("/proc/self/root{c}/secret"),
            None,
        ),
        (
            "GET /proc/1/root to host secret".into(),
            "GET",
            format!("/proc/1/root{c}/secret"),
            None,
        ),
        (
            "GET a FIFO (must not hang)".into(),
            "GET",
            "/fifo".into(),
            Some(true),
        ),
        (
            "HEAD a FIFO (must not hang)".into(),
            "HEAD",
            "/fifo".into(),
            Some(true),
        ),
    ];
    if state == State::Running {
        cases.push((
            "GET /proc/self/root/ (whole tree?)".into(),
            "GET",
            "/proc/self/root/etc/hostname".into(),
            None,
        ));
    }
    let mut rows = Vec::new();
    for (name, method, path, want_ok) in cases {
        let t0 = Instant::now();
        let r = d.http_bytes_with(
            method,
            &t.archive_url(&format!("path={}", enc(&path))),
            "text/plain",
            b"",
            HttpLimits {
                timeout: Duration::from_secs(20),
                max_body: 64 << 20,
            },
        );
        let millis = t0.elapsed().as_millis();
        let mut problems = Vec::new();
        if let Err(e) = endpoint_works(&r, method) {
            problems.push(e);
        } else {
            match want_ok {
                Some(true) if r.status != 200 => {
                    problems.push(format!("expected 200, got {} {}", r.status, r.text()))
                }
                Some(false) if r.status == 200 => problems.push(format!(
                    "expected an error, got 200 (stat {:?})",
                    r.header("X-Docker-Container-Path-Stat")
                )),
                _ => {}
            }
            if r.status >= 400 && method == "GET" && r.message().unwrap_or_default().len() < 8 {
                problems.push(format!(
                    "{} without a clear message: {:?}",
                    r.status,
                    r.text()
                ));
            }
        }
        if contains(&r.body, &can.secret) {
            problems.push("LEAK: the host secret is in the reply".into());
        }
        if r.status == 200
            && method == "GET"
            && let Ok(entries) = tar_entries(&r.body)
        {
            let host_only: Vec<&String> = entries
                .iter()
                .map(|e| &e.0)
                .filter(|n| n.ends_with("secret") || n.ends_with("victim") || n.ends_with("inner"))
                .collect();
            if !host_only.is_empty() {
                problems.push(format!(
                    "LEAK: host canary entries in the tar: {host_only:?}"
                ));
            }
        }
        if let Some(m) = r.message()
            && let Some(p) = reveals_host_paths(d, &m)
        {
            problems.push(p);
        }
        if let Some(stat) = r.header("X-Docker-Container-Path-Stat") {
            let decoded = base64_decode(&stat);
            if r.status == 200 && path.ends_with("/secret") {
                problems.push(format!("LEAK: a stat of the host file: {decoded}"));
            }
        }
        if r.truncated {
            problems.push("reply larger than 64 MiB (a host tree?)".into());
        }
        if r.status == 200 && method == "GET" {
            match (name.contains("FIFO"), name.contains("leak itself")) {
                (true, _) => match tar_entries(&r.body) {
                    Ok(v) if v.len() == 1 && v[0].1 == tar::EntryType::Fifo => {}
                    other => problems.push(format!("FIFO not archived as a FIFO: {other:?}")),
                },
                (_, true) => match tar_entries(&r.body) {
                    Ok(v)
                        if v.len() == 1
                            && v[0].1 == tar::EntryType::Symlink
                            && v[0].2 == format!("{c}/secret") => {}
                    other => problems.push(format!("symlink not archived as itself: {other:?}")),
                },
                _ => {}
            }
        }
        rows.push(Row {
            state,
            case: name,
            status: r.status,
            message: r.message().unwrap_or_default(),
            millis,
            problems,
        });
    }
    // export and changes must not follow the symlinks either.
    for (name, url) in [
        ("GET /export (no symlink followed)", "export"),
        ("GET /changes", "changes"),
    ] {
        let t0 = Instant::now();
        let r = d.http_bytes_with(
            "GET",
            &format!("/containers/{}/{url}", t.id),
            "text/plain",
            b"",
            HttpLimits {
                timeout: Duration::from_secs(60),
                max_body: 256 << 20,
            },
        );
        let millis = t0.elapsed().as_millis();
        let mut problems = Vec::new();
        if let Err(e) = endpoint_works(&r, name) {
            problems.push(e);
        } else if r.status != 200 {
            problems.push(format!("{} {}", r.status, r.text()));
        }
        if contains(&r.body, &can.secret) {
            problems.push("LEAK: the host secret is in the reply".into());
        }
        if r.truncated {
            problems.push("reply larger than 256 MiB (a host tree?)".into());
        }
        if r.status == 200 && url == "export" {
            match tar_entries(&r.body) {
                Ok(v) => {
                    let leak = v.iter().find(|e| e.0.trim_start_matches("./") == "leak");
                    if !matches!(leak, Some((_, tar::EntryType::Symlink, _))) {
                        problems.push(format!("export: /leak is not a symlink entry: {leak:?}"));
                    }
                }
                Err(e) => problems.push(format!("export is not a tar: {e}")),
            }
        }
        rows.push(Row {
            state,
            case: name.into(),
            status: r.status,
            message: r.message().unwrap_or_default(),
            millis,
            problems,
        });
    }
    rows
}

/// The real CLI on top: its exit codes and what lands on the host.
fn cli_cases(d: &Berthd, t: &Target, can: &Canaries, u: &str, state: State) -> Vec<Row> {
    let c = can.dir.to_str().unwrap();
    let out_dir = tempfile::Builder::new()
        .prefix("berth-cli-out-")
        .tempdir()
        .unwrap();
    let mut rows = Vec::new();
    let mut row = |name: &str, out: &std::process::Output, mut problems: Vec<String>| {
        if let Some(p) = reveals_host_paths(d, &stderr(out)) {
            problems.push(p);
        }
        rows.push(Row {
            state,
            case: name.into(),
            status: out.status.code().unwrap_or(-1) as u16,
            message: stderr(out).trim().to_string(),
            millis: 0,
            problems,
        });
    };
    let token = format!("pw{u}cli");
    // docker cp - CONTAINER:/ with a traversal tar on stdin.
    let tar = TarB::new()
        .file(&format!("{}tmp/berth-pwned-{token}", deep()), b"x")
        .finish();
    let dest = format!("{}:/", t.id);
    let out = d.docker_in(&["cp", "-", &dest], Some(&tar));
    let mut p = Vec::new();
    if out.status.success() {
        p.push("POLICY: docker cp - accepted a traversal tar (want an error)".into());
    } else if !stderr(&out).contains("Error response from daemon") {
        p.push(format!("no daemon error shown: {:?}", stderr(&out)));
    }
    row("CLI: docker cp - C:/ with ../ traversal tar", &out, p);

    // Out through symlinks to host paths: nothing of the host may come out.
    for (name, src, follow) in [
        (
            "CLI: docker cp C:/leakdir/secret HOST",
            "/leakdir/secret",
            false,
        ),
        ("CLI: docker cp -L C:/leak HOST", "/leak", true),
        ("CLI: docker cp C:/evil<canary>/secret HOST", "", false),
    ] {
        let src = if src.is_empty() {
            format!("/evil{c}/secret")
        } else {
            src.to_string()
        };
        let dst = out_dir.path().join("got");
        let _ = std::fs::remove_file(&dst);
        let from = format!("{}:{src}", t.id);
        let mut args = vec!["cp"];
        if follow {
            args.push("-L");
        }
        args.extend([from.as_str(), dst.to_str().unwrap()]);
        let out = d.docker(&args);
        let mut p = Vec::new();
        if out.status.success() {
            p.push("docker cp succeeded copying a host-only path".into());
        }
        if let Ok(data) = std::fs::read(&dst)
            && contains(&data, &can.secret)
        {
            p.push("LEAK: host secret copied out".into());
        }
        row(name, &out, p);
    }
    // docker cp C:/leakdir/secret - (tar stream to stdout)
    let out = d.docker(&["cp", &format!("{}:/leakdir/secret", t.id), "-"]);
    let mut p = Vec::new();
    if contains(&out.stdout, &can.secret) {
        p.push("LEAK: host secret on stdout".into());
    }
    if out.status.success() {
        p.push("docker cp succeeded copying a host-only path".into());
    }
    row("CLI: docker cp C:/leakdir/secret -", &out, p);
    rows
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

fn base64_decode(s: &str) -> String {
    let table = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    };
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for v in s.bytes().filter_map(table) {
        bits = (bits << 6) | v as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn hostile_archives_running_container() {
    require_env!();
    put_suite(State::Running);
}

#[test]
fn hostile_archives_created_container() {
    require_env!();
    put_suite(State::Created);
}

#[test]
fn hostile_archives_exited_container() {
    require_env!();
    put_suite(State::Exited);
}

// ---------------------------------------------------------------------------
// Through a bind mount: the mount's content is the container's to shape.

#[test]
fn hostile_symlinks_inside_a_bind_mount_stay_inside() {
    require_env!();
    let d = Berthd::start();
    let u = hostile::unique();
    let mut canaries = Canaries::plant(&u, true, &[d.dir.path().to_path_buf()], WATCHED);
    let can = canaries.dir.to_str().unwrap().to_string();
    let bystander = new_target(&d, State::Running, &format!("bystander-{u}"));
    let passwd = image_passwd(&bystander);
    let mut rows = Vec::new();
    for state in [State::Running, State::Created] {
        // What the container (or its previous run) left in the bind dir.
        let bind = tempfile::Builder::new()
            .prefix("berth-bind-")
            .tempdir()
            .unwrap();
        std::os::unix::fs::symlink("/", bind.path().join("escape")).unwrap();
        std::os::unix::fs::symlink("../../../../../../..", bind.path().join("up")).unwrap();
        std::os::unix::fs::symlink(format!("{can}/secret"), bind.path().join("leak")).unwrap();
        let name = format!("bind-{state:?}-{u}").to_lowercase();
        let vol = format!("{}:/data", bind.path().display());
        let id = match state {
            State::Running => d.ok(&[
                "run",
                "-d",
                "--name",
                &name,
                "-v",
                &vol,
                "busybox",
                "sh",
                "-c",
                "trap 'exit 0' TERM; while :; do sleep 1; done",
            ]),
            _ => d.ok(&[
                "create",
                "--name",
                &name,
                "-v",
                &vol,
                "busybox",
                "cat",
                "/etc/passwd",
            ]),
        };
        let j = inspect(&d, &id).unwrap();
        let data = &j["GraphDriver"]["Data"];
        let t = Target {
            id: id.clone(),
            state,
            upper: PathBuf::from(data["UpperDir"].as_str().unwrap()),
            work: PathBuf::from(data["WorkDir"].as_str().unwrap()),
            merged: PathBuf::from(data["MergedDir"].as_str().unwrap()),
            lower: bystander.lower.clone(),
            pid: j["State"]["Pid"].as_i64().filter(|&p| p > 0),
        };
        let mut n = 0;
        let mut next = || {
            n += 1;
            let tok = format!("pw{u}b{n:02}");
            (format!("berth-pwned-{tok}"), tok)
        };
        let q = |p: &str| format!("path={}&noOverwriteDirNonDir=true", p.replace('/', "%2F"));
        let case = |name: &str, query: String, body: Vec<u8>, expect: Expect, token: String| Case {
            name: name.into(),
            token,
            url: None,
            query,
            content_type: TAR,
            body,
            expect,
        };
        // Each case, and where an accepted file must then be on the host.
        let mut cases: Vec<(Case, Option<PathBuf>)> = Vec::new();
        let (p, tok) = next();
        cases.push((
            case(
                "bind: benign file into /data",
                q("/data"),
                TarB::new().file(&p, b"x").finish(),
                Expect::Accepted(vec![]),
                tok,
            ),
            Some(bind.path().join(&p)),
        ));
        let (p, tok) = next();
        cases.push((
            case(
                "bind: destination /data/escape/tmp (escape -> /)",
                q("/data/escape/tmp"),
                TarB::new().file(&p, b"x").finish(),
                Expect::Contained,
                tok,
            ),
            None,
        ));
        let (p, tok) = next();
        cases.push((
            case(
                "bind: destination /data/up (up -> ../../..)",
                q("/data/up"),
                TarB::new().file(&p, b"x").finish(),
                Expect::Contained,
                tok,
            ),
            None,
        ));
        let (p, tok) = next();
        cases.push((
            case(
                "bind: entry escape/tmp/P into /data",
                q("/data"),
                TarB::new().file(&format!("escape/tmp/{p}"), b"x").finish(),
                Expect::Contained,
                tok,
            ),
            None,
        ));
        let (p, tok) = next();
        cases.push((
            case(
                "bind: entry ../P into /data (leaves the mount)",
                q("/data"),
                TarB::new().file(&format!("../{p}"), b"x").finish(),
                Expect::Refused,
                tok,
            ),
            None,
        ));
        let (_, tok) = next();
        cases.push((
            case(
                "bind: file replacing /data/leak (-> host secret)",
                q("/data"),
                TarB::new().file("leak", b"PWNED\n").finish(),
                Expect::Contained,
                tok,
            ),
            None,
        ));
        let mut inside = t.inside();
        inside.push(bind.path().to_path_buf());
        for (c, must_exist) in cases {
            let r = put(&d, &t, &c.query, &c.body);
            let mut problems = judge(&d, &c, &r, &t);
            if let Some(f) = must_exist
                && r.status == 200
                && !f.exists()
            {
                problems.push(format!(
                    "accepted but {} is not in the bind dir",
                    f.display()
                ));
            }
            let escaped = Scan::standard(d.dir.path(), &d.exec_root, inside.clone()).find(&c.token);
            if !escaped.is_empty() {
                problems.push(format!(
                    "ESCAPE: written outside the container: {escaped:?}"
                ));
                host::clean_escapes(&escaped, &c.token);
            }
            let changed = canaries.check();
            if !changed.is_empty() {
                problems.extend(changed);
                canaries.replant();
            }
            rows.push(Row {
                state,
                case: c.name.clone(),
                status: r.status,
                message: r.message().unwrap_or_default(),
                millis: 0,
                problems,
            });
        }
        for (case, path) in [
            (
                "bind: GET /data/leak (the symlink itself)",
                "/data/leak".to_string(),
            ),
            (
                "bind: GET /data/escape/<canary>/secret",
                format!("/data/escape{can}/secret"),
            ),
            (
                "bind: GET /data/up/<canary>/secret",
                format!("/data/up{can}/secret"),
            ),
        ] {
            let r = d.http_bytes(
                "GET",
                &t.archive_url(&format!("path={}", path.replace('/', "%2F"))),
                "text/plain",
                b"",
            );
            let mut problems = Vec::new();
            if let Err(e) = endpoint_works(&r, "GET archive") {
                problems.push(e);
            }
            if contains(&r.body, &canaries.secret) {
                problems.push("LEAK: the host secret is in the reply".into());
            }
            if path.ends_with("/secret") && r.status == 200 {
                problems.push("LEAK: a host-only file was found".into());
            }
            rows.push(Row {
                state,
                case: case.into(),
                status: r.status,
                message: r.message().unwrap_or_default(),
                millis: 0,
                problems,
            });
        }
        let mut problems = Vec::new();
        if let Err(e) = daemon_ok(&d) {
            problems.push(e);
        } else {
            if let Err(e) = container_ok(&d, &t, &passwd) {
                problems.push(e);
            }
            if let Err(e) = container_ok(&d, &bystander, &passwd) {
                problems.push(format!("bystander: {e}"));
            }
        }
        rows.push(Row {
            state,
            case: "bind: daemon and containers still work".into(),
            status: 0,
            message: String::new(),
            millis: 0,
            problems,
        });
        let _ = d.docker(&["rm", "-f", &id]);
    }
    let table = print_rows("through a bind mount", &rows);
    assert!(
        rows.iter().all(|r| r.problems.is_empty()),
        "bind mount cases:{table}\n--- berthd log tail ---\n{}",
        log_tail(&d, 40)
    );
}

// ---------------------------------------------------------------------------
// Bombs

/// Sends a generated stream to PUT /archive while watching berthd's memory
/// and the disk; the server must refuse it long before `cap` decompressed
/// bytes.
struct BombOutcome {
    reply: HttpReply,
    represented: u64,
    compressed: u64,
    capped: bool,
    aborted: Option<String>,
    peak_rss_kib: u64,
    /// berthd's high-water mark since it started (all bombs so far).
    hwm_kib: u64,
    written_bytes: u64,
    secs: f64,
}

fn send_bomb(d: &Berthd, t: &Target, bomb: Bomb) -> BombOutcome {
    let progress = bomb.progress.clone();
    let sampler = RssSampler::start(d.pid());
    let start_free = host::free_bytes(&d.data_root());
    let stop = Arc::new(AtomicBool::new(false));
    let why = Arc::new(std::sync::Mutex::new(None::<String>));
    // A watchdog keeps the test itself safe: no more than 20 GiB of disk
    // and 4 GiB of daemon memory, whatever the server does.
    let dog = {
        let (stop, progress, why) = (stop.clone(), progress.clone(), why.clone());
        let root = d.data_root();
        let pid = d.pid();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let free = host::free_bytes(&root);
                let used = start_free.saturating_sub(free);
                let rss = host::rss_kib(pid).map(|r| r.0).unwrap_or(0);
                let reason = if used > 20 * GIB {
                    Some(format!("the daemon wrote {} GiB to disk", used / GIB))
                } else if free < 5 * GIB {
                    Some(format!("only {} GiB left on disk", free / GIB))
                } else if rss > 4 << 20 {
                    Some(format!(
                        "berthd RSS reached {} MiB; the test killed it",
                        rss / 1024
                    ))
                } else {
                    None
                };
                if let Some(r) = reason {
                    if rss > 4 << 20 {
                        // Our own child: stop it before it takes the host
                        // down; the checks after the case then say so.
                        let _ = rustix::process::kill_process(
                            rustix::process::Pid::from_raw(pid).unwrap(),
                            rustix::process::Signal::KILL,
                        );
                    }
                    *why.lock().unwrap() = Some(r);
                    progress.abort.store(true, Ordering::Relaxed);
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let t0 = Instant::now();
    let reply = d.http_stream(
        "PUT",
        &t.archive_url(ROOT_Q),
        TAR,
        bomb,
        HttpLimits {
            timeout: Duration::from_secs(120),
            max_body: 1 << 20,
        },
    );
    let secs = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = dog.join();
    let (peak, hwm, _) = sampler.finish();
    let written_bytes = std::fs::read_dir(&t.upper)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("bomb"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| std::os::unix::fs::MetadataExt::blocks(&m) * 512)
                .sum()
        })
        .unwrap_or(0);
    let aborted = why.lock().unwrap().clone();
    BombOutcome {
        reply,
        represented: progress.represented.load(Ordering::Relaxed),
        compressed: progress.compressed.load(Ordering::Relaxed),
        capped: progress.capped.load(Ordering::Relaxed),
        aborted,
        peak_rss_kib: peak,
        hwm_kib: hwm,
        written_bytes,
        secs,
    }
}

#[test]
fn decompression_and_header_bombs_are_refused_early() {
    require_env!();
    let d = Berthd::start();
    let u = hostile::unique();
    let free = host::free_bytes(&d.data_root());
    eprintln!("free space on the data root: {} GiB", free / GIB);
    let bystander = new_target(&d, State::Running, &format!("bystander-{u}"));
    let passwd = image_passwd(&bystander);
    let mut canaries = Canaries::plant(&u, true, &[d.dir.path().to_path_buf()], WATCHED);
    let base_rss = host::rss_kib(d.pid()).unwrap();
    eprintln!(
        "berthd baseline VmRSS {} KiB, VmHWM {} KiB",
        base_rss.0, base_rss.1
    );

    // 64 entries of 1 GiB of zeros: 64 GiB once decompressed. The sender
    // stops at 6 GiB (the disk would fill otherwise). What counts is what
    // the server did: a server that wrote 4 GiB of it into the container
    // has no limit worth the name. (The sender's own count says little for
    // dense codecs: 6 GiB of bzip2 is a few KiB, all in the socket buffer
    // before the server has read any.)
    let entries: u64 = 64;
    let cap = 6 * GIB;
    let bomb_segs = |tok: &str| -> Vec<Seg> {
        let mut v = Vec::new();
        for k in 0..entries {
            let name = format!("bomb-{tok}-{k:02}");
            let mut h = Hdr::new("", b'0');
            h.name = name.as_bytes();
            h.size = Size::Octal(GIB);
            v.push(Seg::Bytes(h.encode().to_vec()));
            v.push(Seg::Zeros(GIB));
        }
        v.push(Seg::Bytes(vec![0u8; 1024]));
        v
    };
    // Headers whose own data is huge: a PAX record block and a GNU long
    // name of 256 MiB, sent uncompressed so no ratio limit can hide it
    // (Go's reader refuses anything over 1 MiB; one that buffers them
    // whole needs at least 256 MiB of memory).
    let header_bomb = |kind: u8| -> Vec<Seg> {
        let mut h = Hdr::new(
            if kind == b'x' {
                "./PaxHeaders/x"
            } else {
                "././@LongLink"
            },
            kind,
        );
        h.size = Size::Octal(256 * MIB);
        vec![
            Seg::Bytes(h.encode().to_vec()),
            Seg::Zeros(256 * MIB),
            Seg::Bytes(TarB::new().file("after", b"x").finish()),
        ]
    };
    let mut rows = Vec::new();
    let plans: Vec<(String, String, Codec, Vec<Seg>, u64)> = vec![
        (
            "gzip bomb, 64 x 1 GiB zeros".into(),
            format!("g{u}"),
            Codec::Gzip,
            bomb_segs(&format!("g{u}")),
            cap,
        ),
        (
            "xz bomb, 64 x 1 GiB zeros".into(),
            format!("x{u}"),
            Codec::Xz,
            bomb_segs(&format!("x{u}")),
            cap,
        ),
        (
            "zstd bomb, 64 x 1 GiB zeros".into(),
            format!("z{u}"),
            Codec::Zstd,
            bomb_segs(&format!("z{u}")),
            cap,
        ),
        (
            "bzip2 bomb, 64 x 1 GiB zeros (concatenated streams)".into(),
            format!("b{u}"),
            Codec::Bzip2,
            bomb_segs(&format!("b{u}")),
            cap,
        ),
        (
            "PAX header of 256 MiB (uncompressed)".into(),
            format!("pw{u}"),
            Codec::None,
            header_bomb(b'x'),
            u64::MAX,
        ),
        (
            "GNU long name of 256 MiB (uncompressed)".into(),
            format!("pw{u}"),
            Codec::None,
            header_bomb(b'L'),
            u64::MAX,
        ),
    ];
    for (i, (name, token, codec, segs, cap)) in plans.into_iter().enumerate() {
        // A created container: the stopped view is mounted for the
        // request, and must be released after the refusal (it starts).
        let t = new_target(&d, State::Created, &format!("bomb{i}-{u}"));
        let out = send_bomb(&d, &t, Bomb::new(codec, segs, cap));
        let mut problems = Vec::new();
        let r = &out.reply;
        if let Err(e) = endpoint_works(r, "PUT archive") {
            problems.push(e);
        } else if !(400..600).contains(&r.status) {
            problems.push(format!("bomb not refused: {} {}", r.status, r.text()));
        } else if r.truncated || r.body.len() > 64 << 10 {
            problems.push(format!(
                "the error reply is {} bytes (at least): it echoes the hostile input",
                r.body.len()
            ));
        } else if r.message().unwrap_or_default().len() < 8 {
            problems.push(format!("no clear message: {:?}", r.text()));
        }
        if out.written_bytes >= 4 * GIB {
            problems.push(format!(
                "no effective limit: the server wrote {} MiB of the bomb into the container{}",
                out.written_bytes / MIB,
                if out.capped {
                    format!(
                        " and was still reading when the test stopped sending at {} GiB",
                        out.represented / GIB
                    )
                } else {
                    String::new()
                }
            ));
        }
        if let Some(why) = &out.aborted {
            problems.push(format!("watchdog stopped the bomb: {why}"));
        }
        if out.peak_rss_kib > 150 * 1024 {
            problems.push(format!(
                "berthd memory not bounded: peak {} MiB",
                out.peak_rss_kib / 1024
            ));
        }
        let msg = format!(
            "{} | sent {} KiB compressed = {} MiB decompressed, {:.1}s, {} MiB written in the container, berthd peak RSS {} MiB (VmHWM so far {} MiB)",
            r.message().unwrap_or_default(),
            out.compressed / 1024,
            out.represented / MIB,
            out.secs,
            out.written_bytes / MIB,
            out.peak_rss_kib / 1024,
            out.hwm_kib / 1024,
        );
        after_case(
            &d,
            &token,
            &t,
            &passwd,
            &bystander,
            &mut [&mut canaries],
            &mut problems,
        );
        let _ = d.docker(&["rm", "-f", &t.id]);
        rows.push(Row {
            state: State::Created,
            case: name,
            status: r.status,
            message: msg,
            millis: (out.secs * 1000.0) as u128,
            problems,
        });
    }
    let table = print_rows("bombs", &rows);
    assert!(
        rows.iter().all(|r| r.problems.is_empty()),
        "bombs:{table}\n--- berthd log tail ---\n{}",
        log_tail(&d, 40)
    );
}

// ---------------------------------------------------------------------------
// The symlink-swap race (CVE-2018-15664)

#[test]
fn symlink_swap_race_stays_inside_the_container() {
    require_env!();
    let d = Berthd::start();
    let u = hostile::unique();
    let canaries = Canaries::plant(&u, true, &[d.dir.path().to_path_buf()], WATCHED);
    let can = canaries.dir.to_str().unwrap().to_string();
    // /victim flips between a real directory and a symlink to / as fast as
    // busybox can.
    let t = new_target_cmd(
        &d,
        &format!("race-{u}"),
        "while :; do rm -rf /victim; mkdir /victim; rm -rf /victim; ln -s / /victim; done",
    );
    let passwd = image_passwd(&t);
    let token = format!("berth-race-{u}");
    let src = tempfile::Builder::new()
        .prefix("berth-race-src-")
        .tempdir()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let leaks = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stats = Arc::new(std::sync::Mutex::new(BTreeMap::<String, u64>::new()));
    let count = |stats: &std::sync::Mutex<BTreeMap<String, u64>>, k: String| {
        *stats.lock().unwrap().entry(k).or_default() += 1;
    };
    let n = AtomicU64::new(0);
    std::thread::scope(|s| {
        // docker cp HOSTFILE C:/victim/ (the CLI stats, then PUTs).
        s.spawn(|| {
            while Instant::now() < deadline {
                let i = n.fetch_add(1, Ordering::Relaxed);
                let f = src.path().join(format!("{token}-cli{i}"));
                std::fs::write(&f, b"race\n").unwrap();
                let out = d.docker(&["cp", f.to_str().unwrap(), &format!("{}:/victim/", t.id)]);
                count(&stats, format!("cli cp in: exit {:?}", out.status.code()));
                let _ = std::fs::remove_file(&f);
            }
        });
        // Raw PUT ?path=/victim and /victim/tmp: no CLI-side resolution.
        s.spawn(|| {
            while Instant::now() < deadline {
                let i = n.fetch_add(1, Ordering::Relaxed);
                for q in ["/victim", "/victim/tmp", "/victim/etc"] {
                    let tar = TarB::new()
                        .file(&format!("{token}-put{i}"), b"race\n")
                        .dir(&format!("{token}-dir{i}"))
                        .file(&format!("{token}-dir{i}/f"), b"race\n")
                        .finish();
                    let r = d.http_bytes(
                        "PUT",
                        &t.archive_url(&format!(
                            "path={}&noOverwriteDirNonDir=true",
                            q.replace('/', "%2F")
                        )),
                        TAR,
                        &tar,
                    );
                    count(&stats, format!("raw PUT {q}: {}", r.status));
                }
            }
        });
        // Reads aimed at the host's canary through /victim.
        s.spawn(|| {
            while Instant::now() < deadline {
                for (method, p) in [
                    ("GET", format!("/victim{can}/secret")),
                    ("GET", format!("/victim{can}")),
                    ("GET", format!("/victim{can}/")),
                    ("HEAD", format!("/victim{can}/secret")),
                ] {
                    let r = d.http_bytes_with(
                        method,
                        &t.archive_url(&format!("path={}", p.replace('/', "%2F"))),
                        "text/plain",
                        b"",
                        HttpLimits {
                            timeout: Duration::from_secs(30),
                            max_body: 16 << 20,
                        },
                    );
                    count(&stats, format!("raw {method} {p}: {}", r.status));
                    if contains(&r.body, &canaries.secret) || r.status == 200 {
                        leaks.lock().unwrap().push(format!(
                            "{method} {p}: {} {:?} body {} bytes",
                            r.status,
                            r.header("X-Docker-Container-Path-Stat")
                                .map(|s| base64_decode(&s)),
                            r.body.len()
                        ));
                    }
                }
                let out = d.docker(&["cp", &format!("{}:/victim{can}/secret", t.id), "-"]);
                count(&stats, format!("cli cp out: exit {:?}", out.status.code()));
                if contains(&out.stdout, &canaries.secret) {
                    leaks
                        .lock()
                        .unwrap()
                        .push("docker cp C:/victim/<canary>/secret - printed the secret".into());
                }
            }
        });
    });
    let mut problems = Vec::new();
    let escaped = Scan::standard(d.dir.path(), &d.exec_root, t.inside()).find(&token);
    if !escaped.is_empty() {
        problems.push(format!(
            "ESCAPE: written outside the container: {escaped:?}"
        ));
        host::clean_escapes(&escaped, &token);
    }
    problems.extend(canaries.check());
    problems.extend(leaks.lock().unwrap().iter().map(|l| format!("LEAK: {l}")));
    if let Err(e) = daemon_ok(&d) {
        problems.push(e);
    }
    // Where the copies went: inside, at / (through the link) or /victim.
    let landed = Scan {
        trees: vec![t.upper.clone()],
        shallow: vec![],
        inside: vec![],
    }
    .find(&token)
    .len();
    let stats = stats.lock().unwrap().clone();
    let report = format!(
        "race for 20 s: {stats:#?}\nfiles found inside the container's upper dir: {landed}\nproblems: {problems:#?}"
    );
    eprintln!("{report}");
    let puts_ok: u64 = stats
        .iter()
        .filter(|(k, _)| k.starts_with("raw PUT") && k.ends_with(": 200"))
        .map(|(_, v)| v)
        .sum();
    assert!(
        puts_ok > 0 && landed > 0,
        "the race never copied anything in; it tested nothing:\n{report}\n{}",
        log_tail(&d, 30)
    );
    if let Err(e) = container_ok(&d, &t, &passwd) {
        problems.push(e);
    }
    assert!(problems.is_empty(), "{report}");
}

fn new_target_cmd(d: &Berthd, name: &str, script: &str) -> Target {
    let id = d.ok(&["run", "-d", "--name", name, "busybox", "sh", "-c", script]);
    let j = inspect(d, &id).unwrap();
    let data = &j["GraphDriver"]["Data"];
    let p = |k: &str| PathBuf::from(data[k].as_str().unwrap());
    Target {
        id,
        state: State::Running,
        upper: p("UpperDir"),
        work: p("WorkDir"),
        merged: p("MergedDir"),
        lower: data["LowerDir"]
            .as_str()
            .unwrap()
            .split(':')
            .next_back()
            .unwrap()
            .into(),
        pid: j["State"]["Pid"].as_i64(),
    }
}

// ---------------------------------------------------------------------------
// Bounded streams: 4 GiB each way

#[test]
fn four_gib_copy_in_and_out_keeps_rss_flat() {
    require_env!();
    let d = Berthd::start();
    let need = 4 * GIB + 2 * GIB;
    let free = host::free_bytes(&d.data_root());
    if free < need {
        let why = format!(
            "needs {} GiB free on the data root's filesystem, {} GiB free",
            need / GIB,
            free / GIB
        );
        if std::env::var("BERTH_REQUIRE_ROOT_TESTS").as_deref() == Ok("1") {
            panic!("{why}");
        }
        eprintln!("SKIPPED: {why}");
        return;
    }
    let u = hostile::unique();
    let t = new_target(&d, State::Running, &format!("big-{u}"));
    let src_dir = tempfile::Builder::new()
        .prefix("berth-big-")
        .tempdir()
        .unwrap();
    // Sparse: costs no disk on the host side, reads as zeros.
    let src = src_dir.path().join("big");
    std::fs::File::create(&src)
        .unwrap()
        .set_len(4 * GIB)
        .unwrap();
    let (base, base_hwm) = host::rss_kib(d.pid()).unwrap();

    let sampler = RssSampler::start(d.pid());
    let t0 = Instant::now();
    let out = d.docker(&["cp", src.to_str().unwrap(), &format!("{}:/big", t.id)]);
    let in_secs = t0.elapsed().as_secs_f64();
    let (in_peak, in_hwm, in_helpers) = sampler.finish();
    assert!(
        out.status.success(),
        "docker cp in: {}\n{}",
        stderr(&out),
        log_tail(&d, 30)
    );
    let size = std::fs::metadata(t.upper.join("big")).map(|m| m.len());
    assert_eq!(size.ok(), Some(4 * GIB), "the copy in is incomplete");

    let sampler = RssSampler::start(d.pid());
    let t0 = Instant::now();
    let mut child = d
        .docker_cmd(&["cp", &format!("{}:/big", t.id), "-"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut so = child.stdout.take().unwrap();
    let mut got = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        use std::io::Read;
        match so.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => got += k as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("reading docker cp out: {e}"),
        }
    }
    let st = child.wait().unwrap();
    let out_secs = t0.elapsed().as_secs_f64();
    let (out_peak, out_hwm, out_helpers) = sampler.finish();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(st.success(), "docker cp out: {err}");
    assert!(got >= 4 * GIB, "docker cp out streamed only {got} bytes");

    let report = format!(
        "4 GiB copy: berthd VmRSS baseline {} MiB (VmHWM {} MiB)\n  in:  {:.1}s ({:.0} MB/s), peak VmRSS {} MiB, VmHWM {} MiB, helper processes peak {} MiB\n  out: {:.1}s ({:.0} MB/s), peak VmRSS {} MiB, VmHWM {} MiB, helper processes peak {} MiB, {} bytes of tar",
        base / 1024,
        base_hwm / 1024,
        in_secs,
        4.0 * GIB as f64 / in_secs / 1e6,
        in_peak / 1024,
        in_hwm / 1024,
        in_helpers / 1024,
        out_secs,
        4.0 * GIB as f64 / out_secs / 1e6,
        out_peak / 1024,
        out_hwm / 1024,
        out_helpers / 1024,
        got,
    );
    eprintln!("{report}");
    let bound = 150 * 1024;
    assert!(
        in_peak.max(in_hwm).max(out_peak).max(out_hwm) < bound
            && in_helpers.max(out_helpers) < bound,
        "berthd memory grew with the stream (bound 150 MiB):\n{report}"
    );
}

// ---------------------------------------------------------------------------
// Self-checks of the builders (no daemon needed)

#[test]
fn raw_tar_builder_writes_what_gnu_tar_and_tar_rs_read() {
    let long = format!("{}/file", "d".repeat(120));
    let tar = TarB::new()
        .dir("a")
        .file("a/f", b"hello")
        .symlink("a/l", "/etc")
        .hardlink("a/h", "a/f")
        .fifo("a/p")
        .chardev("a/c", 1, 3)
        .pax(&[("path", b"pax/name")])
        .file("ignored", b"x")
        .gnu_long(b'L', &long)
        .file("short", b"y")
        .finish();
    let names: Vec<String> = tar_entries(&tar)
        .unwrap()
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(
        names,
        [
            "a",
            "a/f",
            "a/l",
            "a/h",
            "a/p",
            "a/c",
            "pax/name",
            long.as_str()
        ]
    );
    if let Some(gnu) = common::which("tar") {
        let mut child = std::process::Command::new(gnu)
            .arg("-tf")
            .arg("-")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&tar).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let listed: Vec<String> = stdout(&out)
            .lines()
            .map(|l| l.trim_end_matches('/').to_string())
            .collect();
        assert_eq!(listed, names);
    }
    // A hostile raw name survives as written.
    let evil = TarB::new().file("../../x", b"x").finish();
    assert_eq!(&evil[..8], b"../../x\0");
}
