use super::*;
use crate::entry::parse_pax_time;
use crate::testutil::{LayerBuilder, RawEntry, require_root};
use std::collections::BTreeMap;
use std::fs;
use std::io::Cursor;
use std::os::unix::fs::{FileTypeExt, MetadataExt, symlink};
use std::path::PathBuf;

struct Env {
    _td: tempfile::TempDir,
    top: PathBuf,
    dest: PathBuf,
    outside: PathBuf,
}

/// `top/dest` is where layers go; `top/outside` holds a file a hostile
/// layer would like to reach.
fn env() -> Env {
    let td = tempfile::tempdir().unwrap();
    let top = td.path().to_path_buf();
    let dest = top.join("dest");
    let outside = top.join("outside");
    fs::create_dir(&dest).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), b"host data").unwrap();
    Env {
        _td: td,
        top,
        dest,
        outside,
    }
}

/// Everything under `dir` (names, types, sizes, modes, contents), to prove a
/// refused layer changed nothing there.
fn tree(dir: &Path) -> BTreeMap<PathBuf, (u32, u64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let content = if m.is_file() {
                fs::read(&p).unwrap()
            } else if m.file_type().is_symlink() {
                fs::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else {
                Vec::new()
            };
            if m.is_dir() {
                stack.push(p.clone());
            }
            out.insert(
                p.strip_prefix(dir).unwrap().to_path_buf(),
                (m.mode(), m.nlink(), content),
            );
        }
    }
    out
}

fn apply(dest: &Path, tar: &[u8], fmt: WhiteoutFormat) -> Result<ApplyStats> {
    apply_layer(dest, Cursor::new(tar), &ApplyOptions::new(fmt))
}

/// The layer must be refused as InvalidArgument naming `entry`, leaving
/// everything outside `dest` exactly as it was.
fn assert_refused(e: &Env, tar: &[u8], entry: &str, fmt: WhiteoutFormat) {
    let before = tree(&e.top.join("outside"));
    let top_before: Vec<_> = fs::read_dir(&e.top)
        .unwrap()
        .map(|x| x.unwrap().file_name())
        .collect();
    let err = apply(&e.dest, tar, fmt).expect_err("hostile layer was accepted");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(
        err.to_string().contains(entry),
        "error {err:?} does not name {entry:?}"
    );
    assert_eq!(tree(&e.outside), before, "outside changed");
    let mut top_after: Vec<_> = fs::read_dir(&e.top)
        .unwrap()
        .map(|x| x.unwrap().file_name())
        .collect();
    let mut top_before = top_before;
    top_before.sort();
    top_after.sort();
    assert_eq!(top_after, top_before, "something appeared next to dest");
}

#[test]
fn clean_names() {
    let ok: &[(&str, &[&str])] = &[
        ("a/b", &["a", "b"]),
        ("./a//b/", &["a", "b"]),
        ("/abs/x", &["abs", "x"]),
        ("/../x", &["x"]),
        ("a/../b", &["b"]),
        ("", &[]),
        ("./", &[]),
        ("/", &[]),
    ];
    for (raw, want) in ok {
        let got: Vec<&[u8]> = clean(raw.as_bytes()).unwrap();
        let want: Vec<&[u8]> = want.iter().map(|s| s.as_bytes()).collect();
        assert_eq!(got, want, "{raw}");
    }
    for bad in ["..", "../x", "a/../../x", "a/b/../../../c", "./.."] {
        assert!(clean(bad.as_bytes()).is_err(), "{bad}");
    }
    assert!(clean(b"a\0b").is_err());
}

#[test]
fn parse_pax_times() {
    assert_eq!(
        parse_pax_time(b"1700000000.5"),
        Some((1_700_000_000, 500_000_000))
    );
    assert_eq!(parse_pax_time(b"12"), Some((12, 0)));
    assert_eq!(parse_pax_time(b"1.123456789999"), Some((1, 123_456_789)));
    assert_eq!(parse_pax_time(b"-1.25"), Some((-2, 750_000_000)));
    assert_eq!(parse_pax_time(b"x"), None);
    assert_eq!(parse_pax_time(b""), None);
}

