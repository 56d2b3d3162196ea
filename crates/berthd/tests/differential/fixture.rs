//! Fixture trees: the image both daemons import (busybox plus `/fx`, a
//! tree of every kind of entry, and `/dst`, one identical landing area per
//! copy-in case), and the host source tree copied into containers. Every
//! entry gets a fixed mtime (far in the past, so trees print it).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rustix::fs::{AtFlags, CWD, FileType, Mode, Timestamps, XattrFlags};

pub const IMAGE: &str = "berth-fx:latest";

/// Landing areas under /dst in the image, one per copy-in case.
pub const AREAS: usize = 40;

/// The id of the n-th landing area (`a01`…).
pub fn area(n: usize) -> String {
    assert!((1..=AREAS).contains(&n));
    format!("a{n:02}")
}

/// The fixture image: the project's busybox tarball with /fx and /dst
/// appended (GNU tar, numeric owners, user xattrs).
pub fn build_image_tar(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    make_fx(&tree.join("fx"));
    for n in 1..=AREAS {
        let id = area(n);
        make_area(&tree.join("dst").join(&id), &format!("/dst/{id}"));
    }
    fix_times(&tree.join("fx"), 1_000_000_000);
    fix_times(&tree.join("dst"), 1_000_500_000);
    let tar = dir.join("fx.tar");
    std::fs::copy(crate::common::busybox_tar(), &tar).unwrap();
    let st = Command::new("tar")
        .args([
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=user.*",
            "-rf",
        ])
        .arg(&tar)
        .arg("-C")
        .arg(&tree)
        .args(["./fx", "./dst"])
        .status()
        .unwrap();
    assert!(st.success(), "building the fixture image tarball failed");
    tar
}

