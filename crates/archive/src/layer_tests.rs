use super::*;
use crate::cp::{changes_naive, changes_overlay};
use crate::testutil::require_root;
use crate::{ApplyOptions, WhiteoutFormat, apply_layer, copy_dir};
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs;
use std::io::{Cursor, Read};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::PathBuf;

fn ch(path: &str, kind: ChangeKind) -> Change {
    Change {
        path: path.to_string(),
        kind,
    }
}

fn set_mtime(p: &Path, sec: i64) {
    let t = rfs::Timestamps {
        last_access: rfs::Timespec {
            tv_sec: sec,
            tv_nsec: 0,
        },
        last_modification: rfs::Timespec {
            tv_sec: sec,
            tv_nsec: 0,
        },
    };
    rfs::utimensat(rfs::CWD, p, &t, AtFlags::SYMLINK_NOFOLLOW).unwrap();
}

#[derive(Debug, PartialEq, Eq)]
struct Node {
    mode: u32,
    uid: u32,
    gid: u32,
    /// File contents or symlink target.
    data: Vec<u8>,
    /// Seconds; directories' times are not compared (a parent that is not
    /// a change keeps the base's time, or gets the applier's).
    mtime: Option<i64>,
    /// The first path (in byte order) with the same inode.
    link_group: Vec<u8>,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

fn xattrs_of(p: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut buf = vec![0u8; 4096];
    let n = match rfs::llistxattr(p, &mut buf[..]) {
        Ok(n) => n,
        Err(_) => return out,
    };
    for k in buf[..n].split(|b| *b == 0) {
        if k.is_empty() || !(k.starts_with(b"user.") || k == b"security.capability") {
            continue;
        }
        let mut v = vec![0u8; 4096];
        let key = OsStr::from_bytes(k);
        if let Ok(m) = rfs::lgetxattr(p, key, &mut v[..]) {
            v.truncate(m);
            out.insert(k.to_vec(), v);
        }
    }
    out
}

/// Every object under `dir` by raw relative path.
fn tree(dir: &Path) -> BTreeMap<Vec<u8>, Node> {
    let mut found: Vec<(Vec<u8>, fs::Metadata, PathBuf)> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
            }
            let rel = p
                .strip_prefix(dir)
                .unwrap()
                .as_os_str()
                .to_owned()
                .into_vec();
            found.push((rel, m, p));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let mut first: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut out = BTreeMap::new();
    for (rel, m, p) in found {
        let data = if m.is_file() {
            fs::read(&p).unwrap()
        } else if m.file_type().is_symlink() {
            fs::read_link(&p).unwrap().into_os_string().into_vec()
        } else {
            Vec::new()
        };
        let link_group = if m.is_dir() {
            rel.clone()
        } else {
            first.entry(m.ino()).or_insert_with(|| rel.clone()).clone()
        };
        out.insert(
            rel,
            Node {
                mode: m.mode(),
                uid: m.uid(),
                gid: m.gid(),
                data,
                mtime: (!m.is_dir()).then(|| m.mtime()),
                link_group,
                xattrs: xattrs_of(&p),
            },
        );
    }
    out
}

struct TarEntry {
    name: Vec<u8>,
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    size: u64,
    link: Option<Vec<u8>>,
}

fn read_tar(data: &[u8]) -> Vec<TarEntry> {
    let mut a = tar::Archive::new(Cursor::new(data));
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let name = e.path_bytes().into_owned();
        let link = e.link_name_bytes().map(|l| l.into_owned());
        let mut sink = Vec::new();
        e.read_to_end(&mut sink).unwrap();
        out.push(TarEntry {
            name,
            kind: h.entry_type(),
            mode: h.mode().unwrap(),
            uid: h.uid().unwrap(),
            size: h.size().unwrap(),
            link,
        });
    }
    out
}

fn layer_of(src: &Path, changes: &[Change]) -> (Vec<u8>, LayerStats) {
    let mut out = Vec::new();
    let stats = write_layer(src, changes, &mut out).unwrap();
    (out, stats)
}