#[test]
fn basic_entries_and_metadata() {
    let e = env();
    let long = format!("{}/long-file", "n".repeat(120));
    let mut pax_file = RawEntry::new("d/nanos", tar::EntryType::Regular);
    pax_file.data = b"t".to_vec();
    pax_file
        .pax
        .push(("mtime".into(), b"1500000000.123456789".to_vec()));
    pax_file
        .pax
        .push(("SCHILY.xattr.user.color".into(), b"blue".to_vec()));
    let tar = LayerBuilder::new()
        .dir("./", 0o750)
        .dir("d", 0o555)
        .file("d/f", 0o640, b"hello")
        .file("d/exec", 0o755, b"#!/bin/sh\n")
        .symlink("d/link", "/etc/passwd")
        .symlink("d/rel", "../d/f")
        .hardlink("d/hard", "d/f")
        .hardlink("d/hard-abs", "/d/exec")
        .fifo("d/pipe", 0o620)
        .raw(pax_file)
        .file("implicit/parents/file", 0o600, b"p")
        .file(&long, 0o644, b"long")
        .finish();
    let st = apply(&e.dest, &tar, WhiteoutFormat::Naive).unwrap();
    assert_eq!(st.entries, 12);
    assert_eq!(st.bytes, 5 + 10 + 1 + 1 + 4);

    let d = &e.dest;
    assert_eq!(fs::read(d.join("d/f")).unwrap(), b"hello");
    let mf = fs::metadata(d.join("d/f")).unwrap();
    assert_eq!(mf.mode() & 0o7777, 0o640);
    assert_eq!(mf.mtime(), 1_600_000_000);
    assert_eq!(
        fs::metadata(d.join("d/exec")).unwrap().mode() & 0o7777,
        0o755
    );
    assert_eq!(
        fs::read_link(d.join("d/link")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(fs::read_link(d.join("d/rel")).unwrap(), Path::new("../d/f"));
    assert_eq!(
        fs::symlink_metadata(d.join("d/link")).unwrap().mtime(),
        1_600_000_000
    );
    assert_eq!(fs::metadata(d.join("d/hard")).unwrap().ino(), mf.ino());
    assert_eq!(mf.nlink(), 2);
    assert_eq!(
        fs::metadata(d.join("d/hard-abs")).unwrap().ino(),
        fs::metadata(d.join("d/exec")).unwrap().ino()
    );
    let pm = fs::symlink_metadata(d.join("d/pipe")).unwrap();
    assert!(pm.file_type().is_fifo());
    assert_eq!(pm.mode() & 0o7777, 0o620);
    let nm = fs::metadata(d.join("d/nanos")).unwrap();
    assert_eq!((nm.mtime(), nm.mtime_nsec()), (1_500_000_000, 123_456_789));
    let mut buf = [0u8; 16];
    let n = rfs::getxattr(d.join("d/nanos"), "user.color", &mut buf[..]).unwrap();
    assert_eq!(&buf[..n], b"blue");
    // Directory mode and mtime are applied after the entries inside them.
    let dm = fs::metadata(d.join("d")).unwrap();
    assert_eq!(dm.mode() & 0o7777, 0o555);
    assert_eq!(dm.mtime(), 1_600_000_000);
    // Parents nobody described are made 0755, as Docker's MkdirAll.
    assert_eq!(
        fs::metadata(d.join("implicit/parents")).unwrap().mode() & 0o7777,
        0o755
    );
    assert_eq!(fs::read(d.join(&long)).unwrap(), b"long");
    // The root entry sets the destination's own mode.
    assert_eq!(fs::metadata(d).unwrap().mode() & 0o7777, 0o750);
}

#[test]
fn owners_setid_and_xattrs_as_root() {
    if !require_root("owners_setid_and_xattrs_as_root") {
        return;
    }
    let e = env();
    let mut f = RawEntry::new("bin/su", tar::EntryType::Regular);
    f.mode = 0o4755;
    f.uid = 1000;
    f.gid = 1000;
    f.data = b"su".to_vec();
    f.pax
        .push(("SCHILY.xattr.trusted.berth".into(), b"t".to_vec()));
    // A layer must not be able to forge overlay metadata.
    f.pax.push((
        "SCHILY.xattr.trusted.overlay.redirect".into(),
        b"/etc".to_vec(),
    ));
    let tar = LayerBuilder::new()
        .owner(33, 44)
        .dir("bin", 0o2775)
        .symlink("bin/sh", "busybox")
        .raw(f)
        .char_dev("dev/null", 0o666, 1, 3)
        .finish();
    apply(&e.dest, &tar, WhiteoutFormat::Naive).unwrap();
    let d = &e.dest;
    let m = fs::metadata(d.join("bin/su")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1000, 1000));
    assert_eq!(
        m.mode() & 0o7777,
        0o4755,
        "chown must not leave setuid cleared"
    );
    let bm = fs::metadata(d.join("bin")).unwrap();
    assert_eq!((bm.uid(), bm.gid(), bm.mode() & 0o7777), (33, 44, 0o2775));
    let lm = fs::symlink_metadata(d.join("bin/sh")).unwrap();
    assert_eq!((lm.uid(), lm.gid()), (33, 44));
    let mut buf = [0u8; 16];
    let n = rfs::getxattr(d.join("bin/su"), "trusted.berth", &mut buf[..]).unwrap();
    assert_eq!(&buf[..n], b"t");
    assert!(rfs::getxattr(d.join("bin/su"), "trusted.overlay.redirect", &mut buf[..]).is_err());
    let dm = fs::symlink_metadata(d.join("dev/null")).unwrap();
    assert!(dm.file_type().is_char_device());
    assert_eq!(dm.rdev(), rfs::makedev(1, 3));
    assert_eq!(dm.mode() & 0o7777, 0o666);
}

#[test]
fn replaces_what_is_in_the_way() {
    let e = env();
    let d = &e.dest;
    fs::create_dir_all(d.join("x/child")).unwrap();
    fs::write(d.join("y"), b"file").unwrap();
    fs::create_dir_all(d.join("z")).unwrap();
    fs::write(d.join("z/keep"), b"k").unwrap();
    symlink("/etc", d.join("w")).unwrap();
    let tar = LayerBuilder::new()
        .file("x", 0o644, b"now a file")
        .dir("y", 0o755)
        .file("y/in", 0o644, b"in")
        .dir("z", 0o700)
        .dir("w", 0o755)
        .file("w/inside", 0o644, b"w")
        .finish();
    apply(d, &tar, WhiteoutFormat::Naive).unwrap();
    assert_eq!(fs::read(d.join("x")).unwrap(), b"now a file");
    assert_eq!(fs::read(d.join("y/in")).unwrap(), b"in");
    assert_eq!(
        fs::read(d.join("z/keep")).unwrap(),
        b"k",
        "an existing dir is kept for a dir entry"
    );
    assert_eq!(fs::metadata(d.join("z")).unwrap().mode() & 0o7777, 0o700);
    assert!(
        fs::symlink_metadata(d.join("w")).unwrap().is_dir(),
        "symlink replaced by the dir"
    );
    assert_eq!(fs::read(d.join("w/inside")).unwrap(), b"w");
}

#[test]
fn refuses_dotdot() {
    let e = env();
    let tar = LayerBuilder::new()
        .file("ok", 0o644, b"1")
        .file("../x", 0o644, b"evil")
        .finish();
    assert_refused(&e, &tar, "../x", WhiteoutFormat::Naive);
    let tar = LayerBuilder::new()
        .file("a/../../outside/secret", 0o644, b"evil")
        .finish();
    assert_refused(&e, &tar, "a/../../outside/secret", WhiteoutFormat::Naive);
    let tar = LayerBuilder::new().dir("../outside/newdir", 0o755).finish();
    assert_refused(&e, &tar, "../outside/newdir", WhiteoutFormat::Overlay);
    let tar = LayerBuilder::new().char_dev("../dev", 0o666, 1, 3).finish();
    assert_refused(&e, &tar, "../dev", WhiteoutFormat::Naive);
}

#[test]
fn absolute_names_are_taken_relative_to_the_root() {
    let e = env();
    let target = e.outside.join("secret");
    let name = target.to_str().unwrap().to_string();
    let tar = LayerBuilder::new().file(&name, 0o644, b"inside").finish();
    apply(&e.dest, &tar, WhiteoutFormat::Naive).unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"host data");
    let inside = e.dest.join(name.trim_start_matches('/'));
    assert_eq!(fs::read(inside).unwrap(), b"inside");
}

