//! Differential tests of the container filesystem API — `docker cp` (HEAD,
//! GET and PUT /containers/{id}/archive), `docker diff`, `docker export` —
//! against Debian's dockerd: the same CLI commands run against berthd and
//! dockerd (20.10, from `docker.io`), and the results are compared: exit
//! codes, messages, and the trees produced (host trees for copies out,
//! what the container itself sees and what a copy back out shows for
//! copies in, tar streams for `-` and export).
//!
//! Where dockerd 20.10 is wrong or unsafe (and current Docker differs),
//! the scenario says so and checks berth against the safe/current
//! behaviour instead of comparing: see `Side::expect` calls.
//!
//! Run: `cargo test -p berthd --test cp_differential` as root, with
//! dockerd and containerd installed (apt-get install docker.io) and the
//! v28 docker CLI first on PATH. `BERTH_DIFF_ONLY=name` runs only matching
//! scenarios; `BERTH_DIFF_DUMP=1` prints every observation.

mod common;
mod differential;

use std::collections::BTreeMap;

use common::stdout;
use differential::fixture::{self, area};
use differential::tree::TarEntry;
use differential::{Scenario, Side, State, parse_tar, run_scenarios, tar_tree};

// ---------------------------------------------------------------------------
// Helpers shared by the scenarios.

/// Expands an argument template: `@/p` is `CONTAINER:/p`, `%x` is the
/// case's own host directory `ID/x`, `^x` the host source tree `src/x`.
fn expand(arg: &str, container: &str, id: &str) -> String {
    if let Some(p) = arg.strip_prefix('@') {
        format!("{container}:{p}")
    } else if let Some(p) = arg.strip_prefix('%') {
        format!("{id}/{p}")
    } else if let Some(p) = arg.strip_prefix('^') {
        format!("src/{p}")
    } else {
        arg.to_string()
    }
}

/// A tar stream's tree with the user and group *names* left out; berth
/// additionally must not put any there: dockerd 20.10 fills them from
/// the host's passwd/group (archive/tar's FileInfoHeader lookups), which
/// current Docker stopped doing (go-archive's FileInfoHeaderNoLookups) —
/// a host database has nothing to say about a container's files.
fn tar_tree_checked(side: &mut Side, label: &str, entries: &[TarEntry]) -> Vec<String> {
    if side.is_berth() {
        let named: Vec<String> = entries
            .iter()
            .filter(|e| !e.uname.is_empty() || !e.gname.is_empty())
            .map(|e| format!("{} ({}:{})", e.name, e.uname, e.gname))
            .collect();
        side.expect(&format!("{label}: no uname/gname"), &named.join("\n"), "");
    }
    let stripped: Vec<TarEntry> = entries
        .iter()
        .map(|e| TarEntry {
            uname: String::new(),
            gname: String::new(),
            ..e.clone()
        })
        .collect();
    tar_tree(&stripped)
}

/// `docker ARGS` printing a tar on stdout: records exit, stderr and the
/// tree of the stream. Returns the entries (empty when none).
fn cli_tar(side: &mut Side, label: &str, args: &[&str]) -> Vec<TarEntry> {
    let out = side.docker(args);
    let mut text = format!(
        "$ docker {}\nexit={}\n",
        side.normalize(&args.join(" ")).trim_end(),
        out.status.code().map_or("signal".into(), |c| c.to_string())
    );
    if !out.stderr.is_empty() {
        text.push_str("stderr:\n");
        for l in side.normalize(&common::stderr(&out)).lines() {
            text.push_str(&format!("  {l}\n"));
        }
    }
    let mut entries = Vec::new();
    if out.status.success() || !out.stdout.is_empty() {
        match parse_tar(&out.stdout) {
            Ok(e) => {
                text.push_str("tar:\n");
                for l in tar_tree_checked(side, label, &e) {
                    text.push_str(&format!("  {l}\n"));
                }
                entries = e;
            }
            Err(e) => text.push_str(&format!("tar: unreadable: {e}\n")),
        }
    }
    side.record(label, text);
    entries
}

/// Splits a probe listing (`@@ DIR` sections) by directory.
fn split_listing(listing: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut cur: Option<String> = None;
    for l in listing.lines() {
        if let Some(d) = l.strip_prefix("@@ ") {
            cur = Some(d.to_string());
            out.insert(d.to_string(), String::new());
        } else if l == "@@end" {
            cur = None;
        } else if let Some(c) = &cur {
            let s = out.get_mut(c).unwrap();
            s.push_str(l);
            s.push('\n');
        }
    }
    if out.is_empty() {
        out.insert("(none)".into(), listing.to_string());
    }
    out
}

fn write_host(side: &Side, rel: &str, content: &str) {
    let p = side.work.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

// ---------------------------------------------------------------------------
// docker cp out of a container: CONTAINER:SRC → host.

/// Changes made in the container's layer by running containers' setup:
/// a whiteout, a copied-up directory with a new mode, a directory replaced
/// by a file, new content with its own owner and a fixed time.
const OUT_SETUP: &str = "echo upper > /fx/dir/new-upper; rm /fx/dir/a; chmod 0711 /fx/dir/sub; \
     rm -r /fx/emptydir; echo now-a-file > /fx/emptydir; \
     mkdir -p /up/d; echo u > /up/d/f; chown 42:43 /up/d/f; ln -s /up/d /up/abs; \
     touch -d '2001-01-01 00:00:00' /up/d/f";

struct OutCase {
    id: &'static str,
    /// Host preparation inside the case directory: `d:X` mkdir, `f:X` a
    /// file "host\n", `l:T:X` a symlink X → T.
    prep: &'static [&'static str],
    args: &'static [&'static str],
    /// stdout is a tar stream.
    tar: bool,
}

const fn oc(
    id: &'static str,
    prep: &'static [&'static str],
    args: &'static [&'static str],
) -> OutCase {
    OutCase {
        id,
        prep,
        args,
        tar: false,
    }
}

