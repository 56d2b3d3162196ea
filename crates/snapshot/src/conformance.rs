//! The behaviour every [`Snapshotter`] must have, as a suite each
//! implementation runs from its own tests (after containerd's
//! `snapshots/testsuite`). Cases that mount need root; without it they say
//! why they skip, unless `BERTH_REQUIRE_ROOT_TESTS=1` makes that a failure.
//!
//! The suite assumes the shared layout (`<root>/snapshots/<id>/...`) only in
//! the crash-recovery case.

use std::collections::BTreeMap;
use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use berth_archive::testutil::{LayerBuilder, require_root};
use berth_archive::{ApplyOptions, apply_layer};

use crate::{ErrorKind, Kind, Mount, Snapshotter, mount_all, unmount};

type Make<'a> = &'a dyn Fn(&Path) -> Box<dyn Snapshotter>;
type Case = fn(Make<'_>, &Path);

const CASES: &[(&str, Case)] = &[
    ("prepare_commit_chain", prepare_commit_chain),
    ("conflicts_and_not_found", conflicts_and_not_found),
    (
        "remove_refuses_parents_with_children",
        remove_refuses_parents_with_children,
    ),
    ("labels_and_created", labels_and_created),
    ("usage_counts_own_data", usage_counts_own_data),
    ("writable_dir_only_for_active", writable_dir_only_for_active),
    ("reopen_sees_same_state", reopen_sees_same_state),
    (
        "half_made_snapshots_are_cleaned",
        half_made_snapshots_are_cleaned,
    ),
    ("concurrent_prepares", concurrent_prepares),
    (
        "mounts_show_parent_with_child_writes",
        mounts_show_parent_with_child_writes,
    ),
    ("whiteouts_hide_lower_files", whiteouts_hide_lower_files),
    ("parentless_mounts", parentless_mounts),
];

/// Runs every case, each in a fresh root, against snapshotters made by
/// `make`. Panics on the first failure.
pub fn run_all(make: &dyn Fn(&Path) -> Box<dyn Snapshotter>) {
    for (name, case) in CASES {
        eprintln!("snapshot conformance: {name}");
        let td = Scratch::new(name);
        case(make, &td.0);
    }
}

/// A scratch directory removed on drop (without a tempfile dependency in
/// this non-test module).
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!(
            "berth-snapshot-{name}-{:016x}",
            crate::core::rand_u64()
        ));
        fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = berth_archive::fsutil::remove_all(&self.0);
    }
}

/// Mounted for as long as it lives.
struct Mounted(PathBuf);

impl Mounted {
    fn new(mounts: &[Mount], target: &Path) -> Mounted {
        fs::create_dir_all(target).unwrap();
        mount_all(mounts, target).unwrap_or_else(|e| panic!("mount {mounts:?}: {e}"));
        Mounted(target.to_path_buf())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Err(e) = unmount(&self.0) {
            eprintln!("unmount {}: {e}", self.0.display());
        }
    }
}

fn no_labels() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn write(dir: &Path, rel: &str, data: &str) {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(p, data).unwrap();
}

fn read(dir: &Path, rel: &str) -> Option<String> {
    fs::read_to_string(dir.join(rel)).ok()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// A committed snapshot `name` holding `files`, on `parent`.
fn layer(s: &dyn Snapshotter, name: &str, parent: Option<&str>, files: &[(&str, &str)]) {
    let key = format!("extract-{name}");
    s.prepare(&key, parent, no_labels()).unwrap();
    let w = s.writable_dir(&key).unwrap();
    for (rel, data) in files {
        write(&w, rel, data);
    }
    s.commit(name, &key, no_labels()).unwrap();
}

fn kind_of(r: crate::Result<impl Sized>) -> ErrorKind {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.kind(),
    }
}