#[test]
fn refuses_writing_through_a_symlink_from_the_same_layer() {
    let e = env();
    let out = e.outside.to_str().unwrap().to_string();
    for fmt in [WhiteoutFormat::Naive, WhiteoutFormat::Overlay] {
        let tar = LayerBuilder::new()
            .symlink("a", &out)
            .file("a/secret", 0o644, b"evil")
            .finish();
        assert_refused(&e, &tar, "a/secret", fmt);
        let tar = LayerBuilder::new()
            .symlink("rel", "../outside")
            .file("rel/new", 0o644, b"evil")
            .finish();
        assert_refused(&e, &tar, "rel/new", fmt);
        let tar = LayerBuilder::new()
            .dir("d", 0o755)
            .symlink("d/up", "../..")
            .dir("d/up/outside/sub", 0o755)
            .finish();
        assert_refused(&e, &tar, "d/up/outside/sub", fmt);
        // Also for hardlink targets.
        let tar = LayerBuilder::new()
            .symlink("s", &out)
            .hardlink("h", "s/secret")
            .finish();
        assert_refused(&e, &tar, "h", fmt);
        fs::remove_dir_all(&e.dest).unwrap();
        fs::create_dir(&e.dest).unwrap();
    }
    // Whiteouts through such a symlink are refused too.
    let tar = LayerBuilder::new()
        .symlink("s", &out)
        .whiteout("s/secret")
        .finish();
    assert_refused(&e, &tar, "s/.wh.secret", WhiteoutFormat::Naive);
    assert!(e.outside.join("secret").exists());
}