const fn ot(id: &'static str, args: &'static [&'static str]) -> OutCase {
    OutCase {
        id,
        prep: &[],
        args,
        tar: true,
    }
}

const OUT_CASES: &[OutCase] = &[
    oc("o01-file-to-new", &[], &["cp", "@/fx/file.txt", "%out.txt"]),
    oc("o02-file-to-dir", &["d:d"], &["cp", "@/fx/file.txt", "%d"]),
    oc(
        "o03-file-to-dir-slash",
        &["d:d"],
        &["cp", "@/fx/file.txt", "%d/"],
    ),
    oc(
        "o04-file-over-file",
        &["f:f"],
        &["cp", "@/fx/file.txt", "%f"],
    ),
    oc(
        "o05-file-to-new-slash",
        &[],
        &["cp", "@/fx/file.txt", "%newdir/"],
    ),
    oc(
        "o06-file-missing-parent",
        &[],
        &["cp", "@/fx/file.txt", "%nodir/x"],
    ),
    oc("o07-dir-to-new", &[], &["cp", "@/fx/dir", "%out"]),
    oc("o08-dir-to-dir", &["d:d"], &["cp", "@/fx/dir", "%d"]),
    oc("o09-dir-over-file", &["f:f"], &["cp", "@/fx/dir", "%f"]),
    oc(
        "o10-dot-to-dir",
        &["d:d", "f:d/keep"],
        &["cp", "@/fx/dir/.", "%d"],
    ),
    oc("o11-dot-to-new", &[], &["cp", "@/fx/dir/.", "%new"]),
    oc("o12-dir-slash-to-new", &[], &["cp", "@/fx/dir/", "%new"]),
    oc("o13-link-file", &[], &["cp", "@/fx/link-file", "%out"]),
    oc(
        "o14-link-file-L",
        &[],
        &["cp", "-L", "@/fx/link-file", "%out"],
    ),
    oc("o15-link-dir", &[], &["cp", "@/fx/link-dir", "%out"]),
    oc(
        "o16-link-dir-L",
        &[],
        &["cp", "-L", "@/fx/link-dir", "%out"],
    ),
    oc("o17-link-dir-slash", &[], &["cp", "@/fx/link-dir/", "%out"]),
    oc(
        "o18-link-dir-dot",
        &["d:d"],
        &["cp", "@/fx/link-dir/.", "%d"],
    ),
    oc(
        "o19-abs-link-dir-L",
        &[],
        &["cp", "-L", "@/fx/abs-link-dir", "%out"],
    ),
    oc(
        "o20-abs-link-file-L",
        &["d:d"],
        &["cp", "-L", "@/fx/abs-link-file", "%d"],
    ),
    oc(
        "o21-link-chain-L",
        &[],
        &["cp", "-L", "@/fx/link-chain", "%out"],
    ),
    oc(
        "o22-through-link-parent",
        &[],
        &["cp", "@/fx/link-dir/sub", "%out"],
    ),
    oc(
        "o23-escape-clamped",
        &[],
        &["cp", "@/fx/escape/passwd", "%passwd"],
    ),
    oc("o24-dangling", &[], &["cp", "@/fx/dangling", "%out"]),
    oc(
        "o25-dangling-L",
        &[],
        &["cp", "-L", "@/fx/dangling", "%out"],
    ),
    oc("o26-missing", &[], &["cp", "@/fx/nope", "%out"]),
    oc("o27-under-a-file", &[], &["cp", "@/fx/file.txt/x", "%out"]),
    oc(
        "o28-dest-link-to-dir",
        &["d:real", "l:real:ln"],
        &["cp", "@/fx/file.txt", "%ln"],
    ),
    oc(
        "o29-dest-link-to-file",
        &["f:real", "l:real:ln"],
        &["cp", "@/fx/file.txt", "%ln"],
    ),
    oc("o30-fifo", &[], &["cp", "@/fx/fifo", "%fifo"]),
    oc("o31-device", &[], &["cp", "@/fx/devnull", "%devnull"]),
    oc(
        "o32-archive-flag",
        &[],
        &["cp", "-a", "@/fx/owned.txt", "%owned"],
    ),
    oc("o33-whole-fx", &[], &["cp", "@/fx", "%fx"]),
    oc("o34-relative-path", &[], &["cp", "@fx/file.txt", "%rel"]),
    oc(
        "o35-dotdot-path",
        &[],
        &["cp", "@/fx/dir/../file.txt", "%dd"],
    ),
    oc("o36-upper-layer", &[], &["cp", "@/up", "%up"]),
    oc(
        "o37-upper-abs-link-L",
        &[],
        &["cp", "-L", "@/up/abs", "%abs"],
    ),
    oc(
        "o38-root-dot-file",
        &[],
        &["cp", "@/fx/space name.txt", "%sp"],
    ),
    ot("t01-stream-fx", &["cp", "@/fx", "-"]),
    ot("t02-stream-file", &["cp", "@/fx/file.txt", "-"]),
    ot("t03-stream-link-dir", &["cp", "@/fx/link-dir", "-"]),
    ot("t04-stream-link-dir-L", &["cp", "-L", "@/fx/link-dir", "-"]),
    ot("t05-stream-dir-dot", &["cp", "@/fx/dir/.", "-"]),
    ot("t06-stream-dir-slash", &["cp", "@/fx/dir/", "-"]),
    ot("t07-stream-missing", &["cp", "@/fx/nope", "-"]),
    ot("t08-stream-upper", &["cp", "@/up", "-"]),
    ot(
        "t09-stream-link-file-L",
        &["cp", "-L", "@/fx/abs-link-file", "-"],
    ),
];

fn cp_out(side: &mut Side, state: State) {
    let setup = if state == State::Created {
        ""
    } else {
        OUT_SETUP
    };
    let c = side.probe_container("src", state, &[], setup, &["/fx"]);
    for case in OUT_CASES {
        std::fs::create_dir_all(side.work.join(case.id)).unwrap();
        for p in case.prep {
            let parts: Vec<&str> = p.splitn(3, ':').collect();
            let at = |rel: &str| side.work.join(case.id).join(rel);
            match parts.as_slice() {
                ["d", x] => std::fs::create_dir_all(at(x)).unwrap(),
                ["f", x] => std::fs::write(at(x), "host\n").unwrap(),
                ["l", t, x] => std::os::unix::fs::symlink(t, at(x)).unwrap(),
                _ => panic!("bad prep {p}"),
            }
        }
        let args: Vec<String> = case.args.iter().map(|a| expand(a, &c, case.id)).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if case.tar {
            cli_tar(side, case.id, &args);
        } else {
            side.cli(case.id, &args);
            side.tree(&format!("{} host tree", case.id), case.id);
        }
    }
    // What Docker writes for the container (/etc/hostname, /etc/hosts,
    // /etc/resolv.conf, /.dockerenv), read through the archive API. Their
    // content carries the container's id (normalised away).
    for p in [
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/.dockerenv",
    ] {
        let out = side.docker(&["cp", &format!("{c}:{p}"), "-"]);
        let mut text = format!("exit={}\n", out.status.code().unwrap_or(-1));
        if let Ok(entries) = parse_tar(&out.stdout) {
            for e in entries {
                text.push_str(&format!(
                    "{} {} {:o} {}:{}\n{}",
                    e.name,
                    e.kind(),
                    e.mode,
                    e.uid,
                    e.gid,
                    side.normalize(&String::from_utf8_lossy(&e.data))
                ));
            }
        }
        // dockerd 20.10 writes "fe00::0"/"ff00::0" in /etc/hosts; Docker
        // 28 formats the addresses ("fe00::", "ff00::"), as berth does.
        let text = text
            .replace("fe00::0\t", "fe00::\t")
            .replace("ff00::0\t", "ff00::\t");
        side.record(&format!("init file {p}"), text);
    }
}

fn out_created(s: &mut Side) {
    cp_out(s, State::Created)
}
fn out_running(s: &mut Side) {
    cp_out(s, State::Running)
}
fn out_exited(s: &mut Side) {
    cp_out(s, State::Exited)
}

#[test]
fn cp_out_of_a_container() {
    run_scenarios(
        "cp_out",
        &[
            ("out-created", out_created as Scenario),
            ("out-running", out_running),
            ("out-exited", out_exited),
        ],
    );
}

// ---------------------------------------------------------------------------
// docker cp into a container: host SRC (or a tar on stdin) → CONTAINER:DST.
// Every case lands in its own area /dst/aNN of the fixture image (an
// existing file f, an existing dir d, ln-dir → d, abs-ln-dir → /dst/aNN/d,
// ln-file → f); afterwards the container lists /dst itself (probe) and a
// copy back out shows it too.

struct InCase {
    area: usize,
    what: &'static str,
    args: &'static [&'static str],
    /// A tar built from the host source tree fed on stdin:
    /// (names under src/, compressor).
    stdin: Option<(&'static [&'static str], Option<&'static str>)>,
}