fn prepare_commit_chain(make: Make<'_>, root: &Path) {
    let s = make(root);
    s.prepare("a", None, no_labels()).unwrap();
    write(&s.writable_dir("a").unwrap(), "base.txt", "base");
    s.commit("l1", "a", no_labels()).unwrap();
    assert_eq!(
        kind_of(s.stat("a")),
        ErrorKind::NotFound,
        "key must be gone after commit"
    );
    let i = s.stat("l1").unwrap();
    assert_eq!(
        (i.kind, i.parent.clone(), i.name.as_str()),
        (Kind::Committed, None, "l1")
    );
    layer(&*s, "l2", Some("l1"), &[("b.txt", "b")]);
    s.prepare("c", Some("l2"), no_labels()).unwrap();
    let c = s.stat("c").unwrap();
    assert_eq!((c.kind, c.parent.as_deref()), (Kind::Active, Some("l2")));
    let dirs = s.parent_dirs("c").unwrap();
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    assert_eq!(
        read(&dirs[0], "b.txt").as_deref(),
        Some("b"),
        "nearest parent first"
    );
    assert_eq!(read(&dirs[1], "base.txt").as_deref(), Some("base"));
    assert!(s.parent_dirs("l1").unwrap().is_empty());
    let mut listed: Vec<(String, Kind)> = s
        .list()
        .unwrap()
        .into_iter()
        .map(|i| (i.name, i.kind))
        .collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        listed,
        vec![
            ("c".into(), Kind::Active),
            ("l1".into(), Kind::Committed),
            ("l2".into(), Kind::Committed)
        ]
    );
    assert_eq!(kind_of(s.mounts("l1")), ErrorKind::InvalidArgument);
    assert!(!s.mounts("c").unwrap().is_empty());
}

fn conflicts_and_not_found(make: Make<'_>, root: &Path) {
    let s = make(root);
    s.prepare("k", None, no_labels()).unwrap();
    assert_eq!(
        kind_of(s.prepare("k", None, no_labels())),
        ErrorKind::Conflict
    );
    assert_eq!(kind_of(s.view("k", None, no_labels())), ErrorKind::Conflict);
    assert_eq!(
        kind_of(s.prepare("x", Some("missing"), no_labels())),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind_of(s.prepare("y", Some("k"), no_labels())),
        ErrorKind::NotFound,
        "active parent"
    );
    assert_eq!(
        kind_of(s.prepare("", None, no_labels())),
        ErrorKind::InvalidArgument
    );
    s.commit("n", "k", no_labels()).unwrap();
    assert_eq!(
        kind_of(s.commit("n2", "nope", no_labels())),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind_of(s.prepare("n", None, no_labels())),
        ErrorKind::Conflict,
        "keys and names share one namespace"
    );
    s.prepare("k2", Some("n"), no_labels()).unwrap();
    assert_eq!(
        kind_of(s.commit("n", "k2", no_labels())),
        ErrorKind::Conflict
    );
    assert_eq!(
        kind_of(s.commit("k2", "k2", no_labels())),
        ErrorKind::Conflict
    );
    s.view("v", Some("n"), no_labels()).unwrap();
    assert_eq!(
        kind_of(s.commit("n3", "v", no_labels())),
        ErrorKind::InvalidArgument,
        "views cannot be committed"
    );
    assert_eq!(
        kind_of(s.commit("n4", "n", no_labels())),
        ErrorKind::InvalidArgument,
        "committed cannot be committed"
    );
    // Failed calls changed nothing.
    let mut names: Vec<String> = s.list().unwrap().into_iter().map(|i| i.name).collect();
    names.sort();
    assert_eq!(names, ["k2", "n", "v"]);
    assert_eq!(kind_of(s.stat("nope")), ErrorKind::NotFound);
    assert_eq!(kind_of(s.mounts("nope")), ErrorKind::NotFound);
    assert_eq!(kind_of(s.remove("nope")), ErrorKind::NotFound);
    assert_eq!(kind_of(s.usage("nope")), ErrorKind::NotFound);
}