#[test]
fn lower_layer_symlinks_resolve_inside_the_root() {
    // In a naive snapshot the lower layers are on disk; a parent symlink
    // from them is followed as Docker's chroot'ed unpack follows it, but
    // re-rooted, so an absolute target names a path inside dest.
    let e = env();
    fs::create_dir(e.dest.join("etc")).unwrap();
    symlink("/etc", e.dest.join("lower")).unwrap();
    let host_before = fs::read("/etc/passwd").ok();
    let tar = LayerBuilder::new()
        .file("lower/passwd", 0o644, b"container")
        .finish();
    apply(&e.dest, &tar, WhiteoutFormat::Naive).unwrap();
    assert_eq!(fs::read(e.dest.join("etc/passwd")).unwrap(), b"container");
    assert_eq!(fs::read("/etc/passwd").ok(), host_before);
}

#[test]
fn refuses_hardlinks_out_of_the_root() {
    let e = env();
    let tar = LayerBuilder::new()
        .hardlink("h", "../outside/secret")
        .finish();
    assert_refused(&e, &tar, "h", WhiteoutFormat::Naive);
    // An absolute host path names a path inside dest, which does not exist.
    let abs = e.outside.join("secret").to_str().unwrap().to_string();
    let tar = LayerBuilder::new().hardlink("h2", &abs).finish();
    assert_refused(&e, &tar, "h2", WhiteoutFormat::Naive);
    assert_eq!(fs::metadata(e.outside.join("secret")).unwrap().nlink(), 1);
    // A missing target inside is an error, not a silent skip.
    let tar = LayerBuilder::new().hardlink("h3", "nope").finish();
    assert_refused(&e, &tar, "h3", WhiteoutFormat::Naive);
    // A hardlink to a file already on disk works.
    fs::write(e.dest.join("lowerfile"), b"l").unwrap();
    let tar = LayerBuilder::new().hardlink("h4", "lowerfile").finish();
    apply(&e.dest, &tar, WhiteoutFormat::Naive).unwrap();
    assert_eq!(fs::metadata(e.dest.join("h4")).unwrap().nlink(), 2);
}