const fn ic(area: usize, what: &'static str, args: &'static [&'static str]) -> InCase {
    InCase {
        area,
        what,
        args,
        stdin: None,
    }
}

const TAR_NAMES: &[&str] = &["dir", "link-file", "hl", "fifo", "long"];

const IN_CASES: &[InCase] = &[
    ic(1, "file-to-dir", &["cp", "^file.txt", "@/dst/a01/d"]),
    ic(2, "file-to-dir-slash", &["cp", "^file.txt", "@/dst/a02/d/"]),
    ic(3, "file-to-new", &["cp", "^file.txt", "@/dst/a03/new.txt"]),
    ic(4, "file-over-file", &["cp", "^file.txt", "@/dst/a04/f"]),
    ic(
        5,
        "file-to-new-slash",
        &["cp", "^file.txt", "@/dst/a05/newdir/"],
    ),
    ic(
        6,
        "file-missing-parent",
        &["cp", "^file.txt", "@/dst/a06/nope/x"],
    ),
    ic(7, "dir-to-dir", &["cp", "^dir", "@/dst/a07/d"]),
    ic(8, "dir-to-new", &["cp", "^dir", "@/dst/a08/newdir"]),
    ic(9, "dir-over-file", &["cp", "^dir", "@/dst/a09/f"]),
    ic(10, "dot-to-dir", &["cp", "^dir/.", "@/dst/a10/d"]),
    ic(11, "dot-to-new", &["cp", "^dir/.", "@/dst/a11/new"]),
    ic(12, "link-file", &["cp", "^link-file", "@/dst/a12/d"]),
    ic(
        13,
        "link-file-L",
        &["cp", "-L", "^link-file", "@/dst/a13/d"],
    ),
    ic(14, "link-dir", &["cp", "^link-dir", "@/dst/a14/d"]),
    ic(
        15,
        "link-dir-L",
        &["cp", "-L", "^link-dir", "@/dst/a15/new"],
    ),
    ic(16, "abs-link-kept", &["cp", "^abs-link", "@/dst/a16/d"]),
    ic(
        17,
        "dest-link-to-dir",
        &["cp", "^file.txt", "@/dst/a17/ln-dir"],
    ),
    ic(
        18,
        "dest-abs-link-to-dir",
        &["cp", "^file.txt", "@/dst/a18/abs-ln-dir"],
    ),
    ic(
        19,
        "dest-link-to-file",
        &["cp", "^file.txt", "@/dst/a19/ln-file"],
    ),
    ic(20, "dir-over-nondir", &["cp", "^conf/f", "@/dst/a20"]),
    ic(21, "nondir-over-dir", &["cp", "^conf/d", "@/dst/a21"]),
    InCase {
        area: 22,
        what: "stdin-tar",
        args: &["cp", "-", "@/dst/a22/d"],
        stdin: Some((TAR_NAMES, None)),
    },
    InCase {
        area: 23,
        what: "stdin-gzip",
        args: &["cp", "-", "@/dst/a23/d"],
        stdin: Some((TAR_NAMES, Some("gzip"))),
    },
    InCase {
        area: 24,
        what: "stdin-xz",
        args: &["cp", "-", "@/dst/a24/d"],
        stdin: Some((TAR_NAMES, Some("xz"))),
    },
    InCase {
        area: 25,
        what: "stdin-zstd",
        args: &["cp", "-", "@/dst/a25/d"],
        stdin: Some((TAR_NAMES, Some("zstd"))),
    },
    InCase {
        area: 26,
        what: "stdin-bzip2",
        args: &["cp", "-", "@/dst/a26/d"],
        stdin: Some((TAR_NAMES, Some("bzip2"))),
    },
    InCase {
        area: 27,
        what: "stdin-to-file",
        args: &["cp", "-", "@/dst/a27/f"],
        stdin: Some((TAR_NAMES, None)),
    },
    InCase {
        area: 28,
        what: "stdin-to-missing",
        args: &["cp", "-", "@/dst/a28/nope"],
        stdin: Some((TAR_NAMES, None)),
    },
    ic(
        29,
        "archive-flag",
        &["cp", "-a", "^file.txt", "@/dst/a29/d"],
    ),
    ic(30, "hardlinks", &["cp", "^hl", "@/dst/a30/d"]),
    ic(31, "fifo", &["cp", "^fifo", "@/dst/a31/d"]),
    ic(
        32,
        "dest-link-to-dir-slash",
        &["cp", "^file.txt", "@/dst/a32/ln-dir/"],
    ),
    ic(33, "long-name", &["cp", "^long", "@/dst/a33/d"]),
    ic(34, "missing-source", &["cp", "^nope", "@/dst/a34"]),
    ic(35, "file-source-slash", &["cp", "^file.txt/", "@/dst/a35"]),
    ic(36, "dest-dot", &["cp", "^file.txt", "@/dst/a36/."]),
    ic(
        37,
        "dest-dotdot",
        &["cp", "^file.txt", "@/dst/a37/d/../new"],
    ),
    ic(38, "dest-relative", &["cp", "^file.txt", "@dst/a38/d"]),
    InCase {
        area: 39,
        what: "stdin-dot-entry-reapplies-mode",
        args: &["cp", "-", "@/dst/a39/d"],
        stdin: Some((&["."], None)),
    },
    ic(40, "big-and-setuid", &["cp", "^big.bin", "@/dst/a40/d"]),
];

/// Builds the stdin tar of a case from the host tree under src/ (for
/// `["."]`, the contents of src/dir with its own `./` entry).
fn stdin_tar(side: &Side, names: &[&str], compress: Option<&str>) -> Vec<u8> {
    if names == ["."] {
        fixture::host_tar(&side.work.join("src/dir"), &["."], compress)
    } else {
        fixture::host_tar(&side.work.join("src"), names, compress)
    }
}

fn areas_dirs() -> Vec<String> {
    (1..=fixture::AREAS)
        .map(|n| format!("/dst/{}", area(n)))
        .collect()
}

fn cp_in(side: &mut Side, state: State) {
    fixture::make_host_src(&side.work.join("src"));
    let dirs = areas_dirs();
    let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
    let c = side.probe_container("dst", state, &[], "", &dirs);
    let mut stdin_ok: BTreeMap<usize, bool> = BTreeMap::new();
    for case in IN_CASES {
        let id = area(case.area);
        let label = format!("{id}-{}", case.what);
        let args: Vec<String> = case.args.iter().map(|a| expand(a, &c, &id)).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = match case.stdin {
            None => side.cli(&label, &args),
            Some((names, compress)) => {
                let data = stdin_tar(side, names, compress);
                let out = side.docker_stdin(&args, &data);
                let text = cli_result_text(side, &args, &out);
                if case.area == 25 {
                    // zstd: dockerd 20.10 cannot decompress it (support
                    // came with Docker 23, moby#41759) and fails in its tar
                    // reader; the issue asks berth to sniff zstd like gzip
                    // and xz.
                    let cmd = format!("$ docker {}\n", side.normalize(&args.join(" ")).trim_end());
                    if side.is_berth() {
                        side.expect(&label, &text, &format!("{cmd}exit=0\n"));
                    } else {
                        let prefix = format!(
                            "{cmd}exit=1\nstderr:\n  Error response from daemon: Error processing tar file(exit status 1): "
                        );
                        let head = text.get(..prefix.len()).unwrap_or(&text).to_string();
                        side.expect(&label, &head, &prefix);
                    }
                } else {
                    side.record(&label, text);
                }
                out
            }
        };
        stdin_ok.insert(case.area, out.status.success());
    }
    // A copy back out of the whole landing zone (GET), before the probe
    // ends the container's run.
    let entries = {
        let out = side.docker(&["cp", &format!("{c}:/dst"), "-"]);
        parse_tar(&out.stdout).unwrap_or_default()
    };
    let by_area = group_by_area(side, &entries);
    // The container's own view (the probe lists every area).
    let listing = side.probe(&c, state);
    let views = split_listing(&listing);
    for case in IN_CASES {
        let id = area(case.area);
        let dir = format!("/dst/{id}");
        let view = views
            .get(&dir)
            .cloned()
            .unwrap_or_else(|| format!("(no view: {})", listing.lines().next().unwrap_or("")));
        let tar = by_area.get(&id).cloned().unwrap_or_default();
        if case.area == 25 {
            // zstd (see above): berth's result must equal the gzip case's.
            if side.is_berth() {
                let gz = views.get("/dst/a23").cloned().unwrap_or_default();
                side.expect(
                    &format!("{id} view (what was copied, as in a23)"),
                    &copied_part(&view, "./d/", "a25"),
                    &copied_part(&gz, "./d/", "a23"),
                );
                let gzt = by_area.get("a23").cloned().unwrap_or_default();
                side.expect(
                    &format!("{id} copied back out (what was copied, as in a23)"),
                    &copied_part(&tar, "dst/a25/d/", "a25"),
                    &copied_part(&gzt, "dst/a23/d/", "a23"),
                );
            }
            continue;
        }
        side.record(&format!("{id}-{} container view", case.what), view);
        side.record(&format!("{id}-{} copied back out", case.what), tar);
    }
}

/// The lines of an area's listing for what a copy put under `d/` (not the
/// area's own `d/old`), with the area's id made neutral.
fn copied_part(listing: &str, prefix: &str, id: &str) -> String {
    listing
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix(prefix).map(|_| l.trim_start()))
        .filter(|l| !l.contains("d/old "))
        .map(|l| format!("{}\n", l.replace(id, "aNN")))
        .collect()
}