fn apply_onto_copy_of(base: &Path, dest: &Path, layer: &[u8], fmt: WhiteoutFormat) {
    fs::create_dir(dest).unwrap();
    copy_dir(base, dest).unwrap();
    apply_layer(dest, Cursor::new(layer), &ApplyOptions::new(fmt)).unwrap();
}

fn base_tree(p: &Path) {
    fs::create_dir_all(p.join("etc")).unwrap();
    fs::create_dir_all(p.join("bin")).unwrap();
    fs::create_dir_all(p.join("keep")).unwrap();
    fs::write(p.join("etc/passwd"), b"root").unwrap();
    fs::write(p.join("etc/group"), b"g").unwrap();
    fs::write(p.join("bin/sh"), b"sh").unwrap();
    fs::write(p.join("gone"), b"x").unwrap();
    fs::write(p.join("keep/k"), b"k").unwrap();
    for f in ["etc/passwd", "etc/group", "bin/sh", "gone", "keep/k"] {
        set_mtime(&p.join(f), 1_500_000_000);
    }
}

const LONG_DIR: &str = "long/dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
const LONG_FILE: &str = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";

/// What a container wrote, as it lands in an overlay upper dir (and, run
/// over a copy of the base, in the tree the layer must reproduce).
fn container_writes(p: &Path) {
    fs::create_dir_all(p.join("etc")).unwrap();
    fs::write(p.join("etc/passwd"), b"root2").unwrap();
    fs::create_dir_all(p.join("newdir/sub")).unwrap();
    fs::write(p.join("newdir/f1"), b"one").unwrap();
    fs::write(p.join("newdir/sub/f2"), b"two").unwrap();
    fs::set_permissions(p.join("newdir/sub/f2"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::write(p.join("newdir/h1"), b"linked").unwrap();
    fs::hard_link(p.join("newdir/h1"), p.join("newdir/h2")).unwrap();
    symlink("../etc/passwd", p.join("newdir/link")).unwrap();
    fs::write(p.join("a b"), b"space").unwrap();
    fs::create_dir(p.join("a")).unwrap();
    fs::write(p.join("a/b"), b"ab").unwrap();
    fs::create_dir_all(p.join(LONG_DIR)).unwrap();
    fs::write(p.join(LONG_DIR).join(LONG_FILE), b"long").unwrap();
    fs::write(p.join(OsString::from_vec(b"caf\xe9".to_vec())), b"latin1").unwrap();
    for f in [
        "etc/passwd",
        "newdir/link",
        "newdir/f1",
        "newdir/sub/f2",
        "newdir/h1",
        "a b",
        "a/b",
    ] {
        set_mtime(&p.join(f), 1_600_000_000);
    }
    set_mtime(&p.join(LONG_DIR).join(LONG_FILE), 1_600_000_000);
    set_mtime(
        &p.join(OsString::from_vec(b"caf\xe9".to_vec())),
        1_600_000_000,
    );
    fs::set_permissions(p.join("newdir"), fs::Permissions::from_mode(0o750)).unwrap();
    // A user xattr, where the filesystem has them.
    let _ = rfs::lsetxattr(
        p.join("newdir/f1"),
        "user.note",
        b"kept",
        rfs::XattrFlags::empty(),
    );
}

fn upper_changes() -> Vec<Change> {
    use ChangeKind::*;
    // Deliberately unsorted: write_layer sorts as ExportChanges does.
    vec![
        ch("/newdir/sub/f2", Added),
        ch("/etc/passwd", Modified),
        ch("/etc", Modified),
        ch("/newdir", Added),
        ch("/newdir/sub", Added),
        ch("/newdir/f1", Added),
        ch("/newdir/h1", Added),
        ch("/newdir/h2", Added),
        ch("/newdir/link", Added),
        ch("/gone", Deleted),
        ch("/etc/group", Deleted),
        ch("/a/b", Added),
        ch("/a b", Added),
        ch("/a", Added),
        ch("/long", Added),
        ch(&format!("/{LONG_DIR}"), Added),
        ch(&format!("/{LONG_DIR}/{LONG_FILE}"), Added),
        ch("/caf\u{FFFD}", Added),
    ]
}

#[test]
fn layer_from_an_upper_dir_reproduces_the_container_tree() {
    let td = tempfile::tempdir().unwrap();
    let (base, upper, expected, dest) = (
        td.path().join("base"),
        td.path().join("upper"),
        td.path().join("expected"),
        td.path().join("dest"),
    );
    base_tree(&base);
    fs::create_dir(&upper).unwrap();
    container_writes(&upper);
    fs::create_dir(&expected).unwrap();
    copy_dir(&base, &expected).unwrap();
    container_writes(&expected);
    fs::remove_file(expected.join("gone")).unwrap();
    fs::remove_file(expected.join("etc/group")).unwrap();

    let (layer, stats) = layer_of(&upper, &upper_changes());
    assert_eq!(stats.bytes, layer.len() as u64);
    assert_eq!(layer.len() % 512, 0);

    let entries = read_tar(&layer);
    assert_eq!(stats.entries, entries.len() as u64);
    let names: Vec<String> = entries
        .iter()
        .map(|e| String::from_utf8_lossy(&e.name).into_owned())
        .collect();
    let long_dir = format!("{LONG_DIR}/");
    let long_file = format!("{LONG_DIR}/{LONG_FILE}");
    assert_eq!(
        names,
        vec![
            "a/",
            "a b",
            "a/b",
            "caf\u{FFFD}",
            "etc/",
            "etc/.wh.group",
            "etc/passwd",
            ".wh.gone",
            "long/",
            long_dir.as_str(),
            long_file.as_str(),
            "newdir/",
            "newdir/f1",
            "newdir/h1",
            "newdir/h2",
            "newdir/link",
            "newdir/sub/",
            "newdir/sub/f2",
        ]
    );
    // The non-UTF-8 name is written as it is on disk.
    assert_eq!(entries[3].name, b"caf\xe9");
    let wh = &entries[5];
    assert_eq!(
        (wh.kind, wh.mode, wh.uid, wh.size),
        (tar::EntryType::Regular, 0, 0, 0)
    );
    let h2 = &entries[14];
    assert_eq!(h2.kind, tar::EntryType::Link);
    assert_eq!(h2.link.as_deref(), Some(&b"newdir/h1"[..]));
    assert_eq!(entries[15].kind, tar::EntryType::Symlink);
    assert_eq!(entries[15].link.as_deref(), Some(&b"../etc/passwd"[..]));
    assert_eq!(entries[17].mode & 0o7777, 0o4755);

    apply_onto_copy_of(&base, &dest, &layer, WhiteoutFormat::Naive);
    assert_eq!(tree(&dest), tree(&expected));
    assert!(!dest.join("gone").exists());
    assert_eq!(
        fs::metadata(dest.join("newdir/h1")).unwrap().ino(),
        fs::metadata(dest.join("newdir/h2")).unwrap().ino()
    );
}

#[test]
fn parents_come_before_children_whatever_sorts_between() {
    let td = tempfile::tempdir().unwrap();
    let src = td.path();
    // '-' (0x2d) and ' ' (0x20) sort before '/' (0x2f); '0' after it.
    for d in ["a", "a-", "a/b", "a/b/c"] {
        fs::create_dir_all(src.join(d)).unwrap();
    }
    for f in ["a b", "a-/x", "a/b/c/d", "a0", "a/b-"] {
        fs::write(src.join(f), b"").unwrap();
    }
    let mut changes: Vec<Change> = ["/a0", "/a/b/c/d", "/a-/x", "/a/b-", "/a b", "/a/b/c"]
        .iter()
        .chain(["/a", "/a-", "/a/b"].iter())
        .map(|p| ch(p, ChangeKind::Added))
        .collect();
    changes.reverse();
    let (layer, _) = layer_of(src, &changes);
    let names: Vec<Vec<u8>> = read_tar(&layer).into_iter().map(|e| e.name).collect();
    for (i, n) in names.iter().enumerate() {
        let trimmed = n.strip_suffix(b"/").unwrap_or(n);
        if let Some(cut) = trimmed.iter().rposition(|b| *b == b'/') {
            let mut parent = trimmed[..cut].to_vec();
            parent.push(b'/');
            let at = names.iter().position(|x| *x == parent);
            assert!(
                matches!(at, Some(j) if j < i),
                "{} before its parent",
                String::from_utf8_lossy(n)
            );
        }
    }
    // And the stream applies to the same tree.
    let dest = tempfile::tempdir().unwrap();
    apply_layer(
        dest.path(),
        Cursor::new(&layer),
        &ApplyOptions::new(WhiteoutFormat::Naive),
    )
    .unwrap();
    let strip = |t: BTreeMap<Vec<u8>, Node>| -> Vec<(Vec<u8>, u32)> {
        t.into_iter().map(|(k, n)| (k, n.mode)).collect()
    };
    assert_eq!(strip(tree(dest.path())), strip(tree(src)));
}

#[test]
fn symlinked_parents_are_not_followed() {
    let td = tempfile::tempdir().unwrap();
    let src = td.path().join("src");
    let outside = td.path().join("outside");
    fs::create_dir_all(&src).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret"), b"host").unwrap();
    // The container made "etc" a symlink to a host path and lists a change
    // "below" it (a racing rename, or a forged list).
    symlink(&outside, src.join("etc")).unwrap();
    let changes = vec![
        ch("/etc", ChangeKind::Added),
        ch("/etc/secret", ChangeKind::Added),
    ];
    let (layer, stats) = layer_of(&src, &changes);
    let entries = read_tar(&layer);
    assert_eq!(stats.entries, 1);
    assert_eq!(entries[0].kind, tar::EntryType::Symlink);
    assert!(!layer.windows(4).any(|w| w == b"host"));
    // `..` in a change path is refused outright.
    let mut out = Vec::new();
    let e = write_layer(
        &src,
        &[ch("/../outside/secret", ChangeKind::Added)],
        &mut out,
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn no_changes_is_the_empty_tar() {
    let td = tempfile::tempdir().unwrap();
    let (layer, stats) = layer_of(td.path(), &[]);
    assert_eq!(layer, vec![0u8; 1024]);
    assert_eq!(
        stats,
        LayerStats {
            entries: 0,
            bytes: 1024
        }
    );
}

/// The naive snapshotter's path: `changes_naive` on the rw tree, the layer
/// from it, applied over the base, gives the rw tree back.
#[test]
fn naive_diff_then_layer_round_trips() {
    let td = tempfile::tempdir().unwrap();
    let (base, rw, dest) = (
        td.path().join("base"),
        td.path().join("rw"),
        td.path().join("dest"),
    );
    base_tree(&base);
    fs::create_dir_all(base.join("dir/sub")).unwrap();
    fs::write(base.join("dir/sub/x"), b"x").unwrap();
    fs::create_dir_all(base.join("todir")).unwrap();
    fs::write(base.join("todir/y"), b"y").unwrap();
    fs::write(base.join("tofile"), b"f").unwrap();
    fs::create_dir(&rw).unwrap();
    copy_dir(&base, &rw).unwrap();

    container_writes(&rw);
    fs::remove_file(rw.join("gone")).unwrap();
    fs::remove_file(rw.join("etc/group")).unwrap();
    fs::remove_dir_all(rw.join("dir")).unwrap(); // a whole subtree
    fs::remove_dir_all(rw.join("todir")).unwrap(); // dir -> file
    fs::write(rw.join("todir"), b"now a file").unwrap();
    fs::remove_file(rw.join("tofile")).unwrap(); // file -> dir
    fs::create_dir(rw.join("tofile")).unwrap();
    fs::write(rw.join("tofile/in"), b"in").unwrap();
    fs::set_permissions(rw.join("keep/k"), fs::Permissions::from_mode(0o600)).unwrap();

    let changes = changes_naive(&rw, &base).unwrap();
    let (layer, _) = layer_of(&rw, &changes);
    let names: Vec<Vec<u8>> = read_tar(&layer).into_iter().map(|e| e.name).collect();
    assert!(names.contains(&b".wh.dir".to_vec()));
    assert!(!names.iter().any(|n| n.starts_with(b"dir/")));
    assert!(
        !names.contains(&b"bin/sh".to_vec()),
        "unchanged file written"
    );
    apply_onto_copy_of(&base, &dest, &layer, WhiteoutFormat::Naive);
    assert_eq!(tree(&dest), tree(&rw));
}

/// The overlay snapshotter's path, as root: a real overlay mount, the
/// container's writes through it, `changes_overlay` on the upper dir, the
/// layer from the upper dir; applied naively over the base, and in overlay
/// format into a fresh upper dir mounted over the base, it shows the
/// container's merged view — deletions included (0/0 whiteout devices).
#[test]
fn overlay_upper_layer_round_trips() {
    if !require_root("overlay_upper_layer_round_trips") {
        return;
    }
    let td = tempfile::tempdir().unwrap();
    let p = td.path();
    let d = |n: &str| p.join(n);
    for n in [
        "base", "upper", "work", "merged", "upper2", "work2", "merged2",
    ] {
        fs::create_dir(d(n)).unwrap();
    }
    base_tree(&d("base"));
    fs::create_dir_all(d("base/opq/old")).unwrap();
    fs::write(d("base/opq/old/x"), b"x").unwrap();
    fs::write(d("base/bin/ping"), b"ping").unwrap();
    fs::write(d("base/owned"), b"o").unwrap();
    let mount = |lower: &Path, upper: &Path, work: &Path, target: &Path| {
        let data = std::ffi::CString::new(format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        ))
        .unwrap();
        rustix::mount::mount(
            "overlay",
            target,
            "overlay",
            rustix::mount::MountFlags::empty(),
            Some(data.as_c_str()),
        )
        .unwrap();
    };
    let umount = |t: &Path| {
        let _ = rustix::mount::unmount(t, rustix::mount::UnmountFlags::DETACH);
    };
    mount(&d("base"), &d("upper"), &d("work"), &d("merged"));
    let m = d("merged");
    let run = || {
        container_writes(&m);
        fs::remove_file(m.join("gone")).unwrap();
        fs::remove_file(m.join("etc/group")).unwrap();
        fs::remove_dir_all(m.join("opq")).unwrap();
        fs::create_dir(m.join("opq")).unwrap();
        fs::write(m.join("opq/new"), b"n").unwrap();
        // security.capability (revision 2, cap_net_raw) survives.
        let cap = [
            1u8, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        rfs::lsetxattr(
            m.join("bin/ping"),
            "security.capability",
            &cap,
            rfs::XattrFlags::empty(),
        )
        .unwrap();
        std::os::unix::fs::lchown(m.join("owned"), Some(1000), Some(1001)).unwrap();
        tree(&m)
    };
    let merged_view = run();
    umount(&m);
    assert_eq!(
        merged_view[&b"bin/ping"[..]].xattrs[&b"security.capability"[..]].len(),
        20
    );

    let changes = changes_overlay(&d("upper"), &[d("base")]).unwrap();
    assert!(changes.contains(&ch("/gone", ChangeKind::Deleted)));
    let (layer, _) = layer_of(&d("upper"), &changes);

    // Naive: over a copy of the base.
    let naive = d("naive");
    apply_onto_copy_of(&d("base"), &naive, &layer, WhiteoutFormat::Naive);
    assert_eq!(tree(&naive), merged_view);

    // Overlay: a fresh upper dir over the base.
    apply_layer(
        &d("upper2"),
        Cursor::new(&layer),
        &ApplyOptions::new(WhiteoutFormat::Overlay),
    )
    .unwrap();
    let gone = fs::symlink_metadata(d("upper2/gone")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &gone.file_type()
    ));
    mount(&d("base"), &d("upper2"), &d("work2"), &d("merged2"));
    let view2 = tree(&d("merged2"));
    umount(&d("merged2"));
    assert_eq!(view2, merged_view);
}