#[test]
fn refuses_escaping_whiteouts() {
    let e = env();
    for fmt in [WhiteoutFormat::Naive, WhiteoutFormat::Overlay] {
        let tar = LayerBuilder::new()
            .file("../.wh.secret", 0o644, b"")
            .finish();
        assert_refused(&e, &tar, "../.wh.secret", fmt);
        let tar = LayerBuilder::new()
            .file("d/../../.wh.outside", 0o644, b"")
            .finish();
        assert_refused(&e, &tar, "d/../../.wh.outside", fmt);
        let tar = LayerBuilder::new().file("d/.wh..", 0o644, b"").finish();
        assert_refused(&e, &tar, "d/.wh..", fmt);
        let tar = LayerBuilder::new().file(".wh.", 0o644, b"").finish();
        assert_refused(&e, &tar, ".wh.", fmt);
    }
    assert!(e.outside.join("secret").exists());
}

#[test]
fn truncated_streams_are_errors() {
    let e = env();
    let data = vec![7u8; 10_000];
    let tar = LayerBuilder::new()
        .file("a", 0o644, b"x")
        .file("big", 0o644, &data)
        .finish();
    // Cut inside the second header, inside its data, and right after it.
    for cut in [1024 + 100, 1024 + 512 + 3000, 1024 + 512 + 9999] {
        let dest = e.top.join(format!("t{cut}"));
        fs::create_dir(&dest).unwrap();
        let err = apply(&dest, &tar[..cut], WhiteoutFormat::Naive).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "cut {cut}: {err}");
    }
    // Garbage is not a tar stream.
    let err = apply(&e.dest, &[0x55u8; 2048], WhiteoutFormat::Naive).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[test]
fn gzip_bomb_stops_at_max_bytes() {
    use std::io::Write as _;
    let e = env();
    let zeros = vec![0u8; 32 << 20];
    let tar = LayerBuilder::new().file("bomb", 0o644, &zeros).finish();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    assert!(gz.len() < 200_000, "test bomb is not compact: {}", gz.len());
    drop((zeros, tar));
    let (comp, r) = crate::decompress::sniff(Cursor::new(gz)).unwrap();
    assert_eq!(comp, crate::decompress::Compression::Gzip);
    let opts = ApplyOptions {
        whiteouts: WhiteoutFormat::Naive,
        max_bytes: Some(1 << 20),
    };
    let before = tree(&e.outside);
    let err = apply_layer(&e.dest, r, &opts).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("limit"), "{err}");
    assert!(err.to_string().contains("bomb"), "{err}");
    assert_eq!(tree(&e.outside), before);
    // Refused from the header size, before writing anything.
    assert!(fs::symlink_metadata(e.dest.join("bomb")).is_err());
}

#[test]
fn max_bytes_counts_actual_data() {
    let e = env();
    let tar = LayerBuilder::new()
        .file("a", 0o644, &[1u8; 600])
        .file("b", 0o644, &[2u8; 600])
        .finish();
    let opts = ApplyOptions {
        whiteouts: WhiteoutFormat::Naive,
        max_bytes: Some(1000),
    };
    let err = apply_layer(&e.dest, Cursor::new(&tar), &opts).unwrap_err();
    assert!(err.to_string().contains("\"b\""), "{err}");
    let opts = ApplyOptions {
        whiteouts: WhiteoutFormat::Naive,
        max_bytes: Some(1200),
    };
    let dest2 = e.top.join("d2");
    fs::create_dir(&dest2).unwrap();
    assert_eq!(
        apply_layer(&dest2, Cursor::new(&tar), &opts).unwrap().bytes,
        1200
    );
}

#[test]
fn reads_the_stream_to_its_end() {
    struct Counting<R> {
        inner: R,
        n: usize,
    }
    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let k = self.inner.read(buf)?;
            self.n += k;
            Ok(k)
        }
    }
    let e = env();
    let mut tar = LayerBuilder::new().file("a", 0o644, b"1").finish();
    tar.extend(vec![0u8; 10_240]);
    let mut c = Counting {
        inner: Cursor::new(&tar),
        n: 0,
    };
    apply_layer(&e.dest, &mut c, &ApplyOptions::new(WhiteoutFormat::Naive)).unwrap();
    assert_eq!(c.n, tar.len());
}