fn remove_refuses_parents_with_children(make: Make<'_>, root: &Path) {
    let s = make(root);
    layer(&*s, "l1", None, &[("f", "1")]);
    layer(&*s, "l2", Some("l1"), &[("g", "2")]);
    s.prepare("c", Some("l2"), no_labels()).unwrap();
    s.view("v", Some("l1"), no_labels()).unwrap();
    assert_eq!(kind_of(s.remove("l2")), ErrorKind::Conflict);
    assert_eq!(kind_of(s.remove("l1")), ErrorKind::Conflict);
    s.remove("c").unwrap();
    assert_eq!(
        kind_of(s.remove("l1")),
        ErrorKind::Conflict,
        "l2 and the view still depend on it"
    );
    s.remove("l2").unwrap();
    assert_eq!(
        kind_of(s.remove("l1")),
        ErrorKind::Conflict,
        "the view still depends on it"
    );
    s.remove("v").unwrap();
    s.prepare("probe", Some("l1"), no_labels()).unwrap();
    let dir = s.parent_dirs("probe").unwrap()[0].clone();
    s.remove("probe").unwrap();
    s.remove("l1").unwrap();
    assert!(!dir.exists(), "removed snapshot's directory is gone");
    assert_eq!(kind_of(s.remove("l1")), ErrorKind::NotFound);
    assert!(s.list().unwrap().is_empty());
}

fn labels_and_created(make: Make<'_>, root: &Path) {
    let s = make(root);
    let before = chrono::Utc::now() - chrono::Duration::seconds(2);
    let mut labels = BTreeMap::new();
    labels.insert("berth.test/a".to_string(), "1".to_string());
    s.prepare("k", None, labels.clone()).unwrap();
    let i = s.stat("k").unwrap();
    assert_eq!(i.labels, labels);
    assert!(i.created >= before && i.created <= chrono::Utc::now());
    let mut committed = BTreeMap::new();
    committed.insert("berth.test/b".to_string(), "2".to_string());
    s.commit("n", "k", committed.clone()).unwrap();
    assert_eq!(s.stat("n").unwrap().labels, committed);
}

fn usage_counts_own_data(make: Make<'_>, root: &Path) {
    let s = make(root);
    layer(&*s, "l1", None, &[("big", &"x".repeat(100_000))]);
    s.prepare("k", Some("l1"), no_labels()).unwrap();
    let before = s.usage("k").unwrap();
    write(&s.writable_dir("k").unwrap(), "own", &"y".repeat(10_000));
    let after = s.usage("k").unwrap();
    assert_eq!(
        after - before,
        10_000,
        "usage grows by exactly the new file"
    );
    let l1 = s.usage("l1").unwrap();
    assert!((100_000..100_000 + 4096).contains(&l1), "l1 usage {l1}");
    s.commit("l2", "k", no_labels()).unwrap();
    assert_eq!(s.usage("l2").unwrap(), after);
}

fn writable_dir_only_for_active(make: Make<'_>, root: &Path) {
    let s = make(root);
    layer(&*s, "l1", None, &[("f", "1")]);
    s.view("v", Some("l1"), no_labels()).unwrap();
    assert_eq!(kind_of(s.writable_dir("v")), ErrorKind::InvalidArgument);
    assert_eq!(kind_of(s.writable_dir("l1")), ErrorKind::InvalidArgument);
    s.prepare("a", Some("l1"), no_labels()).unwrap();
    assert!(s.writable_dir("a").unwrap().is_dir());
}