/// The readback tar split by landing area (`dst/aNN/...`), names made
/// relative to the area.
fn group_by_area(side: &mut Side, entries: &[TarEntry]) -> BTreeMap<String, String> {
    let mut groups: BTreeMap<String, Vec<TarEntry>> = BTreeMap::new();
    for e in entries {
        let rest = e.name.strip_prefix("dst/").unwrap_or(&e.name);
        let (a, _) = rest.split_once('/').unwrap_or((rest, ""));
        if a.is_empty() || !a.starts_with('a') {
            continue;
        }
        groups.entry(a.to_string()).or_default().push(e.clone());
    }
    groups
        .into_iter()
        .map(|(a, es)| {
            let lines = tar_tree_checked(side, &format!("readback {a}"), &es);
            (a, lines.join("\n"))
        })
        .collect()
}

fn cli_result_text(side: &Side, args: &[&str], out: &std::process::Output) -> String {
    let mut text = format!(
        "$ docker {}\nexit={}\n",
        side.normalize(&args.join(" ")).trim_end(),
        out.status.code().map_or("signal".into(), |c| c.to_string())
    );
    if !out.stdout.is_empty() {
        text.push_str("stdout:\n");
        for l in side.normalize(&stdout(out)).lines() {
            text.push_str(&format!("  {l}\n"));
        }
    }
    if !out.stderr.is_empty() {
        text.push_str("stderr:\n");
        for l in side.normalize(&common::stderr(out)).lines() {
            text.push_str(&format!("  {l}\n"));
        }
    }
    text
}

fn in_created(s: &mut Side) {
    cp_in(s, State::Created)
}
fn in_running(s: &mut Side) {
    cp_in(s, State::Running)
}
fn in_exited(s: &mut Side) {
    cp_in(s, State::Exited)
}

#[test]
fn cp_into_a_container() {
    run_scenarios(
        "cp_in",
        &[
            ("in-created", in_created as Scenario),
            ("in-running", in_running),
            ("in-exited", in_exited),
        ],
    );
}

// ---------------------------------------------------------------------------
// `-a` (copyUIDGID): with a container user, every entry is chowned to it.
// dockerd 20.10 resolves that user in the *host's* passwd via getent (an
// unrelated database, and code running on the host for container input);
// current Docker resolves it in the container's /etc/passwd and /etc/group
// (moby daemon/archive_tarcopyoptions_unix.go), numeric ids need no
// lookup, and a bare uid not in passwd gets gid 0. berth must do the
// latter; where the two agree (www-data is 33:33 on both), compare.