fn lower_tree(dest: &Path) {
    fs::write(dest.join("gone"), b"g").unwrap();
    fs::write(dest.join("keepme"), b"k").unwrap();
    fs::create_dir_all(dest.join("d/olddir")).unwrap();
    fs::write(dest.join("d/old1"), b"o").unwrap();
    fs::write(dest.join("d/olddir/x"), b"x").unwrap();
    fs::create_dir_all(dest.join("e/sub")).unwrap();
    fs::write(dest.join("e/f"), b"f").unwrap();
    fs::create_dir_all(dest.join("gonedir/deep/er")).unwrap();
    fs::write(dest.join("gonedir/deep/er/file"), b"z").unwrap();
}

fn whiteout_layer() -> Vec<u8> {
    LayerBuilder::new()
        .dir("d", 0o755)
        .file("d/new", 0o644, b"n")
        .dir("d/olddir", 0o755)
        .file("d/olddir/fresh", 0o644, b"fresh")
        .opaque("d")
        .file("d/new2", 0o644, b"n2")
        .whiteout("gone")
        .whiteout("gonedir")
        .whiteout("e/f")
        .whiteout("missing")
        .whiteout("nodir/missing")
        .finish()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn naive_whiteouts_and_opaque_dirs() {
    let e = env();
    lower_tree(&e.dest);
    apply(&e.dest, &whiteout_layer(), WhiteoutFormat::Naive).unwrap();
    let d = &e.dest;
    assert_eq!(names(d), ["d", "e", "keepme"]);
    // Opaque: lower children gone, this layer's (before and after the
    // marker) kept, including inside a lower dir this layer wrote into.
    assert_eq!(names(&d.join("d")), ["new", "new2", "olddir"]);
    assert_eq!(names(&d.join("d/olddir")), ["fresh"]);
    assert_eq!(names(&d.join("e")), ["sub"]);
    assert!(
        !d.join("nodir").exists(),
        "a whiteout in a missing dir creates nothing"
    );
}

#[test]
fn overlay_whiteouts_and_opaque_dirs() {
    if !require_root("overlay_whiteouts_and_opaque_dirs") {
        return;
    }
    let e = env();
    apply(&e.dest, &whiteout_layer(), WhiteoutFormat::Overlay).unwrap();
    let d = &e.dest;
    for w in ["gone", "gonedir", "e/f", "missing", "nodir/missing"] {
        let m = fs::symlink_metadata(d.join(w)).unwrap();
        assert!(m.file_type().is_char_device(), "{w}");
        assert_eq!(m.rdev(), 0, "{w}");
    }
    let mut buf = [0u8; 4];
    let n = rfs::getxattr(d.join("d"), OVERLAY_OPAQUE_XATTR, &mut buf[..]).unwrap();
    assert_eq!(&buf[..n], b"y");
    assert_eq!(names(&d.join("d")), ["new", "new2", "olddir"]);
    assert!(rfs::getxattr(d.join("e"), OVERLAY_OPAQUE_XATTR, &mut buf[..]).is_err());
}

#[test]
fn aufs_metadata_is_skipped() {
    let e = env();
    let tar = LayerBuilder::new()
        .dir(".wh..wh.plnk", 0o700)
        .file(".wh..wh.plnk/123.456", 0o644, b"x")
        .file(".wh..wh.aufs", 0o644, b"")
        .file("real", 0o644, b"r")
        .finish();
    apply(&e.dest, &tar, WhiteoutFormat::Naive).unwrap();
    assert_eq!(names(&e.dest), ["real"]);
}

#[test]
fn parent_that_is_a_file_is_an_error() {
    let e = env();
    let tar = LayerBuilder::new()
        .file("f", 0o644, b"1")
        .file("f/child", 0o644, b"2")
        .finish();
    let err = apply(&e.dest, &tar, WhiteoutFormat::Naive).unwrap_err();
    assert!(err.to_string().contains("f/child"), "{err}");
}