fn reopen_sees_same_state(make: Make<'_>, root: &Path) {
    let (list1, mounts1) = {
        let s = make(root);
        layer(&*s, "l1", None, &[("f", "1")]);
        let mut labels = BTreeMap::new();
        labels.insert("x".to_string(), "y".to_string());
        s.prepare("c", Some("l1"), labels).unwrap();
        write(&s.writable_dir("c").unwrap(), "mine", "m");
        s.view("v", Some("l1"), no_labels()).unwrap();
        let mut l = s.list().unwrap();
        l.sort_by(|a, b| a.name.cmp(&b.name));
        (l, (s.mounts("c").unwrap(), s.mounts("v").unwrap()))
    };
    let s = make(root);
    let mut list2 = s.list().unwrap();
    list2.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(list1, list2);
    assert_eq!(mounts1, (s.mounts("c").unwrap(), s.mounts("v").unwrap()));
    assert_eq!(
        read(&s.writable_dir("c").unwrap(), "mine").as_deref(),
        Some("m")
    );
    // New snapshots after reopen get fresh directories.
    s.prepare("d", Some("l1"), no_labels()).unwrap();
    assert_eq!(read(&s.writable_dir("d").unwrap(), "mine"), None);
    assert_eq!(
        kind_of(s.prepare("c", None, no_labels())),
        ErrorKind::Conflict
    );
}

fn half_made_snapshots_are_cleaned(make: Make<'_>, root: &Path) {
    {
        let s = make(root);
        layer(&*s, "l1", None, &[("f", "1")]);
    }
    // What a SIGKILL mid-prepare leaves: directories no metadata names,
    // under the temporary name or already under the next free id.
    let snaps = root.join("snapshots");
    let leftovers = ["new-0123456789abcdef", "2", "3", "rm-7", "99"];
    for d in leftovers {
        write(&snaps.join(d), "fs/junk", "junk");
    }
    let s = make(root);
    for d in leftovers {
        assert!(!snaps.join(d).exists(), "{d} survived reopen");
    }
    assert_eq!(s.list().unwrap().len(), 1);
    s.prepare("k", Some("l1"), no_labels()).unwrap();
    assert_eq!(
        read(&s.parent_dirs("k").unwrap()[0], "f").as_deref(),
        Some("1")
    );
    assert_eq!(read(&s.writable_dir("k").unwrap(), "junk"), None);
    s.prepare("k2", None, no_labels()).unwrap();
    assert!(names(&s.writable_dir("k2").unwrap()).is_empty());
}

fn concurrent_prepares(make: Make<'_>, root: &Path) {
    let s = make(root);
    layer(&*s, "l1", None, &[("f", "1")]);
    let s = &*s;
    std::thread::scope(|scope| {
        for t in 0..4 {
            scope.spawn(move || {
                for i in 0..8 {
                    let key = format!("t{t}-{i}");
                    s.prepare(&key, Some("l1"), no_labels()).unwrap();
                    write(&s.writable_dir(&key).unwrap(), "who", &key);
                    if i % 2 == 0 {
                        s.commit(&format!("c-{key}"), &key, no_labels()).unwrap();
                    }
                }
                // Racing for one key: exactly one wins.
                let _ = s.prepare("contested", None, no_labels());
            });
        }
    });
    let all = s.list().unwrap();
    assert_eq!(all.len(), 1 + 32 + 1);
    for i in &all {
        if i.name.starts_with('t') {
            assert_eq!(
                read(&s.writable_dir(&i.name).unwrap(), "who").as_deref(),
                Some(i.name.as_str())
            );
        }
    }
    let mut dirs: Vec<PathBuf> = all
        .iter()
        .filter(|i| i.kind == Kind::Active)
        .map(|i| s.writable_dir(&i.name).unwrap())
        .collect();
    dirs.sort();
    dirs.dedup();
    assert_eq!(dirs.len(), 16 + 1, "every snapshot has its own directory");
}