fn cp_archive_user(side: &mut Side, user: &str, berth_expect: Result<(u32, u32), &str>) {
    fixture::make_host_src(&side.work.join("src"));
    let c = side.container(
        "u",
        State::Created,
        &["--user", user],
        fixture::IMAGE,
        &["true"],
    );
    let cases: [(&str, Vec<String>); 3] = [
        (
            "a01",
            vec![
                "cp".into(),
                "-a".into(),
                "src/file.txt".into(),
                format!("{c}:/dst/a01/d"),
            ],
        ),
        (
            "a02",
            vec![
                "cp".into(),
                "-a".into(),
                "src/dir".into(),
                format!("{c}:/dst/a02/d"),
            ],
        ),
        // Without -a the archive's owners are kept, container user or not.
        (
            "a03",
            vec![
                "cp".into(),
                "src/file.txt".into(),
                format!("{c}:/dst/a03/d"),
            ],
        ),
    ];
    let agree = user == "www-data";
    for (id, args) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = side.docker(&args);
        let text = cli_result_text(side, &args, &out);
        let back = side.docker(&["cp", &format!("{c}:/dst/{id}/d"), "-"]);
        let tree = parse_tar(&back.stdout)
            .map(|e| tar_tree_checked(side, id, &e).join("\n"))
            .unwrap_or_else(|e| format!("unreadable: {e}"));
        if agree || *id == "a03" {
            side.record(&format!("{id} cp"), text);
            side.record(&format!("{id} copied back out"), tree);
            continue;
        }
        if side.is_berth() {
            match berth_expect {
                Ok((uid, gid)) => {
                    side.expect(
                        &format!("{id} cp (current Docker)"),
                        &text,
                        &format!(
                            "$ docker {}\nexit=0\n",
                            side.normalize(&args.join(" ")).trim_end()
                        ),
                    );
                    // Everything copied belongs to the container user; the
                    // pre-existing d keeps root.
                    let owners: Vec<String> = parse_tar(&back.stdout)
                        .unwrap_or_default()
                        .iter()
                        .filter(|e| e.name.starts_with("d/file.txt") || e.name.starts_with("d/dir"))
                        .map(|e| format!("{} {}:{}", e.name, e.uid, e.gid))
                        .collect();
                    let want: Vec<String> = owners
                        .iter()
                        .map(|l| {
                            let name = l.rsplit_once(' ').unwrap().0;
                            format!("{name} {uid}:{gid}")
                        })
                        .collect();
                    side.expect(
                        &format!("{id} owners (container user {user})"),
                        &owners.join("\n"),
                        &want.join("\n"),
                    );
                    if owners.is_empty() {
                        side.fail(format!("{id}: nothing was copied"));
                    }
                }
                Err(prefix) => {
                    let err = common::stderr(&out);
                    if out.status.success() || !err.starts_with(prefix) {
                        side.fail(format!(
                            "{id}: expected a failure starting {prefix:?}, got exit {:?}: {err}",
                            out.status.code()
                        ));
                    }
                }
            }
        } else {
            // dockerd 20.10: getent on the host.
            let err = common::stderr(&out);
            let want = format!(
                "Error response from daemon: getent unable to find entry \"{user}\" in passwd database"
            );
            side.expect(&format!("{id} cp (dockerd 20.10)"), err.trim(), &want);
        }
    }
}

fn user_www_data(s: &mut Side) {
    cp_archive_user(s, "www-data", Ok((33, 33)))
}
fn user_container_only(s: &mut Side) {
    // busybox's operator (37:37) is not in Debian's passwd.
    cp_archive_user(s, "operator", Ok((37, 37)))
}
fn user_and_group_names(s: &mut Side) {
    cp_archive_user(s, "operator:mail", Ok((37, 8)))
}
fn user_numeric_pair(s: &mut Side) {
    cp_archive_user(s, "1234:5678", Ok((1234, 5678)))
}
fn user_bare_uid(s: &mut Side) {
    cp_archive_user(s, "4321", Ok((4321, 0)))
}
fn user_unknown(s: &mut Side) {
    cp_archive_user(
        s,
        "nosuchuser",
        Err("Error response from daemon: failed to look up user \"nosuchuser\" in container"),
    )
}

#[test]
fn cp_archive_mode_and_the_container_user() {
    run_scenarios(
        "cp_archive",
        &[
            ("user-www-data", user_www_data as Scenario),
            ("user-container-only", user_container_only),
            ("user-and-group-names", user_and_group_names),
            ("user-numeric-pair", user_numeric_pair),
            ("user-bare-uid", user_bare_uid),
            ("user-unknown", user_unknown),
        ],
    );
}

// ---------------------------------------------------------------------------
// Through the container's mounts: a named volume, a bind mount, read-only
// ones, and (running) a tmpfs; and a read-only rootfs.

