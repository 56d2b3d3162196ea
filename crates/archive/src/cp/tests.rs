use super::*;
use crate::ErrorKind;
use crate::testutil::{LayerBuilder, RawEntry, require_root};
use std::collections::BTreeMap;
use std::fs;
use std::io::{Cursor, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

fn root_of(p: &Path) -> pathrs::Root {
    pathrs::Root::open(p).unwrap()
}

#[derive(Debug, Clone, PartialEq)]
struct Ent {
    name: String,
    kind: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: String,
    data: Vec<u8>,
    xattrs: Vec<(String, Vec<u8>)>,
    dev: (u32, u32),
}

fn read_tar(bytes: &[u8]) -> Vec<Ent> {
    let mut a = tar::Archive::new(Cursor::new(bytes));
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let mut xattrs = Vec::new();
        if let Some(exts) = e.pax_extensions().unwrap() {
            for x in exts {
                let x = x.unwrap();
                if let Some(k) = x.key().unwrap().strip_prefix("SCHILY.xattr.") {
                    xattrs.push((k.to_string(), x.value_bytes().to_vec()));
                }
            }
        }
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push(Ent {
            name: String::from_utf8(e.path_bytes().into_owned()).unwrap(),
            kind: h.entry_type().as_byte(),
            mode: h.mode().unwrap(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            mtime: h.mtime().unwrap(),
            link: e
                .link_name_bytes()
                .map(|l| String::from_utf8(l.into_owned()).unwrap())
                .unwrap_or_default(),
            data,
            xattrs,
            dev: (
                h.device_major().ok().flatten().unwrap_or(0),
                h.device_minor().ok().flatten().unwrap_or(0),
            ),
        });
    }
    out
}

fn names(es: &[Ent]) -> Vec<&str> {
    es.iter().map(|e| e.name.as_str()).collect()
}

fn archive(root: &Path, path: &str) -> Vec<u8> {
    let r = open_resource(&root_of(root), path).unwrap();
    let mut out = Vec::new();
    r.write_tar(&mut out).unwrap();
    out
}

/// A container-like tree, and a host dir beside it that must never be read
/// or written through it.
struct Tree {
    _td: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

fn tree() -> Tree {
    let td = tempfile::tempdir().unwrap();
    let top = td.path().to_path_buf();
    let root = top.join("root");
    let outside = top.join("outside");
    fs::create_dir_all(root.join("etc/sub")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret"), b"host data").unwrap();
    fs::write(root.join("etc/passwd"), b"root:x:0:0\n").unwrap();
    fs::write(root.join("etc/b"), b"b").unwrap();
    fs::write(root.join("etc/sub/x"), b"x").unwrap();
    symlink("/etc", root.join("link-abs")).unwrap();
    symlink("etc/passwd", root.join("link-rel")).unwrap();
    symlink("/nonexistent/x", root.join("broken")).unwrap();
    symlink("link-abs/passwd", root.join("chain")).unwrap();
    symlink("../../etc", root.join("up")).unwrap();
    symlink(&outside, root.join("hostlink")).unwrap();
    Tree {
        _td: td,
        root,
        outside,
    }
}

// ---------------------------------------------------------------- stat

#[test]
fn stat_of_files_dirs_and_symlinks() {
    let t = tree();
    let r = root_of(&t.root);
    let i = open_resource(&r, "/etc/passwd").unwrap().info().clone();
    assert_eq!(i.name, "passwd");
    assert_eq!(i.size, 11);
    assert_eq!(i.st_mode & 0o170000, 0o100000);
    assert_eq!(i.link_target, "");
    let m = fs::metadata(t.root.join("etc/passwd")).unwrap();
    assert_eq!(
        (i.mtime_sec, i.mtime_nsec as i64),
        (m.mtime(), m.mtime_nsec())
    );

    let i = open_resource(&r, "etc").unwrap().info().clone();
    assert_eq!((i.name.as_str(), i.st_mode & 0o170000), ("etc", 0o040000));

    // A symlink is itself; its target is resolved in scope.
    for (p, target) in [
        ("/link-abs", "/etc"),
        ("/link-rel", "/etc/passwd"),
        ("/chain", "/etc/passwd"),
        ("/broken", "/nonexistent/x"),
        ("/up", "/etc"),
    ] {
        let i = open_resource(&r, p).unwrap().info().clone();
        assert_eq!(i.st_mode & 0o170000, 0o120000, "{p}");
        assert_eq!(i.link_target, target, "{p}");
        assert_eq!(i.name, &p[1..]);
    }
    // An absolute symlink to a host path is re-rooted: it names a path
    // inside the root, which does not exist.
    let i = open_resource(&r, "/hostlink").unwrap().info().clone();
    assert_eq!(i.link_target, t.outside.to_str().unwrap());
    let e = open_resource(&r, "/hostlink/secret").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    // Trailing "/" and "/." follow the last component.
    let i = open_resource(&r, "/link-abs/").unwrap().info().clone();
    assert_eq!(
        (i.name.as_str(), i.st_mode & 0o170000),
        ("link-abs", 0o040000)
    );
    assert_eq!(i.link_target, "");
    let i = open_resource(&r, "/link-abs/.").unwrap().info().clone();
    assert_eq!((i.name.as_str(), i.st_mode & 0o170000), (".", 0o040000));
    let i = open_resource(&r, "/").unwrap().info().clone();
    assert_eq!(i.name, "/");

    // ".." is clamped at the root.
    let i = open_resource(&r, "/../../../etc/passwd")
        .unwrap()
        .info()
        .clone();
    assert_eq!(i.size, 11);
    let i = open_resource(&r, "etc/sub/../../../etc/b")
        .unwrap()
        .info()
        .clone();
    assert_eq!(i.name, "b");

    let e = open_resource(&r, "/missing").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.to_string(), "lstat /missing: no such file or directory");
    let e = open_resource(&r, "/etc/passwd/").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let e = open_resource(&r, "/broken/").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

// ---------------------------------------------------------------- GET

#[test]
fn archive_names_as_dockerd() {
    let t = tree();
    let es = read_tar(&archive(&t.root, "/etc/passwd"));
    assert_eq!(names(&es), ["passwd"]);
    assert_eq!(es[0].data, b"root:x:0:0\n");

    let want_dir = ["etc/", "etc/b", "etc/passwd", "etc/sub/", "etc/sub/x"];
    assert_eq!(names(&read_tar(&archive(&t.root, "/etc"))), want_dir);
    assert_eq!(names(&read_tar(&archive(&t.root, "etc/"))), want_dir);
    assert_eq!(
        names(&read_tar(&archive(&t.root, "/etc/."))),
        ["./", "./b", "./passwd", "./sub/", "./sub/x"]
    );
    // A symlink is archived as itself...
    let es = read_tar(&archive(&t.root, "/link-abs"));
    assert_eq!(names(&es), ["link-abs"]);
    assert_eq!((es[0].kind, es[0].link.as_str()), (b'2', "/etc"));
    // ...and followed with a trailing slash, named by the link.
    assert_eq!(
        names(&read_tar(&archive(&t.root, "/link-abs/"))),
        [
            "link-abs/",
            "link-abs/b",
            "link-abs/passwd",
            "link-abs/sub/",
            "link-abs/sub/x"
        ]
    );
    // The root: names start with "/", as moby's rebase of "." to "" gives.
    let all = read_tar(&archive(&t.root, "/"));
    assert_eq!(all[0].name, "/");
    assert!(names(&all).contains(&"/etc/passwd"));
    assert!(names(&all).contains(&"/hostlink"));
    // Symlinks inside the tree are never followed, even to "/" or the host.
    let host = all.iter().find(|e| e.name == "/hostlink").unwrap();
    assert_eq!(host.kind, b'2');
    assert!(!all.iter().any(|e| e.data == b"host data"));
}

#[test]
fn symlink_to_root_inside_tree_is_not_followed() {
    let t = tree();
    fs::create_dir(t.root.join("d")).unwrap();
    symlink("/", t.root.join("d/rootlink")).unwrap();
    symlink("../../..", t.root.join("d/uplink")).unwrap();
    let es = read_tar(&archive(&t.root, "/d"));
    assert_eq!(names(&es), ["d/", "d/rootlink", "d/uplink"]);
    assert!(es[1..].iter().all(|e| e.kind == b'2'));
}

#[test]
fn header_format_is_go_pax_ustar() {
    let t = tree();
    let f = t.root.join("etc/passwd");
    fs::set_permissions(&f, fs::Permissions::from_mode(0o4754)).unwrap();
    let ts = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: 5,
            tv_nsec: 0,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: 1_700_000_000,
            tv_nsec: 999_999_999,
        },
    };
    rustix::fs::utimensat(rustix::fs::CWD, &f, &ts, rustix::fs::AtFlags::empty()).unwrap();
    let bytes = archive(&t.root, "/etc/passwd");
    // One header, one data block, two zero blocks: no 10 KiB record padding.
    assert_eq!(bytes.len(), 512 * 4);
    let h = &bytes[..512];
    assert_eq!(&h[0..7], b"passwd\0");
    // The mode keeps the file type bits, as dockerd 20.10 writes it.
    assert_eq!(&h[100..108], b"0104754\0");
    assert_eq!(&h[124..136], b"00000000013\0");
    // mtime truncated to the second; no PAX header for it.
    assert_eq!(&h[136..148], format!("{:011o}\0", 1_700_000_000).as_bytes());
    assert_eq!(h[156], b'0');
    assert_eq!(&h[257..265], b"ustar\x0000");
    assert_eq!(&h[265..329], &[0u8; 64][..], "no user or group names");
    assert_eq!(&h[329..345], b"0000000\x000000000\0");
    let mut sum: u32 = h.iter().map(|b| *b as u32).sum();
    sum -= h[148..156].iter().map(|b| *b as u32).sum::<u32>();
    sum += 8 * 32;
    assert_eq!(&h[148..156], format!("{sum:06o}\0 ").as_bytes());
    assert!(bytes[1024..].iter().all(|b| *b == 0));
}

#[test]
fn long_names_hardlinks_and_xattrs() {
    let t = tree();
    let d = t.root.join("d");
    let mid = "m".repeat(120);
    fs::create_dir_all(d.join(&mid)).unwrap();
    // Splittable: USTAR prefix/name. Too long for that: a PAX path.
    fs::write(d.join(&mid).join("f"), b"1").unwrap();
    let long = "n".repeat(150);
    fs::write(d.join(&mid).join(&long), b"2").unwrap();
    fs::write(d.join("a"), b"shared").unwrap();
    fs::hard_link(d.join("a"), d.join("z")).unwrap();
    symlink("x".repeat(130), d.join("longlink")).unwrap();
    rustix::fs::setxattr(
        d.join("a"),
        "user.color",
        b"blue",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    let bytes = archive(&t.root, "/d");
    let es = read_tar(&bytes);
    let n = names(&es);
    assert_eq!(n[0], "d/");
    let f = format!("d/{mid}/f");
    assert!(n.contains(&f.as_str()));
    let lf = format!("d/{mid}/{long}");
    assert!(n.contains(&lf.as_str()));
    let a = es.iter().find(|e| e.name == "d/a").unwrap();
    assert_eq!(a.xattrs, vec![("user.color".to_string(), b"blue".to_vec())]);
    assert_eq!(a.data, b"shared");
    let z = es.iter().find(|e| e.name == "d/z").unwrap();
    assert_eq!((z.kind, z.link.as_str(), z.data.len()), (b'1', "d/a", 0));
    let l = es.iter().find(|e| e.name == "d/longlink").unwrap();
    assert_eq!(l.link, "x".repeat(130));
    // The splittable name used the USTAR prefix, not a PAX header.
    let prefix = format!("d/{mid}");
    assert!(
        bytes
            .chunks(512)
            .any(|b| &b[0..2] == b"f\0" && &b[345..345 + prefix.len()] == prefix.as_bytes()),
        "USTAR prefix/name split"
    );
    // The PAX header of the long name is named like Go names it.
    assert!(
        bytes.windows(13).any(|w| w == b"/PaxHeaders.0"),
        "PaxHeaders.0 entry"
    );
}

#[test]
fn devices_fifos_owners_and_capabilities_as_root() {
    if !require_root("devices_fifos_owners_and_capabilities_as_root") {
        return;
    }
    let t = tree();
    let d = t.root.join("dev");
    fs::create_dir(&d).unwrap();
    let cwd = rustix::fs::CWD;
    use rustix::fs::{FileType, Mode, makedev, mknodat};
    mknodat(
        cwd,
        d.join("null"),
        FileType::CharacterDevice,
        Mode::from_raw_mode(0o666),
        makedev(1, 3),
    )
    .unwrap();
    mknodat(
        cwd,
        d.join("sda"),
        FileType::BlockDevice,
        Mode::from_raw_mode(0o660),
        makedev(8, 0),
    )
    .unwrap();
    mknodat(
        cwd,
        d.join("fifo"),
        FileType::Fifo,
        Mode::from_raw_mode(0o640),
        0,
    )
    .unwrap();
    for (n, m) in [("null", 0o666), ("sda", 0o660), ("fifo", 0o640)] {
        fs::set_permissions(d.join(n), fs::Permissions::from_mode(m)).unwrap();
    }
    let _sock = std::os::unix::net::UnixListener::bind(d.join("sock")).unwrap();
    fs::write(d.join("owned"), b"o").unwrap();
    rustix::fs::chownat(
        cwd,
        d.join("owned"),
        Some(rustix::fs::Uid::from_raw(1234)),
        Some(rustix::fs::Gid::from_raw(5678)),
        rustix::fs::AtFlags::empty(),
    )
    .unwrap();
    // A revision-2 capability (cap_net_raw+ep) is archived as is.
    let cap: [u8; 20] = [
        0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    fs::write(d.join("ping"), b"p").unwrap();
    rustix::fs::setxattr(
        d.join("ping"),
        "security.capability",
        &cap,
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    // trusted.* never leaves.
    rustix::fs::setxattr(
        d.join("ping"),
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    let es = read_tar(&archive(&t.root, "/dev"));
    assert_eq!(
        names(&es),
        [
            "dev/",
            "dev/fifo",
            "dev/null",
            "dev/owned",
            "dev/ping",
            "dev/sda"
        ],
        "sockets are skipped"
    );
    let by = |n: &str| es.iter().find(|e| e.name == n).unwrap().clone();
    assert_eq!((by("dev/null").kind, by("dev/null").dev), (b'3', (1, 3)));
    assert_eq!(by("dev/null").mode, 0o20666);
    assert_eq!((by("dev/sda").kind, by("dev/sda").dev), (b'4', (8, 0)));
    assert_eq!((by("dev/fifo").kind, by("dev/fifo").mode), (b'6', 0o10640));
    assert_eq!((by("dev/owned").uid, by("dev/owned").gid), (1234, 5678));
    assert_eq!(
        by("dev/ping").xattrs,
        vec![("security.capability".to_string(), cap.to_vec())]
    );
}

#[test]
fn output_failure_stops_promptly() {
    struct Failing(usize);
    impl Write for Failing {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += 1;
            if self.0 > 1 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "client went away",
                ));
            }
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let t = tree();
    let big = t.root.join("big");
    fs::write(&big, vec![7u8; 5 << 20]).unwrap();
    let r = open_resource(&root_of(&t.root), "/big").unwrap();
    let mut w = Failing(0);
    let e = r.write_tar(&mut w).unwrap_err();
    assert!(e.to_string().contains("client went away"), "{e}");
    assert_eq!(w.0, 2, "stopped at the first failed write");
}

#[test]
fn archive_streams_exactly_what_was_stated() {
    // The resource is held open: replacing the path afterwards (the
    // CVE-2018-15664 swap) does not change what is streamed.
    let t = tree();
    let r = open_resource(&root_of(&t.root), "/etc").unwrap();
    fs::rename(t.root.join("etc"), t.root.join("etc.old")).unwrap();
    symlink(&t.outside, t.root.join("etc")).unwrap();
    let mut out = Vec::new();
    r.write_tar(&mut out).unwrap();
    let es = read_tar(&out);
    assert!(names(&es).contains(&"etc/passwd"));
    assert!(!es.iter().any(|e| e.data == b"host data"));
}

// ---------------------------------------------------------------- PUT

struct Dest {
    _td: tempfile::TempDir,
    top: PathBuf,
    dest: PathBuf,
    outside: PathBuf,
}

fn dest() -> Dest {
    let td = tempfile::tempdir().unwrap();
    let top = td.path().to_path_buf();
    let dest = top.join("dest");
    let outside = top.join("outside");
    fs::create_dir(&dest).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), b"host data").unwrap();
    Dest {
        _td: td,
        top,
        dest,
        outside,
    }
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u32, u64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let content = if m.is_file() {
                fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            if m.is_dir() {
                stack.push(p.clone());
            }
            out.insert(p, (m.mode(), m.nlink(), content));
        }
    }
    out
}