pub fn write(p: &Path, content: &[u8], mode: u32) {
    std::fs::write(p, content).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn mkdir(p: &Path, mode: u32) {
    std::fs::create_dir_all(p).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn symlink(target: &str, p: &Path) {
    std::os::unix::fs::symlink(target, p).unwrap();
}

pub fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
}

pub fn fifo(p: &Path, mode: u32) {
    rustix::fs::mknodat(CWD, p, FileType::Fifo, Mode::from_raw_mode(mode), 0).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Deterministic bytes.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

pub const LONG_NAME: &str = "a-name-longer-than-one-hundred-bytes-so-that-ustar-cannot-hold-it-and-pax-or-gnu-long-names-are-needed.txt";

/// `/fx` in the image: every kind of entry the docker cp rules care about.
fn make_fx(fx: &Path) {
    mkdir(fx, 0o755);
    write(&fx.join("file.txt"), b"hello fixture\n", 0o644);
    write(&fx.join("exec.sh"), b"#!/bin/sh\necho hi\n", 0o755);
    write(&fx.join("setuid"), b"suid\n", 0o4755);
    write(&fx.join("owned.txt"), b"owned\n", 0o640);
    chown(&fx.join("owned.txt"), 1234, 5678);
    write(&fx.join("space name.txt"), b"space\n", 0o644);
    write(&fx.join("big.bin"), &pseudo_random(300 * 1024, 7), 0o644);
    write(&fx.join("xattr.txt"), b"xattr\n", 0o644);
    rustix::fs::lsetxattr(
        fx.join("xattr.txt"),
        "user.berth",
        b"fixture",
        XattrFlags::empty(),
    )
    .unwrap();
    mkdir(&fx.join("dir"), 0o750);
    write(&fx.join("dir/a"), b"a\n", 0o600);
    write(&fx.join("dir/.hidden"), b"hidden\n", 0o644);
    mkdir(&fx.join("dir/sub"), 0o755);
    write(&fx.join("dir/sub/b"), b"b\n", 0o644);
    mkdir(&fx.join("dir/sub/deep"), 0o700);
    mkdir(&fx.join("emptydir"), 0o700);
    mkdir(&fx.join("sticky"), 0o1777);
    write(&fx.join("hard1"), b"hard\n", 0o644);
    std::fs::hard_link(fx.join("hard1"), fx.join("dir/hard2")).unwrap();
    symlink("file.txt", &fx.join("link-file"));
    symlink("dir", &fx.join("link-dir"));
    symlink("link-dir", &fx.join("link-chain"));
    symlink("/fx/dir", &fx.join("abs-link-dir"));
    symlink("/fx/file.txt", &fx.join("abs-link-file"));
    symlink("/nonexistent", &fx.join("dangling"));
    // Relative, climbing far above the root: clamped at the container
    // root, it is the container's /etc.
    symlink("../../../../../../etc", &fx.join("escape"));
    fifo(&fx.join("fifo"), 0o640);
    rustix::fs::mknodat(
        CWD,
        fx.join("devnull"),
        FileType::CharacterDevice,
        Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .unwrap();
    mkdir(&fx.join("long"), 0o755);
    write(&fx.join("long").join(LONG_NAME), b"long\n", 0o644);
}

/// A landing area for one copy-in case: an existing file, an existing
/// directory, and symlinks (relative and absolute) to both.
fn make_area(a: &Path, abs: &str) {
    mkdir(a, 0o755);
    write(&a.join("f"), b"old\n", 0o600);
    mkdir(&a.join("d"), 0o700);
    write(&a.join("d/old"), b"old\n", 0o644);
    symlink("d", &a.join("ln-dir"));
    symlink(&format!("{abs}/d"), &a.join("abs-ln-dir"));
    symlink("f", &a.join("ln-file"));
}

/// The host tree copied into containers (under `root`, i.e. `src/`).
pub fn make_host_src(root: &Path) {
    mkdir(root, 0o755);
    write(&root.join("file.txt"), b"hello from the host\n", 0o640);
    chown(&root.join("file.txt"), 1234, 5678);
    write(&root.join("exec.sh"), b"#!/bin/sh\necho host\n", 0o755);
    write(&root.join("setuid"), b"suid\n", 0o4711);
    mkdir(&root.join("dir"), 0o751);
    chown(&root.join("dir"), 1234, 5678);
    write(&root.join("dir/a"), b"host a\n", 0o600);
    write(&root.join("dir/.hidden"), b"host hidden\n", 0o644);
    mkdir(&root.join("dir/sub"), 0o705);
    write(&root.join("dir/sub/b"), b"host b\n", 0o644);
    mkdir(&root.join("dir/empty"), 0o700);
    symlink("a", &root.join("dir/ln"));
    symlink("file.txt", &root.join("link-file"));
    symlink("dir", &root.join("link-dir"));
    symlink("/etc/passwd", &root.join("abs-link"));
    symlink("nowhere", &root.join("dangling"));
    mkdir(&root.join("hl"), 0o755);
    write(&root.join("hl/one"), b"linked\n", 0o644);
    std::fs::hard_link(root.join("hl/one"), root.join("hl/two")).unwrap();
    fifo(&root.join("fifo"), 0o600);
    mkdir(&root.join("conf/f"), 0o755);
    write(&root.join("conf/f/inner"), b"inner\n", 0o644);
    write(&root.join("conf/d"), b"a file named d\n", 0o644);
    mkdir(&root.join("long"), 0o755);
    write(&root.join("long").join(LONG_NAME), b"long\n", 0o644);
    write(&root.join("big.bin"), &pseudo_random(200 * 1024, 11), 0o644);
    fix_times(root, 1_100_000_000);
}

/// Sets every mtime under `root` (root included) to `base` + its index in
/// path order, children before parents, symlinks themselves.
pub fn fix_times(root: &Path, base: i64) {
    let mut all = Vec::new();
    collect(root, &mut all);
    all.sort();
    for (i, p) in all.iter().enumerate().rev() {
        let t = rustix::fs::Timespec {
            tv_sec: base + i as i64,
            tv_nsec: 0,
        };
        rustix::fs::utimensat(
            CWD,
            p,
            &Timestamps {
                last_access: t,
                last_modification: t,
            },
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
    }
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) {
    out.push(p.to_path_buf());
    let md = std::fs::symlink_metadata(p).unwrap();
    if md.is_dir() {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            collect(&e.path(), out);
        }
    }
}

/// A tar of `names` under `dir`, made by the host's GNU tar (numeric
/// owners), optionally compressed by `compress` (gzip, xz, zstd, bzip2).
pub fn host_tar(dir: &Path, names: &[&str], compress: Option<&str>) -> Vec<u8> {
    let out = Command::new("tar")
        .args(["--numeric-owner", "-cf", "-", "-C"])
        .arg(dir)
        .args(names)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    match compress {
        None => out.stdout,
        Some(tool) => {
            use std::io::Write;
            let mut c = Command::new(tool)
                .arg("-c")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = c.stdin.take().unwrap();
            let data = out.stdout;
            let w = std::thread::spawn(move || stdin.write_all(&data));
            let o = c.wait_with_output().unwrap();
            w.join().unwrap().unwrap();
            assert!(o.status.success(), "{tool} failed");
            o.stdout
        }
    }
}