fn cp_mounts(side: &mut Side, state: State) {
    fixture::make_host_src(&side.work.join("src"));
    let vol = side.volume("vol");
    let rovol = side.volume("rovol");
    for (v, content) in [(&vol, "in the volume"), (&rovol, "in the ro volume")] {
        side.must(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &format!("{v}:/v"),
            fixture::IMAGE,
            "sh",
            "-c",
            &format!("echo '{content}' > /v/f; mkdir /v/sub; chown 7:8 /v/sub"),
        ]);
    }
    write_host(side, "bind/f", "in the bind\n");
    write_host(side, "robind/f", "in the ro bind\n");
    let bind = format!("{}:/bind", side.work.join("bind").display());
    let robind = format!("{}:/robind:ro", side.work.join("robind").display());
    let volm = format!("{vol}:/vol");
    let rovolm = format!("{rovol}:/rovol:ro");
    let mut opts = vec!["-v", &volm, "-v", &rovolm, "-v", &bind, "-v", &robind];
    let running = state == State::Running;
    if running {
        opts.extend(["--tmpfs", "/tmpfs"]);
    }
    let setup = if running {
        "echo 'in the tmpfs' > /tmpfs/t"
    } else {
        ""
    };
    let dirs = ["/vol", "/rovol", "/bind", "/robind", "/tmpfs"];
    let c = side.probe_container("m", state, &opts, setup, &dirs);
    let at = |p: &str| format!("{c}:{p}");
    // Out of each mount.
    for (label, p) in [
        ("out-vol", "/vol/f"),
        ("out-rovol", "/rovol/f"),
        ("out-bind", "/bind/f"),
        ("out-robind", "/robind/f"),
        ("out-vol-dir", "/vol"),
    ] {
        cli_tar(side, label, &["cp", &at(p), "-"]);
    }
    // Into each mount (the read-only ones refuse).
    for (label, p) in [
        ("in-vol", "/vol"),
        ("in-vol-sub", "/vol/sub"),
        ("in-bind", "/bind"),
        ("in-rovol", "/rovol"),
        ("in-robind", "/robind"),
    ] {
        side.cli(label, &["cp", "src/file.txt", &at(p)]);
    }
    // A refusal must reach the CLI even when the body is larger than one
    // write (200 KiB: dockerd's Go server drains up to 256 KiB of an unread
    // body before answering, so its message always arrives).
    for (label, p) in [("in-rovol-big", "/rovol"), ("in-robind-big", "/robind")] {
        side.cli(label, &["cp", "src/big.bin", &at(p)]);
    }
    side.cli("in-vol-dir", &["cp", "src/dir", &at("/vol/newdir")]);
    if running {
        // dockerd 20.10 builds its view of a running container without its
        // tmpfs mounts: a copy out does not find the file the container
        // wrote, and a copy in lands underneath, invisible to the
        // container. berth works on what the container sees (issue #3,
        // point 5).
        let out = side.docker(&["cp", &at("/tmpfs/t"), "-"]);
        let got = parse_tar(&out.stdout)
            .ok()
            .and_then(|e| e.into_iter().next())
            .map(|e| format!("{} {}", e.name, String::from_utf8_lossy(&e.data)))
            .unwrap_or_else(|| format!("exit={:?} {}", out.status.code(), common::stderr(&out)));
        if side.is_berth() {
            side.expect("out-tmpfs", &got, "t in the tmpfs\n");
        } else {
            side.expect(
                "out-tmpfs (dockerd 20.10: not in its view)",
                &side.normalize(&got),
                &format!(
                    "exit=Some(1) Error response from daemon: Could not find the file /tmpfs/t in container {c}\n"
                ),
            );
        }
        let out = side.docker(&["cp", "src/file.txt", &at("/tmpfs")]);
        side.record("in-tmpfs exit", format!("{:?}", out.status.code()));
    }
    // Host side of the binds, a fresh container's view of the volumes.
    side.tree("bind host tree", "bind");
    side.tree("robind host tree", "robind");
    let l = side.volume_listing(&vol);
    side.record("vol seen by another container", l);
    let l = side.volume_listing(&rovol);
    side.record("rovol seen by another container", l);
    // What the container sees.
    let listing = side.probe(&c, state);
    for (dir, view) in split_listing(&listing) {
        if dir == "/tmpfs" {
            if !running {
                continue;
            }
            let copied = view.contains("./file.txt file");
            if side.is_berth() {
                side.expect(
                    "the container sees the file copied into its tmpfs",
                    &copied.to_string(),
                    "true",
                );
                side.expect(
                    "the container still sees what it wrote in its tmpfs",
                    &view.contains("./t file").to_string(),
                    "true",
                );
            } else {
                side.expect(
                    "dockerd 20.10 copies under the tmpfs (invisible)",
                    &copied.to_string(),
                    "false",
                );
            }
            continue;
        }
        side.record(&format!("container view of {dir}"), view);
    }
}

fn mounts_created(s: &mut Side) {
    cp_mounts(s, State::Created)
}
fn mounts_running(s: &mut Side) {
    cp_mounts(s, State::Running)
}
fn mounts_exited(s: &mut Side) {
    cp_mounts(s, State::Exited)
}

fn readonly_rootfs(side: &mut Side, state: State) {
    fixture::make_host_src(&side.work.join("src"));
    let vol = side.volume("v");
    let m = format!("{vol}:/vol");
    let cmd: &[&str] = if state == State::Running {
        &["sleep", "600"]
    } else {
        &["true"]
    };
    let c = side.container("ro", state, &["--read-only", "-v", &m], fixture::IMAGE, cmd);
    let at = |p: &str| format!("{c}:{p}");
    side.cli("into rootfs", &["cp", "src/file.txt", &at("/fx")]);
    side.cli("into rootfs, big", &["cp", "src/big.bin", &at("/fx")]);
    side.cli("into rootfs via stdin", &["cp", "-", &at("/fx")]);
    side.cli("into a volume", &["cp", "src/file.txt", &at("/vol")]);
    cli_tar(side, "out of rootfs", &["cp", &at("/fx/file.txt"), "-"]);
    cli_tar(side, "volume back out", &["cp", &at("/vol"), "-"]);
}

fn readonly_created(s: &mut Side) {
    readonly_rootfs(s, State::Created)
}
fn readonly_running(s: &mut Side) {
    readonly_rootfs(s, State::Running)
}
fn readonly_exited(s: &mut Side) {
    readonly_rootfs(s, State::Exited)
}

#[test]
fn cp_through_mounts_and_read_only() {
    run_scenarios(
        "cp_mounts",
        &[
            ("mounts-created", mounts_created as Scenario),
            ("mounts-running", mounts_running),
            ("mounts-exited", mounts_exited),
            ("ro-created", readonly_created),
            ("ro-running", readonly_running),
            ("ro-exited", readonly_exited),
        ],
    );
}

// ---------------------------------------------------------------------------
// Errors the CLI and the daemon report, and a paused container.

fn errors(side: &mut Side) {
    fixture::make_host_src(&side.work.join("src"));
    let c = side.container("e", State::Created, &[], fixture::IMAGE, &["true"]);
    let c2 = side.container("e2", State::Created, &[], fixture::IMAGE, &["true"]);
    let at = |p: &str| format!("{c}:{p}");
    side.cli(
        "out of no such container",
        &["cp", "nosuchcontainer:/etc", "out"],
    );
    side.cli(
        "into no such container",
        &["cp", "src/file.txt", "nosuchcontainer:/"],
    );
    side.cli(
        "between containers",
        &["cp", &at("/fx/file.txt"), &format!("{c2}:/tmp")],
    );
    side.cli("no container", &["cp", "src/file.txt", "out"]);
    side.cli("missing path out", &["cp", &at("/nope/deeper"), "out"]);
    side.cli(
        "missing path in",
        &["cp", "src/file.txt", &at("/nope/deeper/x")],
    );
    side.cli(
        "into a file's child",
        &["cp", "src/file.txt", &at("/fx/file.txt/x")],
    );
    side.cli("into a fifo", &["cp", "src/file.txt", &at("/fx/fifo")]);
    side.cli("into a device", &["cp", "src/file.txt", &at("/fx/devnull")]);
    side.cli_stdin(
        "stdin not a tar",
        &["cp", "-", &at("/tmp")],
        b"this is not a tar archive\n",
    );
    side.cli_stdin("stdin empty", &["cp", "-", &at("/tmp")], b"");
    let id = side.must(&["inspect", "-f", "{{.Id}}", &c]);
    side.cli(
        "by id prefix",
        &["cp", &format!("{}:/fx/file.txt", &id[..12]), "byid"],
    );
    side.tree("by id prefix tree", "byid");
}