fn handle(p: &Path) -> pathrs::Handle {
    resolve_extract_dir(&root_of(p), "/").unwrap()
}

fn put(d: &Path, tar: &[u8], opts: &ExtractOptions) -> crate::Result<ExtractStats> {
    extract(&handle(d), Cursor::new(tar.to_vec()), opts)
}

/// Refused as InvalidArgument (with dockerd's prefix, naming `what`); the
/// host outside `dest` unchanged.
fn assert_refused(d: &Dest, tar: &[u8], what: &str) {
    let before = snapshot(&d.top.join("outside"));
    let top_before: Vec<_> = fs::read_dir(&d.top)
        .unwrap()
        .map(|x| x.unwrap().file_name())
        .collect();
    let e = put(&d.dest, tar, &ExtractOptions::default()).expect_err("hostile archive accepted");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(
        e.to_string()
            .starts_with("Error processing tar file(exit status 1): "),
        "{e}"
    );
    assert!(e.to_string().contains(what), "{e} does not name {what}");
    assert_eq!(snapshot(&d.outside), before, "outside changed");
    let mut after: Vec<_> = fs::read_dir(&d.top)
        .unwrap()
        .map(|x| x.unwrap().file_name())
        .collect();
    let mut top_before = top_before;
    after.sort();
    top_before.sort();
    assert_eq!(after, top_before, "something appeared next to dest");
    assert_eq!(fs::read(d.outside.join("secret")).unwrap(), b"host data");
}