fn mounts_show_parent_with_child_writes(make: Make<'_>, root: &Path) {
    if !require_root("conformance mounts_show_parent_with_child_writes") {
        return;
    }
    let s = make(root);
    layer(&*s, "l1", None, &[("a", "1"), ("d/x", "x")]);
    layer(&*s, "l2", Some("l1"), &[("b", "2")]);
    let m = s.prepare("c", Some("l2"), no_labels()).unwrap();
    let target = root.join("mnt");
    {
        let _g = Mounted::new(&m, &target);
        assert_eq!(read(&target, "a").as_deref(), Some("1"));
        assert_eq!(read(&target, "b").as_deref(), Some("2"));
        assert_eq!(read(&target, "d/x").as_deref(), Some("x"));
        write(&target, "a", "changed");
        write(&target, "new", "n");
        fs::remove_file(target.join("d/x")).unwrap();
    }
    let l1_dir = s.parent_dirs("c").unwrap()[1].clone();
    assert_eq!(
        read(&l1_dir, "a").as_deref(),
        Some("1"),
        "parent must not change"
    );
    assert_eq!(
        read(&l1_dir, "d/x").as_deref(),
        Some("x"),
        "parent must not change"
    );
    let m2 = s.mounts("c").unwrap();
    {
        let _g = Mounted::new(&m2, &target);
        assert_eq!(read(&target, "a").as_deref(), Some("changed"));
        assert_eq!(read(&target, "new").as_deref(), Some("n"));
        assert!(!target.join("d/x").exists());
    }
    // A view is read-only and shows the committed content.
    for (key, parent) in [("v1", "l1"), ("v2", "l2")] {
        let vm = s.view(key, Some(parent), no_labels()).unwrap();
        let _g = Mounted::new(&vm, &target);
        assert_eq!(read(&target, "a").as_deref(), Some("1"));
        let err = fs::write(target.join("w"), "w").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{key}: {err}");
    }
}

fn whiteouts_hide_lower_files(make: Make<'_>, root: &Path) {
    if !require_root("conformance whiteouts_hide_lower_files") {
        return;
    }
    let s = make(root);
    let opts = ApplyOptions::new(s.whiteout_format());
    let base = LayerBuilder::new()
        .file("keep", 0o644, b"k")
        .file("gone", 0o644, b"g")
        .dir("d", 0o755)
        .file("d/old", 0o644, b"o")
        .dir("d/olddir", 0o755)
        .file("d/olddir/x", 0o644, b"x")
        .dir("e", 0o755)
        .file("e/f", 0o644, b"f")
        .finish();
    s.prepare("x1", None, no_labels()).unwrap();
    apply_layer(&s.writable_dir("x1").unwrap(), Cursor::new(base), &opts).unwrap();
    s.commit("l1", "x1", no_labels()).unwrap();
    let top = LayerBuilder::new()
        .whiteout("gone")
        .dir("d", 0o755)
        .opaque("d")
        .file("d/new", 0o644, b"n")
        .whiteout("e")
        .finish();
    s.prepare("x2", Some("l1"), no_labels()).unwrap();
    apply_layer(&s.writable_dir("x2").unwrap(), Cursor::new(top), &opts).unwrap();
    s.commit("l2", "x2", no_labels()).unwrap();
    let target = root.join("mnt");
    let check = |m: &[Mount]| {
        let _g = Mounted::new(m, &target);
        assert_eq!(names(&target), ["d", "keep"]);
        assert_eq!(names(&target.join("d")), ["new"]);
    };
    check(&s.prepare("c", Some("l2"), no_labels()).unwrap());
    check(&s.view("v", Some("l2"), no_labels()).unwrap());
}

fn parentless_mounts(make: Make<'_>, root: &Path) {
    if !require_root("conformance parentless_mounts") {
        return;
    }
    let s = make(root);
    let m = s.prepare("a", None, no_labels()).unwrap();
    let target = root.join("mnt");
    {
        let _g = Mounted::new(&m, &target);
        write(&target, "through-mount", "t");
    }
    assert_eq!(
        read(&s.writable_dir("a").unwrap(), "through-mount").as_deref(),
        Some("t")
    );
    let v = s.view("v", None, no_labels()).unwrap();
    let _g = Mounted::new(&v, &target);
    assert!(names(&target).is_empty());
    let err = fs::write(target.join("w"), "w").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));
}