fn paused(side: &mut Side) {
    fixture::make_host_src(&side.work.join("src"));
    let c = side.probe_container("p", State::Running, &[], OUT_SETUP, &["/dst/a01", "/up"]);
    side.must(&["pause", &c]);
    cli_tar(side, "out while paused", &["cp", &format!("{c}:/up"), "-"]);
    side.cli(
        "in while paused",
        &["cp", "src/dir", &format!("{c}:/dst/a01/d")],
    );
    side.must(&["unpause", &c]);
    let l = side.probe(&c, State::Running);
    side.record("container view", l);
}

#[test]
fn cp_errors_and_paused() {
    run_scenarios(
        "cp_errors",
        &[("errors", errors as Scenario), ("paused", paused)],
    );
}

// ---------------------------------------------------------------------------
// The stat header (HEAD /containers/{id}/archive), decoded: what the CLI
// decides by (type bits, size, link target for -L).

const STAT_PATHS: &[&str] = &[
    "/",
    "/fx",
    "/fx/",
    "/fx/.",
    "/fx/file.txt",
    "/fx/file.txt/",
    "/fx/setuid",
    "/fx/sticky",
    "/fx/owned.txt",
    "/fx/dir",
    "/fx/dir/a",
    "/fx/link-file",
    "/fx/link-dir",
    "/fx/link-dir/",
    "/fx/link-chain",
    "/fx/abs-link-dir",
    "/fx/abs-link-file",
    "/fx/dangling",
    "/fx/escape",
    "/fx/escape/passwd",
    "/fx/fifo",
    "/fx/devnull",
    "/fx/nope",
    "/fx/file.txt/x",
    "fx/file.txt",
    "/fx/../fx/./file.txt",
    "/fx/space name.txt",
    "/up/abs",
    "/etc/hostname",
    "/.dockerenv",
];

fn b64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter_map(val) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn render_stat(head: &str) -> String {
    let Some(v) = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("x-docker-container-path-stat")
            .then(|| v.trim().to_string())
    }) else {
        return "no stat header".into();
    };
    let json: serde_json::Value = match serde_json::from_slice(&b64_decode(&v)) {
        Ok(j) => j,
        Err(e) => return format!("stat header is not JSON: {e}"),
    };
    let mode = json["mode"].as_u64().unwrap_or(0);
    let kinds = [
        (1u64 << 31, "dir"),
        (1 << 27, "symlink"),
        (1 << 26, "device"),
        (1 << 25, "pipe"),
        (1 << 24, "socket"),
        (1 << 23, "setuid"),
        (1 << 22, "setgid"),
        (1 << 21, "chardev"),
        (1 << 20, "sticky"),
        (1 << 19, "irregular"),
    ];
    let flags: Vec<&str> = kinds
        .iter()
        .filter(|(b, _)| mode & b != 0)
        .map(|(_, n)| *n)
        .collect();
    let mtime = json["mtime"].as_str().unwrap_or("");
    let mtime = if mtime.starts_with("200") || mtime.starts_with("19") {
        mtime.to_string()
    } else if mtime.is_empty() {
        "(none)".into()
    } else {
        // Made during the test: only the shape is comparable — fractional
        // seconds (Go's RFC 3339 with nanoseconds drops trailing zeros)
        // and the zone suffix.
        let frac = if mtime.contains('.') { "+frac" } else { "" };
        let zone = if mtime.ends_with('Z') { "Z" } else { "offset" };
        format!("recent{frac}{zone}")
    };
    let size = if mode & (1 << 31) != 0 {
        "(dir)".to_string()
    } else {
        json["size"].to_string()
    };
    format!(
        "name={} size={size} mode={mode:#o} [{}] perm={:o} mtime={mtime} linkTarget={}",
        json["name"],
        flags.join(","),
        mode & 0o777,
        json["linkTarget"]
    )
}

fn stat_header(side: &mut Side, state: State) {
    let setup = if state == State::Created {
        ""
    } else {
        OUT_SETUP
    };
    let c = side.probe_container("s", state, &[], setup, &["/fx"]);
    for p in STAT_PATHS {
        let q: String = p
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"/._-".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let url = format!("/v1.41/containers/{c}/archive?path={q}");
        let (status, head, _) = side.engine.http_raw("HEAD", &url);
        let mut text = format!("HEAD {status} {}", render_stat(&head));
        if status != 200 {
            let (gs, _, body) = side.engine.http_raw("GET", &url);
            text.push_str(&format!(
                "\nGET {gs} {}",
                side.normalize(&String::from_utf8_lossy(&body)).trim()
            ));
        }
        side.record(&format!("stat {p}"), text);
    }
}

fn stat_created(s: &mut Side) {
    stat_header(s, State::Created)
}
fn stat_running(s: &mut Side) {
    stat_header(s, State::Running)
}

#[test]
fn archive_stat_header() {
    run_scenarios(
        "stat",
        &[
            ("stat-created", stat_created as Scenario),
            ("stat-running", stat_running),
        ],
    );
}

// ---------------------------------------------------------------------------
// docker diff: added, changed, deleted; a directory deleted from the image;
// a file replaced by a directory and back; a directory deleted and made
// again; writes in mounts are not changes; /etc/hosts, /etc/hostname,
// /etc/resolv.conf and /.dockerenv never appear.

const DIFF_SETUP: &str = "echo new > /new-file; mkdir -p /new-dir/sub; echo x > /new-dir/sub/x; \
     echo more >> /etc/passwd; chmod 600 /fx/exec.sh; rm /fx/file.txt; rm -r /fx/dir/sub; \
     rm /fx/hard1; rm /fx/owned.txt; mkdir /fx/owned.txt; echo in > /fx/owned.txt/in; \
     rm -r /fx/sticky; echo file > /fx/sticky; rm -r /fx/long; mkdir /fx/long; \
     echo fresh > /fx/long/fresh; touch '/fx/space name.txt'; mkdir /tmp/t; echo t > /tmp/t/f; \
     ln -s /etc /fx/new-link; mkfifo /fx/new-fifo; rm -r /fx/emptydir; \
     echo v > /vol/x; echo b > /bind/x; [ -d /tmpfs ] && echo t > /tmpfs/x; true";

const NEVER_IN_DIFF: &[&str] = &[
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/.dockerenv",
];