#[test]
fn extract_basic_tree_and_metadata() {
    let d = dest();
    let mut pax = RawEntry::new("d/nanos", tar::EntryType::Regular);
    pax.data = b"t".to_vec();
    pax.pax
        .push(("mtime".into(), b"1500000000.123456789".to_vec()));
    pax.pax
        .push(("SCHILY.xattr.user.color".into(), b"blue".to_vec()));
    let long = format!("{}/long", "n".repeat(120));
    let tar = LayerBuilder::new()
        .dir("./", 0o700)
        .dir("d", 0o555)
        .file("d/f", 0o640, b"hello")
        .symlink("d/link", "/etc/passwd")
        .symlink("d/rel", "f")
        .hardlink("d/hard", "d/f")
        .fifo("d/pipe", 0o620)
        .raw(pax)
        .file("implied/parent/x", 0o644, b"p")
        .file(&long, 0o644, b"long")
        .finish();
    let before_mode = fs::metadata(&d.dest).unwrap().mode();
    let st = put(&d.dest, &tar, &ExtractOptions::default()).unwrap();
    assert_eq!(st.entries, 10);
    assert_eq!(st.bytes, 5 + 1 + 1 + 4);
    let p = &d.dest;
    let m = fs::metadata(p.join("d/f")).unwrap();
    assert_eq!(fs::read(p.join("d/f")).unwrap(), b"hello");
    // The later hardlink entry (mode 0644) re-applies its metadata to the
    // inode, as dockerd's createTarFile does for TypeLink.
    assert_eq!((m.mode() & 0o7777, m.mtime()), (0o644, 1_600_000_000));
    assert_eq!(m.atime(), 1_600_000_000, "atime is never before mtime");
    assert_eq!(
        fs::read_link(p.join("d/link")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(fs::metadata(p.join("d/hard")).unwrap().ino(), m.ino());
    assert!(
        fs::symlink_metadata(p.join("d/pipe"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let nm = fs::metadata(p.join("d/nanos")).unwrap();
    assert_eq!((nm.mtime(), nm.mtime_nsec()), (1_500_000_000, 123_456_789));
    let mut buf = [0u8; 8];
    let n = rustix::fs::getxattr(p.join("d/nanos"), "user.color", &mut buf[..]).unwrap();
    assert_eq!(&buf[..n], b"blue");
    let dm = fs::metadata(p.join("d")).unwrap();
    assert_eq!((dm.mode() & 0o7777, dm.mtime()), (0o555, 1_600_000_000));
    // 20.10 sets directory times with the archive's atime: the epoch here.
    assert_eq!(dm.atime(), 0);
    assert_eq!(
        fs::metadata(p.join("implied/parent")).unwrap().mode() & 0o7777,
        0o755
    );
    assert_eq!(fs::read(p.join(&long)).unwrap(), b"long");
    // "./" does not touch the destination itself.
    assert_eq!(fs::metadata(&d.dest).unwrap().mode(), before_mode);
}

#[test]
fn refuses_traversal_and_escapes() {
    let d = dest();
    let out = d.outside.to_str().unwrap().to_string();
    // Names climbing out of dest: dockerd's own text.
    let tar = LayerBuilder::new()
        .file("ok", 0o644, b"1")
        .file("../outside/secret", 0o644, b"evil")
        .finish();
    assert_refused(&d, &tar, "\"../outside/secret\" is outside of");
    let tar = LayerBuilder::new()
        .file("a/../../x", 0o644, b"evil")
        .finish();
    assert_refused(&d, &tar, "\"../x\" is outside of");
    // Symlink to the host, then a file through it.
    let tar = LayerBuilder::new()
        .symlink("a", &out)
        .file("a/secret", 0o644, b"evil")
        .finish();
    assert_refused(&d, &tar, "\"a/secret\"");
    // A relative symlink out of dest is refused when created (20.10).
    let tar = LayerBuilder::new()
        .symlink("rel", "../outside")
        .file("rel/new", 0o644, b"evil")
        .finish();
    assert_refused(&d, &tar, "invalid symlink");
    // ... also one made deeper.
    let tar = LayerBuilder::new()
        .dir("x", 0o755)
        .symlink("x/up", "../../outside")
        .finish();
    assert_refused(&d, &tar, "invalid symlink");
    // Hardlinks out of dest.
    let tar = LayerBuilder::new()
        .hardlink("h", "../outside/secret")
        .finish();
    assert_refused(&d, &tar, "invalid hardlink");
    // Through a symlink this archive made.
    let tar = LayerBuilder::new()
        .symlink("s", &out)
        .hardlink("h2", "s/secret")
        .finish();
    assert_refused(&d, &tar, "\"h2\"");
    // Duplicate entries replacing a directory with a symlink.
    let tar = LayerBuilder::new()
        .dir("dup", 0o755)
        .file("dup/x", 0o644, b"1")
        .symlink("dup", &out)
        .file("dup/secret", 0o644, b"evil")
        .finish();
    assert_refused(&d, &tar, "\"dup/secret\"");
    // A symlink already in the destination, absolute or relative.
    symlink(&d.outside, d.dest.join("pre")).unwrap();
    symlink("../outside", d.dest.join("pre-rel")).unwrap();
    let tar = LayerBuilder::new()
        .file("pre/secret", 0o644, b"evil")
        .finish();
    assert_refused(&d, &tar, "\"pre/secret\"");
    let tar = LayerBuilder::new()
        .file("pre-rel/new", 0o644, b"evil")
        .finish();
    assert_refused(&d, &tar, "\"pre-rel/new\"");
    let tar = LayerBuilder::new().dir("pre/newdir", 0o755).finish();
    assert_refused(&d, &tar, "\"pre/newdir\"");
    // Absolute names and hardlink targets are refused (dockerd would take
    // them below dest); the host file keeps one link.
    let abs = d.outside.join("secret").to_str().unwrap().to_string();
    let tar = LayerBuilder::new().hardlink("h3", &abs).finish();
    let e = put(&d.dest, &tar, &ExtractOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("absolute link targets are not accepted"),
        "{e}"
    );
    assert_eq!(fs::metadata(d.outside.join("secret")).unwrap().nlink(), 1);
    let tar = LayerBuilder::new()
        .file("/abs/file", 0o600, b"abs")
        .finish();
    let e = put(&d.dest, &tar, &ExtractOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("absolute names are not accepted"),
        "{e}"
    );
    assert!(!d.dest.join("abs").exists());
    // Replacing the pre-existing symlink itself is fine (it is not followed).
    let tar = LayerBuilder::new()
        .file("pre", 0o644, b"now a file")
        .finish();
    put(&d.dest, &tar, &ExtractOptions::default()).unwrap();
    assert_eq!(fs::read(d.dest.join("pre")).unwrap(), b"now a file");
    assert_eq!(fs::read(d.outside.join("secret")).unwrap(), b"host data");
}

#[test]
fn symlinks_inside_dest_are_followed_as_dockerd_does() {
    let d = dest();
    fs::create_dir(d.dest.join("real")).unwrap();
    let tar = LayerBuilder::new()
        .symlink("alias", "real")
        .file("alias/x", 0o644, b"x")
        .symlink("sub/up", "../real")
        .finish();
    put(&d.dest, &tar, &ExtractOptions::default()).unwrap();
    assert_eq!(fs::read(d.dest.join("real/x")).unwrap(), b"x");
}

#[test]
fn container_root_follows_its_own_absolute_symlinks() {
    // At dest "/" (the container's root), a symlink already there such as
    // /var/run -> /run is followed as the container sees it; one the
    // archive made is still refused; a climbing name is refused even there
    // (dockerd would clamp it).
    let d = dest();
    fs::create_dir_all(d.dest.join("run")).unwrap();
    fs::create_dir_all(d.dest.join("var")).unwrap();
    symlink("/run", d.dest.join("var/run")).unwrap();
    let h = handle(&d.dest);
    let tar = LayerBuilder::new()
        .file("var/run/x.pid", 0o644, b"1")
        .finish();
    extract_to(&h, "/", Cursor::new(tar), &ExtractOptions::default()).unwrap();
    assert_eq!(fs::read(d.dest.join("run/x.pid")).unwrap(), b"1");
    let tar = LayerBuilder::new()
        .file("../../etc/clamped", 0o644, b"c")
        .finish();
    let e = extract_to(&h, "/", Cursor::new(tar), &ExtractOptions::default()).unwrap_err();
    assert!(e.to_string().contains("is outside of"), "{e}");
    assert!(!d.dest.join("etc/clamped").exists());
    let tar = LayerBuilder::new()
        .symlink("evil", "/run")
        .file("evil/y", 0o644, b"y")
        .finish();
    let e = extract_to(&h, "/", Cursor::new(tar), &ExtractOptions::default()).unwrap_err();
    assert!(e.to_string().contains("\"evil/y\""), "{e}");
    assert!(!d.dest.join("run/y").exists());
}

#[test]
fn no_overwrite_dir_non_dir_both_ways() {
    let d = dest();
    fs::create_dir_all(d.dest.join("dir/keep")).unwrap();
    fs::write(d.dest.join("file"), b"f").unwrap();
    let h = handle(&d.dest);
    let opts = ExtractOptions {
        no_overwrite_dir_non_dir: true,
        ..Default::default()
    };
    let tar = LayerBuilder::new().file("dir", 0o644, b"x").finish();
    let e = extract_to(&h, "/tmp", Cursor::new(tar), &opts).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        "Error processing tar file(exit status 1): cannot overwrite directory \"/tmp/dir\" with non-directory \"/tmp\""
    );
    let tar = LayerBuilder::new().dir("file", 0o755).finish();
    let e = extract_to(&h, "/tmp", Cursor::new(tar), &opts).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Error processing tar file(exit status 1): cannot overwrite non-directory \"/tmp/file\" with directory \"/tmp\""
    );
    assert!(d.dest.join("dir/keep").is_dir());
    // Without the option dockerd replaces them.
    let tar = LayerBuilder::new()
        .file("dir", 0o644, b"x")
        .dir("file", 0o711)
        .finish();
    put(&d.dest, &tar, &ExtractOptions::default()).unwrap();
    assert_eq!(fs::read(d.dest.join("dir")).unwrap(), b"x");
    assert!(d.dest.join("file").is_dir());
}

#[test]
fn existing_dir_gets_the_archive_metadata() {
    let d = dest();
    fs::create_dir(d.dest.join("d")).unwrap();
    fs::write(d.dest.join("d/old"), b"o").unwrap();
    fs::set_permissions(d.dest.join("d"), fs::Permissions::from_mode(0o700)).unwrap();
    let tar = LayerBuilder::new()
        .dir("d", 0o751)
        .file("d/new", 0o644, b"n")
        .finish();
    put(&d.dest, &tar, &ExtractOptions::default()).unwrap();
    let m = fs::metadata(d.dest.join("d")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.mtime()), (0o751, 1_600_000_000));
    assert!(d.dest.join("d/old").exists(), "merged, not replaced");
}

#[test]
fn ownership_from_the_tar_or_chown_as_root() {
    if !require_root("ownership_from_the_tar_or_chown_as_root") {
        return;
    }
    let d = dest();
    let mut su = RawEntry::new("bin/su", tar::EntryType::Regular);
    su.mode = 0o4755;
    su.uid = 1000;
    su.gid = 1001;
    su.data = b"su".to_vec();
    let tar = LayerBuilder::new()
        .owner(33, 44)
        .dir("bin", 0o755)
        .symlink("bin/sh", "busybox")
        .raw(su)
        .char_dev("dev/null", 0o666, 1, 3)
        .finish();
    put(&d.dest, &tar, &ExtractOptions::default()).unwrap();
    let m = fs::metadata(d.dest.join("bin/su")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1000, 1001, 0o4755));
    let l = fs::symlink_metadata(d.dest.join("bin/sh")).unwrap();
    assert_eq!((l.uid(), l.gid()), (33, 44));
    let n = fs::symlink_metadata(d.dest.join("dev/null")).unwrap();
    assert!(n.file_type().is_char_device());
    assert_eq!(
        (n.rdev(), n.mode() & 0o7777),
        (rustix::fs::makedev(1, 3), 0o666)
    );

    let d2 = dest();
    let opts = ExtractOptions {
        chown: Some((7, 8)),
        ..Default::default()
    };
    put(&d2.dest, &tar, &opts).unwrap();
    for p in ["bin", "bin/su", "bin/sh", "dev/null"] {
        let m = fs::symlink_metadata(d2.dest.join(p)).unwrap();
        assert_eq!((m.uid(), m.gid()), (7, 8), "{p}");
    }
    assert_eq!(
        fs::metadata(d2.dest.join("bin/su")).unwrap().mode() & 0o7777,
        0o4755
    );
}

#[test]
fn truncated_and_corrupt_streams_are_errors() {
    let d = dest();
    let tar = LayerBuilder::new()
        .file("a", 0o644, b"x")
        .file("big", 0o644, &[7u8; 10_000])
        .finish();
    for cut in [1024 + 100, 1024 + 512 + 3000] {
        let sub = d.top.join(format!("t{cut}"));
        fs::create_dir(&sub).unwrap();
        let e = put(&sub, &tar[..cut], &ExtractOptions::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.to_string().ends_with("unexpected EOF"), "{e}");
    }
    let e = put(&d.dest, &[0x55u8; 2048], &ExtractOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
}

fn bomb(kind: &str) -> Vec<u8> {
    let tar = LayerBuilder::new()
        .file("bomb", 0o644, &vec![0u8; 32 << 20])
        .finish();
    match kind {
        "gzip" => {
            let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            w.write_all(&tar).unwrap();
            w.finish().unwrap()
        }
        "xz" => {
            let mut w = liblzma::write::XzEncoder::new(Vec::new(), 6);
            w.write_all(&tar).unwrap();
            w.finish().unwrap()
        }
        "zstd" => zstd::stream::encode_all(Cursor::new(&tar), 19).unwrap(),
        "bzip2" => {
            let mut w = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
            w.write_all(&tar).unwrap();
            w.finish().unwrap()
        }
        _ => tar,
    }
}

#[test]
fn bombs_and_huge_sizes_stop_at_max_bytes() {
    let d = dest();
    let opts = ExtractOptions {
        max_bytes: Some(1 << 20),
        ..Default::default()
    };
    for kind in ["gzip", "xz", "zstd", "bzip2", "plain"] {
        let b = bomb(kind);
        if kind != "plain" {
            assert!(b.len() < 300_000, "{kind} bomb is {} bytes", b.len());
        }
        let before = snapshot(&d.outside);
        let e = put(&d.dest, &b, &opts).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{kind}: {e}");
        assert!(e.to_string().contains("limit"), "{kind}: {e}");
        // Refused from the declared size, before writing.
        assert!(!d.dest.join("bomb").exists(), "{kind}");
        assert_eq!(snapshot(&d.outside), before);
    }
    // A header declaring far more than the stream has, without a limit:
    // truncated.
    let mut h = tar::Header::new_ustar();
    h.set_path("huge").unwrap();
    h.set_size(1 << 40);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    let mut raw = h.as_bytes().to_vec();
    raw.extend_from_slice(&[1u8; 4096]);
    let e = put(&d.dest, &raw, &ExtractOptions::default()).unwrap_err();
    assert!(e.to_string().ends_with("unexpected EOF"), "{e}");
}

#[test]
fn compressed_inputs() {
    let tar = LayerBuilder::new()
        .dir("z", 0o755)
        .file("z/f", 0o644, b"zip")
        .finish();
    let gz = {
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        w.write_all(&tar).unwrap();
        w.finish().unwrap()
    };
    let bz = {
        let mut w = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        w.write_all(&tar).unwrap();
        w.finish().unwrap()
    };
    let xz = {
        let mut w = liblzma::write::XzEncoder::new(Vec::new(), 1);
        w.write_all(&tar).unwrap();
        w.finish().unwrap()
    };
    let zs = zstd::stream::encode_all(Cursor::new(&tar), 1).unwrap();
    for (k, b) in [
        ("gz", gz),
        ("bz", bz),
        ("xz", xz),
        ("zst", zs),
        ("tar", tar.clone()),
    ] {
        let d = dest();
        put(&d.dest, &b, &ExtractOptions::default()).unwrap();
        assert_eq!(fs::read(d.dest.join("z/f")).unwrap(), b"zip", "{k}");
    }
}

#[test]
fn roundtrip_get_then_put() {
    let t = tree();
    fs::hard_link(t.root.join("etc/b"), t.root.join("etc/sub/b2")).unwrap();
    let bytes = archive(&t.root, "/etc");
    let d = dest();
    put(&d.dest, &bytes, &ExtractOptions::default()).unwrap();
    assert_eq!(
        fs::read(d.dest.join("etc/passwd")).unwrap(),
        b"root:x:0:0\n"
    );
    assert_eq!(
        fs::metadata(d.dest.join("etc/b")).unwrap().ino(),
        fs::metadata(d.dest.join("etc/sub/b2")).unwrap().ino()
    );
    let (a, b) = (
        fs::metadata(t.root.join("etc/sub")).unwrap(),
        fs::metadata(d.dest.join("etc/sub")).unwrap(),
    );
    assert_eq!((a.mode(), a.mtime()), (b.mode(), b.mtime()));
}

#[test]
fn extract_dir_resolution() {
    let t = tree();
    let r = root_of(&t.root);
    // A symlink to a directory works as the destination.
    let h = resolve_extract_dir(&r, "/link-abs").unwrap();
    let tar = LayerBuilder::new().file("new", 0o644, b"n").finish();
    extract(&h, Cursor::new(tar), &ExtractOptions::default()).unwrap();
    assert_eq!(fs::read(t.root.join("etc/new")).unwrap(), b"n");
    assert_eq!(extract_dest_path(&r, "/link-abs").unwrap(), "/etc");
    assert_eq!(
        extract_dest_path(&r, "/link-abs/sub/.").unwrap(),
        "/etc/sub"
    );
    let e = resolve_extract_dir(&r, "/etc/passwd").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(e.to_string(), "extraction point is not a directory");
    assert_eq!(
        resolve_extract_dir(&r, "/nope").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // The host path behind an absolute symlink is never the destination.
    assert_eq!(
        resolve_extract_dir(&r, "/hostlink").unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

// ---------------------------------------------------------------- export

#[test]
fn export_names_and_no_root_entry() {
    let t = tree();
    let mut out = Vec::new();
    export(&root_of(&t.root), &mut out).unwrap();
    let es = read_tar(&out);
    let n = names(&es);
    assert_eq!(n[0], "broken");
    assert!(n.contains(&"etc/") && n.contains(&"etc/passwd"));
    assert!(!n.iter().any(|x| x.starts_with("./") || x.starts_with('/')));
}

#[test]
fn export_does_not_cross_mounts() {
    if !require_root("export_does_not_cross_mounts") {
        return;
    }
    let t = tree();
    let mnt = t.root.join("mnt");
    fs::create_dir(&mnt).unwrap();
    rustix::mount::mount(
        "tmpfs",
        &mnt,
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        None::<&std::ffi::CStr>,
    )
    .unwrap();
    fs::write(mnt.join("inside-mount"), b"m").unwrap();
    let mut out = Vec::new();
    let r = export(&root_of(&t.root), &mut out);
    rustix::mount::unmount(&mnt, rustix::mount::UnmountFlags::DETACH).unwrap();
    r.unwrap();
    let n: Vec<String> = read_tar(&out).into_iter().map(|e| e.name).collect();
    assert!(n.contains(&"mnt/".to_string()), "{n:?}");
    assert!(!n.iter().any(|x| x.contains("inside-mount")), "{n:?}");
    assert!(n.contains(&"etc/passwd".to_string()));
}

// ---------------------------------------------------------------- diff

fn ch(path: &str, kind: ChangeKind) -> Change {
    Change {
        path: path.to_string(),
        kind,
    }
}

fn set_mtime(p: &Path, sec: i64) {
    let t = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: sec,
            tv_nsec: 0,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: sec,
            tv_nsec: 0,
        },
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &t,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

/// A base tree and a copy of it with mtimes kept.
fn base_and_copy() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let td = tempfile::tempdir().unwrap();
    let base = td.path().join("base");
    let rw = td.path().join("rw");
    {
        let p = &base;
        fs::create_dir_all(p.join("etc/deep/er")).unwrap();
        fs::create_dir_all(p.join("usr/lib")).unwrap();
        fs::create_dir_all(p.join("gone/sub")).unwrap();
        fs::write(p.join("etc/passwd"), b"root").unwrap();
        fs::write(p.join("etc/hosts"), b"h").unwrap();
        fs::write(p.join("etc/deep/er/f"), b"f").unwrap();
        fs::write(p.join("usr/lib/a"), b"a").unwrap();
        fs::write(p.join("usr/lib/b"), b"b").unwrap();
        fs::write(p.join("gone/sub/x"), b"x").unwrap();
        fs::write(p.join("tochange"), b"file").unwrap();
        symlink("etc/passwd", p.join("lnk")).unwrap();
    }
    fs::create_dir(&rw).unwrap();
    crate::copy_dir(&base, &rw).unwrap();
    (td, base, rw)
}

#[test]
fn naive_changes_follow_changes_dirs() {
    let (_td, base, rw) = base_and_copy();
    fs::write(rw.join("etc/passwd"), b"root2").unwrap(); // size: C
    fs::write(rw.join("etc/deep/er/new"), b"n").unwrap(); // A, parents C
    fs::create_dir_all(rw.join("newdir/x")).unwrap(); // A recursively
    fs::write(rw.join("newdir/x/y"), b"y").unwrap();
    fs::remove_dir_all(rw.join("gone")).unwrap(); // D (top only)
    fs::remove_file(rw.join("usr/lib/a")).unwrap(); // D, parents C
    fs::set_permissions(rw.join("etc/hosts"), fs::Permissions::from_mode(0o600)).unwrap(); // C
    fs::remove_file(rw.join("tochange")).unwrap();
    fs::create_dir(rw.join("tochange")).unwrap(); // file -> dir: C, child A
    fs::write(rw.join("tochange/in"), b"i").unwrap();
    let got = changes_naive(&rw, &base).unwrap();
    use ChangeKind::*;
    assert_eq!(
        got,
        vec![
            ch("/etc", Modified),
            ch("/etc/deep", Modified),
            ch("/etc/deep/er", Modified),
            ch("/etc/deep/er/new", Added),
            ch("/etc/hosts", Modified),
            ch("/etc/passwd", Modified),
            ch("/gone", Deleted),
            ch("/newdir", Added),
            ch("/newdir/x", Added),
            ch("/newdir/x/y", Added),
            ch("/tochange", Modified),
            ch("/tochange/in", Added),
            ch("/usr", Modified),
            ch("/usr/lib", Modified),
            ch("/usr/lib/a", Deleted),
        ]
    );
    // Identical trees: nothing.
    let (_td2, base2, rw2) = base_and_copy();
    assert_eq!(changes_naive(&rw2, &base2).unwrap(), vec![]);
    // Same second, one side without nanoseconds: not a change (sameFsTime).
    set_mtime(
        &rw2.join("usr/lib/b"),
        fs::metadata(base2.join("usr/lib/b")).unwrap().mtime(),
    );
    assert_eq!(changes_naive(&rw2, &base2).unwrap(), vec![]);
}

/// Overlay upper/lower dirs as the kernel makes them, and the changes the
/// two merged views give (`changes_naive` on mounted overlays) must be
/// what `changes_overlay` finds from the upper dir alone.
#[test]
fn overlay_changes_match_the_merged_views() {
    if !require_root("overlay_changes_match_the_merged_views") {
        return;
    }
    let td = tempfile::tempdir().unwrap();
    let p = td.path();
    let (l1, l2, upper, work, merged, lowview) = (
        p.join("l1"),
        p.join("l2"),
        p.join("upper"),
        p.join("work"),
        p.join("merged"),
        p.join("lowview"),
    );
    for d in [&l1, &l2, &upper, &work, &merged, &lowview] {
        fs::create_dir(d).unwrap();
    }
    // l2 (bottom): the image base; l1 deletes and adds over it.
    fs::create_dir_all(l2.join("etc/ssl")).unwrap();
    fs::create_dir_all(l2.join("opq/old")).unwrap();
    fs::create_dir_all(l2.join("var/lib")).unwrap();
    fs::write(l2.join("etc/passwd"), b"root").unwrap();
    fs::write(l2.join("etc/ssl/cert"), b"c").unwrap();
    fs::write(l2.join("opq/a"), b"a").unwrap();
    fs::write(l2.join("opq/old/x"), b"x").unwrap();
    fs::write(l2.join("var/lib/gone-in-l1"), b"g").unwrap();
    fs::write(l2.join("var/lib/keep"), b"k").unwrap();
    fs::create_dir_all(l1.join("var/lib")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        l1.join("var/lib/gone-in-l1"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        0,
    )
    .unwrap();
    fs::write(l1.join("var/lib/l1file"), b"l1").unwrap();
    let lower = format!("{}:{}", l1.display(), l2.display());
    let opts = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        upper.display(),
        work.display()
    );
    let mount = |src: &str, target: &Path, data: &str| {
        let data = std::ffi::CString::new(data).unwrap();
        rustix::mount::mount(
            "overlay",
            target,
            src,
            rustix::mount::MountFlags::empty(),
            Some(data.as_c_str()),
        )
    };
    mount("overlay", &merged, &opts).unwrap();
    let low_opts = format!("lowerdir={}:{}", lower, p.join("l2").display());
    if mount("overlay", &lowview, &low_opts).is_err() {
        // Some kernels refuse a duplicated lower dir; one of each is enough.
        mount("overlay", &lowview, &format!("lowerdir={lower}")).unwrap();
    }
    let run = || {
        let m = &merged;
        fs::write(m.join("etc/passwd"), b"root2").unwrap(); // modified
        fs::remove_file(m.join("etc/ssl/cert")).unwrap(); // whiteout
        fs::remove_dir_all(m.join("opq")).unwrap(); // then recreated: opaque
        fs::create_dir(m.join("opq")).unwrap();
        fs::write(m.join("opq/a"), b"new a").unwrap();
        fs::create_dir_all(m.join("newdir/sub")).unwrap(); // added
        fs::write(m.join("newdir/sub/f"), b"f").unwrap();
        fs::remove_file(m.join("var/lib/l1file")).unwrap(); // from l1
        fs::write(m.join("var/lib/gone-in-l1"), b"back").unwrap(); // re-added
        fs::set_permissions(m.join("var/lib/keep"), fs::Permissions::from_mode(0o600)).unwrap();
        let from_views = changes_naive(&merged, &lowview).unwrap();
        let from_upper = changes_overlay(&upper, &[l1.clone(), l2.clone()]).unwrap();
        (from_views, from_upper)
    };
    let result = run();
    let _ = rustix::mount::unmount(&merged, rustix::mount::UnmountFlags::DETACH);
    let _ = rustix::mount::unmount(&lowview, rustix::mount::UnmountFlags::DETACH);
    let (from_views, from_upper) = result;
    use ChangeKind::*;
    assert_eq!(from_upper, from_views);
    assert_eq!(
        from_upper,
        vec![
            ch("/etc", Modified),
            ch("/etc/passwd", Modified),
            ch("/etc/ssl", Modified),
            ch("/etc/ssl/cert", Deleted),
            ch("/newdir", Added),
            ch("/newdir/sub", Added),
            ch("/newdir/sub/f", Added),
            ch("/opq", Modified),
            ch("/opq/a", Modified),
            ch("/opq/old", Deleted),
            ch("/var", Modified),
            ch("/var/lib", Modified),
            ch("/var/lib/gone-in-l1", Added),
            ch("/var/lib/keep", Modified),
            ch("/var/lib/l1file", Deleted),
        ]
    );
}

#[test]
fn overlay_changes_without_mounting() {
    if !require_root("overlay_changes_without_mounting") {
        return;
    }
    // Hand-made upper dir: a 0/0 whiteout, an opaque dir by xattr, an
    // aufs-style ".wh." name, a new file; one lower.
    let td = tempfile::tempdir().unwrap();
    let (lower, upper) = (td.path().join("lower"), td.path().join("upper"));
    fs::create_dir_all(lower.join("a/b")).unwrap();
    fs::create_dir_all(lower.join("o/inner")).unwrap();
    fs::write(lower.join("a/b/f"), b"f").unwrap();
    fs::write(lower.join("a/g"), b"g").unwrap();
    fs::write(lower.join("o/kept-name"), b"k").unwrap();
    fs::write(lower.join("o/dropped"), b"d").unwrap();
    fs::write(lower.join("top"), b"t").unwrap();
    fs::create_dir_all(upper.join("a/b")).unwrap();
    for d in ["a", "a/b"] {
        let m = fs::metadata(lower.join(d)).unwrap();
        fs::set_permissions(upper.join(d), fs::Permissions::from_mode(m.mode() & 0o7777)).unwrap();
    }
    rustix::fs::mknodat(
        rustix::fs::CWD,
        upper.join("a/b/f"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        0,
    )
    .unwrap();
    fs::write(upper.join("a/.wh.g"), b"").unwrap();
    fs::create_dir(upper.join("o")).unwrap();
    fs::set_permissions(
        upper.join("o"),
        fs::Permissions::from_mode(fs::metadata(lower.join("o")).unwrap().mode() & 0o7777),
    )
    .unwrap();
    rustix::fs::setxattr(
        upper.join("o"),
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    fs::copy(lower.join("o/kept-name"), upper.join("o/kept-name")).unwrap();
    set_mtime(
        &upper.join("o/kept-name"),
        fs::metadata(lower.join("o/kept-name")).unwrap().mtime(),
    );
    fs::write(upper.join("new"), b"n").unwrap();
    use ChangeKind::*;
    assert_eq!(
        changes_overlay(&upper, std::slice::from_ref(&lower)).unwrap(),
        vec![
            ch("/a", Modified),
            ch("/a/b", Modified),
            ch("/a/b/f", Deleted),
            ch("/a/g", Deleted),
            ch("/new", Added),
            ch("/o", Modified),
            ch("/o/dropped", Deleted),
            ch("/o/inner", Deleted),
        ]
    );
}

// ---------------------------------------------------------------- bench

/// Micro-benchmark (not a test): `cargo test --release -p berth-archive
/// bench_cp -- --ignored --nocapture`. Set BERTH_BENCH_DIR to choose the
/// filesystem (default: the temp dir).
#[test]
#[ignore]
fn bench_cp() {
    use std::time::Instant;
    let base = std::env::var_os("BERTH_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let td = tempfile::tempdir_in(base).unwrap();
    let src = td.path().join("src");
    let (dirs, per) = (500, 100);
    let data = vec![b'x'; 4096];
    for i in 0..dirs {
        let d = src.join(format!("d{i:03}"));
        fs::create_dir_all(&d).unwrap();
        for j in 0..per {
            fs::write(d.join(format!("f{j:03}")), &data).unwrap();
        }
    }
    let n = (dirs * per) as f64;
    let root = root_of(&src);

    // GET of many small files.
    let mut best = f64::MAX;
    let mut tar_bytes = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let r = open_resource(&root, "/").unwrap();
        let mut out = Vec::with_capacity(300 << 20);
        r.write_tar(&mut out).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        tar_bytes = out;
    }
    println!(
        "write_tar small: {:.0} files/s ({:.3} s, {} MB)",
        n / best,
        best,
        tar_bytes.len() >> 20
    );

    // export of the same tree vs tar | cat.
    let t = Instant::now();
    export(&root, &mut std::io::sink()).unwrap();
    let e = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -cf - -C {} . | cat > /dev/null",
            src.display()
        ))
        .status()
        .unwrap();
    let g = t.elapsed().as_secs_f64();
    println!("export small: {e:.3} s; tar -cf - | cat: {g:.3} s (ok: {st})");

    // PUT of many small files.
    let dst = td.path().join("dst");
    fs::create_dir(&dst).unwrap();
    let t = Instant::now();
    let st = extract(
        &handle(&dst),
        Cursor::new(&tar_bytes),
        &ExtractOptions::default(),
    )
    .unwrap();
    let x = t.elapsed().as_secs_f64();
    println!(
        "extract small: {:.0} files/s ({x:.3} s, {} entries)",
        n / x,
        st.entries
    );
    let tarfile = td.path().join("small.tar");
    fs::write(&tarfile, &tar_bytes).unwrap();
    let dst_gnu = td.path().join("dst-gnu");
    fs::create_dir(&dst_gnu).unwrap();
    let t = Instant::now();
    std::process::Command::new("tar")
        .arg("-xf")
        .arg(&tarfile)
        .arg("-C")
        .arg(&dst_gnu)
        .status()
        .unwrap();
    println!(
        "GNU tar -xf of the same: {:.3} s",
        t.elapsed().as_secs_f64()
    );

    // diff of 50,000 added files (naive: dst vs an empty base, and overlay:
    // dst as the upper dir over src as the lower).
    let empty = td.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let t = Instant::now();
    let c = changes_naive(&dst, &empty).unwrap();
    println!(
        "changes_naive: {} changes in {:.3} s",
        c.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let c = changes_overlay(&dst, std::slice::from_ref(&src)).unwrap();
    println!(
        "changes_overlay (50k files over a lower with the same names): {} changes in {:.3} s",
        c.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let c = changes_overlay(&dst, std::slice::from_ref(&empty)).unwrap();
    println!(
        "changes_overlay (50k added): {} changes in {:.3} s",
        c.len(),
        t.elapsed().as_secs_f64()
    );
    drop(tar_bytes);

    // One 1 GiB file, out and in.
    let big = td.path().join("big");
    fs::create_dir(&big).unwrap();
    {
        let mut f = fs::File::create(big.join("file")).unwrap();
        let chunk = vec![0xabu8; 1 << 20];
        for _ in 0..1024 {
            f.write_all(&chunk).unwrap();
        }
    }
    struct Sink(u64);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            // What the daemon's channel writer does: one copy per chunk.
            let v = b.to_vec();
            self.0 += v.len() as u64;
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let r = open_resource(&root_of(&big), "/file").unwrap();
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let mut s = Sink(0);
        r.write_tar(&mut s).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("write_tar 1 GiB: {:.0} MB/s", 1024.0 * 1.048576 / best);
    let mut tar1g = Vec::with_capacity((1 << 30) + (1 << 20));
    r.write_tar(&mut tar1g).unwrap();
    let dst2 = td.path().join("dst2");
    fs::create_dir(&dst2).unwrap();
    let t = Instant::now();
    extract(
        &handle(&dst2),
        Cursor::new(&tar1g),
        &ExtractOptions::default(),
    )
    .unwrap();
    let x = t.elapsed().as_secs_f64();
    println!("extract 1 GiB: {:.0} MB/s", 1024.0 * 1.048576 / x);
}

#[test]
#[ignore]
fn bench_extract_big() {
    use std::time::Instant;
    let base = std::env::var_os("BERTH_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let td = tempfile::tempdir_in(base).unwrap();
    let mut tar1g = Vec::with_capacity((1 << 30) + (1 << 20));
    {
        let mut b = tar::Builder::new(&mut tar1g);
        let mut h = tar::Header::new_gnu();
        h.set_size(1 << 30);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "file", std::io::repeat(0xab).take(1 << 30))
            .unwrap();
        b.finish().unwrap();
    }
    for i in 0..3 {
        let dst = td.path().join(format!("d{i}"));
        fs::create_dir(&dst).unwrap();
        let t = Instant::now();
        extract(
            &handle(&dst),
            Cursor::new(&tar1g),
            &ExtractOptions::default(),
        )
        .unwrap();
        let x = t.elapsed().as_secs_f64();
        println!("extract 1 GiB: {:.0} MB/s", 1024.0 * 1.048576 / x);
        fs::remove_dir_all(&dst).unwrap();
    }
}