fn diff_of(side: &mut Side, state: State, setup: &str) {
    let vol = side.volume("v");
    let vm = format!("{vol}:/vol");
    std::fs::create_dir_all(side.work.join("bind")).unwrap();
    let bm = format!("{}:/bind", side.work.join("bind").display());
    let mut opts = vec!["-v", vm.as_str(), "-v", bm.as_str()];
    if state == State::Running {
        opts.extend(["--tmpfs", "/tmpfs"]);
    }
    let c = side.probe_container("d", state, &opts, setup, &[]);
    let text = diff_sorted(side, &c);
    for p in NEVER_IN_DIFF {
        let seen: Vec<&str> = text.lines().filter(|l| l.get(2..) == Some(*p)).collect();
        side.expect(&format!("{p} not in diff"), &seen.join("\n"), "");
    }
    for l in text.lines() {
        if let Some(p) = l.get(2..)
            && ["/vol/", "/bind/", "/tmpfs/"]
                .iter()
                .any(|m| p.starts_with(m))
        {
            side.fail(format!("a write inside a mount is in the diff: {l}"));
        }
    }
}

fn diff_created(s: &mut Side) {
    diff_of(s, State::Created, "")
}
fn diff_running(s: &mut Side) {
    diff_of(s, State::Running, DIFF_SETUP)
}
fn diff_exited(s: &mut Side) {
    diff_of(s, State::Exited, DIFF_SETUP)
}

fn diff_after_cp(side: &mut Side) {
    fixture::make_host_src(&side.work.join("src"));
    let c = side.container("dc", State::Created, &[], fixture::IMAGE, &["true"]);
    side.cli("cp file", &["cp", "src/file.txt", &format!("{c}:/fx/dir")]);
    side.cli(
        "cp dir over existing",
        &["cp", "src/dir/.", &format!("{c}:/fx/dir/sub")],
    );
    side.cli("cp new", &["cp", "src/hl", &format!("{c}:/new-hl")]);
    diff_sorted(side, &c);
}

/// `docker diff C`, recorded with its lines sorted: dockerd 20.10 sends
/// them in no particular order (it walks the layer with concurrent
/// goroutines and a map), so only the set is comparable. Returns stdout.
fn diff_sorted(side: &mut Side, c: &str) -> String {
    let out = side.docker(&["diff", c]);
    let raw = stdout(&out);
    let mut lines: Vec<&str> = raw.lines().collect();
    lines.sort_by(|a, b| a.get(2..).cmp(&b.get(2..)).then(a.cmp(b)));
    let mut text = format!("$ docker diff\nexit={}\n", out.status.code().unwrap_or(-1));
    for l in &lines {
        text.push_str(&format!("  {l}\n"));
    }
    if !out.stderr.is_empty() {
        text.push_str(&format!(
            "stderr:\n  {}",
            side.normalize(&common::stderr(&out))
        ));
    }
    side.record("docker diff (sorted)", text);
    raw
}

fn diff_errors(side: &mut Side) {
    side.cli("no such container", &["diff", "nosuchcontainer"]);
}

#[test]
fn docker_diff() {
    run_scenarios(
        "diff",
        &[
            ("diff-created", diff_created as Scenario),
            ("diff-running", diff_running),
            ("diff-exited", diff_exited),
            ("diff-after-cp", diff_after_cp),
            ("diff-errors", diff_errors),
        ],
    );
}

// ---------------------------------------------------------------------------
// docker export: the merged rootfs (mount contents excluded), with the files
// Docker's init layer makes (/.dockerenv, /etc/hostname, /etc/hosts,
// /etc/resolv.conf) present. Names and types are compared (their content
// carries the container id, and the daemons' defaults for hosts and
// resolv.conf); everything else in full.

const INIT_FILES: &[&str] = &["etc/hostname", "etc/hosts", "etc/resolv.conf"];

fn export_of(side: &mut Side, state: State, setup: &str) {
    let vol = side.volume("v");
    let vm = format!("{vol}:/vol");
    std::fs::create_dir_all(side.work.join("bind")).unwrap();
    std::fs::write(side.work.join("bind/hostfile"), "host\n").unwrap();
    let bm = format!("{}:/bind", side.work.join("bind").display());
    let mut opts = vec!["-v", vm.as_str(), "-v", bm.as_str()];
    if state == State::Running {
        opts.extend(["--tmpfs", "/tmpfs"]);
    }
    let c = side.probe_container("x", state, &opts, setup, &[]);
    let out = side.docker(&["export", &c]);
    let mut text = format!(
        "exit={}\n{}",
        out.status.code().unwrap_or(-1),
        side.normalize(&common::stderr(&out))
    );
    let entries = parse_tar(&out.stdout).unwrap_or_else(|e| {
        text.push_str(&format!("unreadable: {e}\n"));
        Vec::new()
    });
    let names: Vec<String> = entries
        .iter()
        .map(|e| {
            e.name
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string()
        })
        .collect();
    for must in [".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf"] {
        side.expect(
            &format!("export has /{must}"),
            &names.iter().any(|n| n == must).to_string(),
            "true",
        );
    }
    for never in ["vol/x", "bind/x", "bind/hostfile", "tmpfs/x"] {
        side.expect(
            &format!("export has no mount content /{never}"),
            &names.iter().any(|n| n == never).to_string(),
            "false",
        );
    }
    // /dst holds 40 identical landing areas; one is enough here.
    let masked: Vec<TarEntry> = entries
        .iter()
        .filter(|e| {
            let n = e.name.trim_start_matches("./");
            !n.starts_with("dst/a") || n.starts_with("dst/a01")
        })
        .map(|e| {
            let n = e.name.trim_start_matches("./");
            if INIT_FILES.contains(&n) {
                TarEntry {
                    data: Vec::new(),
                    size: 0,
                    ..e.clone()
                }
            } else {
                e.clone()
            }
        })
        .collect();
    let label = "export tree";
    for l in tar_tree_checked(side, label, &masked) {
        text.push_str(&l);
        text.push('\n');
    }
    side.record(label, text);
}

fn export_created(s: &mut Side) {
    export_of(s, State::Created, "")
}
fn export_running(s: &mut Side) {
    export_of(s, State::Running, DIFF_SETUP)
}
fn export_exited(s: &mut Side) {
    export_of(s, State::Exited, DIFF_SETUP)
}

fn export_errors(side: &mut Side) {
    side.cli("no such container", &["export", "nosuchcontainer"]);
    let c = side.container("xe", State::Created, &[], fixture::IMAGE, &["true"]);
    side.cli("export -o", &["export", "-o", "out.tar", &c]);
    let data = std::fs::read(side.work.join("out.tar")).unwrap_or_default();
    let n = parse_tar(&data).map(|e| e.len()).unwrap_or(0);
    side.record("export -o entries", (n > 100).to_string());
}

#[test]
fn docker_export() {
    run_scenarios(
        "export",
        &[
            ("export-created", export_created as Scenario),
            ("export-running", export_running),
            ("export-exited", export_exited),
            ("export-errors", export_errors),
        ],
    );
}
