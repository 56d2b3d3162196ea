use super::*;
use crate::testenv::{Env, envs};
use crate::{DeleteItem, ErrorKind, ImportOptions, InUse, Manifest};
use berth_archive::cp::{Change, changes_naive, changes_overlay};
use berth_archive::testutil::LayerBuilder;
use berth_archive::write_layer;
use berth_snapshot::WhiteoutFormat;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;

fn none(_: &Digest) -> Option<InUse> {
    None
}

fn base_image(s: &ImageStore) -> Image {
    let tar = LayerBuilder::new()
        .file("a", 0o644, b"a")
        .file("b", 0o644, b"b")
        .dir("etc", 0o755)
        .file("etc/x", 0o600, b"x")
        .finish();
    s.import(
        Box::new(Cursor::new(tar)),
        ImportOptions {
            reference: Some(Reference::parse("base:1").unwrap()),
            changes: vec!["CMD [\"sh\"]".into(), "ENV A=1".into()],
            message: String::new(),
            platform: None,
        },
    )
    .unwrap()
}

/// Runs `f` on a container's root filesystem prepared on `top` (mounted
/// for overlay; the naive snapshotter's rw dir is the tree itself).
fn in_container(env: &Env, s: &ImageStore, key: &str, top: Option<&str>, f: impl FnOnce(&Path)) {
    let mounts = s.snapshotter().prepare(key, top, BTreeMap::new()).unwrap();
    if env.overlay {
        let target = env.td.path().join(format!("rootfs-{key}"));
        std::fs::create_dir(&target).unwrap();
        berth_snapshot::mount_all(&mounts, &target).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&target)));
        berth_snapshot::unmount(&target).unwrap();
        if let Err(p) = r {
            std::panic::resume_unwind(p);
        }
    } else {
        f(&s.snapshotter().writable_dir(key).unwrap());
    }
}

/// The container's changes, as the daemon computes them for diff/commit.
fn changes_of(s: &ImageStore, key: &str) -> (PathBuf, Vec<Change>) {
    let sn = s.snapshotter();
    let rw = sn.writable_dir(key).unwrap();
    let lowers = sn.parent_dirs(key).unwrap();
    let changes = match sn.whiteout_format() {
        WhiteoutFormat::Overlay => changes_overlay(&rw, &lowers).unwrap(),
        WhiteoutFormat::Naive => match lowers.first() {
            Some(base) => changes_naive(&rw, base).unwrap(),
            None => {
                let empty = tempfile::tempdir().unwrap();
                changes_naive(&rw, empty.path()).unwrap()
            }
        },
    };
    (rw, changes)
}

/// A pipe made of a bounded channel: the layer is written on another
/// thread while the store reads it, as the daemon streams it.
struct ChanWriter(mpsc::SyncSender<Vec<u8>>);

impl Write for ChanWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .send(buf.to_vec())
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct ChanReader {
    rx: mpsc::Receiver<Vec<u8>>,
    cur: Cursor<Vec<u8>>,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.cur.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            match self.rx.recv() {
                Ok(v) => self.cur = Cursor::new(v),
                Err(_) => return Ok(0),
            }
        }
    }
}

fn streamed_layer(
    rw: PathBuf,
    changes: Vec<Change>,
) -> (
    ChanReader,
    std::thread::JoinHandle<berth_archive::LayerStats>,
) {
    let (tx, rx) = mpsc::sync_channel(4);
    let h = std::thread::spawn(move || write_layer(&rw, &changes, &mut ChanWriter(tx)).unwrap());
    (
        ChanReader {
            rx,
            cur: Cursor::new(Vec::new()),
        },
        h,
    )
}

fn opts(container_config: &RuntimeConfig) -> CommitOptions {
    CommitOptions {
        reference: Some(Reference::parse("mine:v1").unwrap()),
        comment: "msg".into(),
        author: "me <me@example.com>".into(),
        changes: vec!["ENV B=2".into()],
        container_config: container_config.clone(),
        created_by: String::new(),
    }
}

/// The end-to-end path: a container deletes /a, adds /c and changes /b;
/// the committed image shows exactly that to a new container (overlay:
/// the whiteout in the layer is a 0/0 device in the layer snapshot and
/// hides the parent's /a in the mount).
#[test]
fn commit_adds_one_layer_and_deletions_stay_deleted() {
    for env in envs("commit_adds_one_layer_and_deletions_stay_deleted") {
        let s = env.open();
        let base = base_image(&s);
        in_container(&env, &s, "ctr", base.top_layer.as_deref(), |root| {
            std::fs::remove_file(root.join("a")).unwrap();
            std::fs::write(root.join("b"), b"b2").unwrap();
            std::fs::write(root.join("c"), b"c").unwrap();
        });
        let (rw, changes) = changes_of(&s, "ctr");
        let (reader, writer) = streamed_layer(rw, changes);
        let img = s
            .commit(Some(&base.id), reader, opts(&base.config.config))
            .unwrap();
        let stats = writer.join().unwrap();

        let c = &img.config;
        assert_eq!(c.rootfs.diff_ids.len(), 2);
        assert_eq!(c.rootfs.diff_ids[0], base.config.rootfs.diff_ids[0]);
        let diff = &c.rootfs.diff_ids[1];
        assert_eq!(s.content().size(diff).unwrap(), stats.bytes);
        assert_eq!(
            img.top_layer.as_deref(),
            Some(chain_ids(&c.rootfs.diff_ids)[1].as_str())
        );
        assert_eq!(img.parent.as_ref(), Some(&base.id));
        assert_eq!(img.repo_tags, vec!["mine:v1".to_string()]);
        assert!(img.last_tag_time.is_some());
        assert!(img.size > base.size);
        assert_eq!(c.author.as_deref(), Some("me <me@example.com>"));
        assert_eq!(c.comment, None);
        assert_eq!(c.architecture, base.config.architecture);
        assert_eq!(c.os, "linux");
        assert_eq!(c.config.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(
            c.config.env,
            Some(vec!["A=1".to_string(), "B=2".to_string()])
        );
        assert_eq!(c.history.len(), 2);
        let h = &c.history[1];
        assert_eq!(h.created, c.created);
        assert_eq!(h.created_by.as_deref(), Some("sh"));
        assert_eq!(h.author.as_deref(), Some("me <me@example.com>"));
        assert_eq!(h.comment.as_deref(), Some("msg"));
        assert!(!h.empty_layer);
        // The manifest lists both layer blobs.
        let m: Manifest = serde_json::from_slice(
            &s.content()
                .read_blob(img.manifest.as_ref().unwrap(), 1 << 20)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(m.layers.len(), 2);
        assert_eq!(m.layers[1].digest, *diff);
        assert_eq!(m.config.digest, img.id);

        // A container of the new image sees the committed tree.
        in_container(&env, &s, "ctr2", img.top_layer.as_deref(), |root| {
            assert!(!root.join("a").exists(), "deleted file is back");
            assert_eq!(std::fs::read(root.join("b")).unwrap(), b"b2");
            assert_eq!(std::fs::read(root.join("c")).unwrap(), b"c");
            assert_eq!(std::fs::read(root.join("etc/x")).unwrap(), b"x");
        });
        if env.overlay {
            let layer = s.snapshotter().parent_dirs("ctr2").unwrap()[0].clone();
            let st = std::fs::symlink_metadata(layer.join("a")).unwrap();
            assert!(std::os::unix::fs::FileTypeExt::is_char_device(
                &st.file_type()
            ));
        }

        // The parent now has a dependent child.
        let e = s
            .delete(&base.id.to_string(), false, false, &none)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict);
        // And all of it survives a restart.
        drop(s);
        let s = env.open();
        let again = s.get("mine:v1").unwrap();
        assert_eq!(again.id, img.id);
        assert_eq!(again.parent.as_ref(), Some(&base.id));
    }
}

/// Docker adds no layer for a container that changed nothing: the diff IDs
/// stay the parent's and the history entry is `empty_layer`.
#[test]
fn unchanged_container_commits_an_empty_layer() {
    for env in envs("unchanged_container_commits_an_empty_layer") {
        let s = env.open();
        let base = base_image(&s);
        in_container(&env, &s, "ctr", base.top_layer.as_deref(), |_| {});
        let (rw, changes) = changes_of(&s, "ctr");
        assert!(changes.is_empty());
        let before: Vec<String> = s
            .snapshotter()
            .list()
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect();
        let (reader, writer) = streamed_layer(rw, changes);
        let mut o = opts(&base.config.config);
        o.created_by = "/bin/sh -c true".into();
        o.changes.clear();
        let img = s.commit(Some(&base.id), reader, o).unwrap();
        assert_eq!(writer.join().unwrap().bytes, 1024);
        assert_eq!(img.config.rootfs, base.config.rootfs);
        assert_eq!(img.top_layer, base.top_layer);
        assert_eq!(img.size, base.size);
        assert_ne!(img.id, base.id);
        let h = img.config.history.last().unwrap();
        assert!(h.empty_layer);
        assert_eq!(h.created_by.as_deref(), Some("/bin/sh -c true"));
        let after: Vec<String> = s
            .snapshotter()
            .list()
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(after, before, "an empty layer made a snapshot");
        let m: Manifest = serde_json::from_slice(
            &s.content()
                .read_blob(img.manifest.as_ref().unwrap(), 1 << 20)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(m.layers.len(), 1);
    }
}

#[test]
fn commit_from_scratch() {
    for env in envs("commit_from_scratch") {
        let s = env.open();
        in_container(&env, &s, "ctr", None, |root| {
            std::fs::create_dir(root.join("app")).unwrap();
            std::fs::write(root.join("app/run"), b"#!/bin/sh\n").unwrap();
        });
        let (rw, changes) = changes_of(&s, "ctr");
        let (reader, writer) = streamed_layer(rw, changes);
        let cfg = RuntimeConfig {
            cmd: Some(vec!["/app/run".into(), "--now".into()]),
            ..Default::default()
        };
        let img = s
            .commit(
                None,
                reader,
                CommitOptions {
                    container_config: cfg,
                    ..Default::default()
                },
            )
            .unwrap();
        writer.join().unwrap();
        assert_eq!(img.parent, None);
        assert!(img.repo_tags.is_empty());
        assert_eq!(img.config.rootfs.diff_ids.len(), 1);
        assert_eq!(img.config.architecture, crate::store::host_arch());
        assert_eq!(img.config.os, "linux");
        assert_eq!(img.config.author, None);
        let h = &img.config.history[0];
        // moby: strings.Join(container.Config.Cmd, " ").
        assert_eq!(h.created_by.as_deref(), Some("/app/run --now"));
        assert_eq!((h.author.as_ref(), h.comment.as_ref()), (None, None));
        in_container(&env, &s, "ctr2", img.top_layer.as_deref(), |root| {
            assert_eq!(std::fs::read(root.join("app/run")).unwrap(), b"#!/bin/sh\n");
        });

        // From scratch and nothing changed: an image without layers.
        let empty = s
            .commit(None, Cursor::new(vec![0u8; 1024]), CommitOptions::default())
            .unwrap();
        assert!(empty.config.rootfs.diff_ids.is_empty());
        assert_eq!(empty.top_layer, None);
        assert!(empty.config.history[0].empty_layer);
        // So is a stream with nothing at all in it (Go's tar reader: EOF).
        let nothing = s
            .commit(None, Cursor::new(Vec::new()), CommitOptions::default())
            .unwrap();
        assert!(nothing.config.rootfs.diff_ids.is_empty());
    }
}

/// A reader that must not be read.
struct Untouched;

impl Read for Untouched {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        panic!("the layer was read although the commit was refused")
    }
}

#[test]
fn refusals_come_before_the_layer_is_read() {
    let env = Env::new(false);
    let s = env.open();
    let base = base_image(&s);
    let with = |f: &dyn Fn(&mut CommitOptions)| {
        let mut o = CommitOptions::default();
        f(&mut o);
        s.commit(Some(&base.id), Untouched, o).unwrap_err()
    };
    let e = with(&|o| o.reference = Some(Reference::parse(&format!("x@{}", base.id)).unwrap()));
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(e.message(), "cannot import digest reference");
    let e = with(&|o| o.reference = Some(Reference::parse("sha256:v").unwrap()));
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = with(&|o| o.changes = vec!["RUN rm -rf /".into()]);
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let missing = Digest::of(b"no such image");
    let e = s
        .commit(Some(&missing), Untouched, CommitOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    // A broken stream fails the commit and leaves no image or snapshot.
    let before = s.snapshotter().list().unwrap().len();
    let mut bad = LayerBuilder::new().file("f", 0o644, b"data").finish();
    bad.truncate(600);
    let e = s
        .commit(Some(&base.id), Cursor::new(bad), CommitOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert_eq!(s.count(), 1);
    assert_eq!(s.snapshotter().list().unwrap().len(), before);
    // The deleted parent is untagged, then gone; the image list is intact.
    assert!(matches!(
        s.delete("base:1", false, false, &none).unwrap()[..],
        [DeleteItem::Untagged(_), DeleteItem::Deleted(_), ..]
    ));
}

fn rc(json: serde_json::Value) -> RuntimeConfig {
    serde_json::from_value(json).unwrap()
}

/// moby's `merge` after `BuildFromConfig`, on the container's config.
#[test]
fn config_is_the_containers_with_changes_merged() {
    let ctr = rc(serde_json::json!({
        "User": "app",
        "Env": ["PATH=/bin", "A=1"],
        "Cmd": ["sh"],
        "Entrypoint": ["/init"],
        "Labels": {"l": "1"},
        "ExposedPorts": {"80/tcp": {}},
        "Volumes": {"/data": {}},
        "WorkingDir": "/w",
        "StopSignal": "SIGQUIT",
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5, "Retries": 3},
    }));
    let cfg = |changes: &[&str]| {
        commit_config(
            &ctr,
            &changes.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        )
        .unwrap()
    };
    // No changes: the container's config as is.
    assert_eq!(cfg(&[]), ctr);
    // Additions merge with what the container has.
    let c = cfg(&[
        "ENV A=2 B=3",
        "LABEL m=2",
        "EXPOSE 443",
        "VOLUME /cache",
        "HEALTHCHECK --timeout=2s CMD false",
    ]);
    assert_eq!(
        c.env,
        Some(vec!["PATH=/bin".into(), "A=2".into(), "B=3".into()])
    );
    assert_eq!(c.labels.as_ref().unwrap().len(), 2);
    assert_eq!(c.exposed_ports.as_ref().unwrap().len(), 2);
    assert_eq!(c.volumes.as_ref().unwrap().len(), 2);
    let hc = c.healthcheck.unwrap();
    assert_eq!(hc["Test"], serde_json::json!(["CMD-SHELL", "false"]));
    assert_eq!(hc["Timeout"], serde_json::json!(2_000_000_000i64));
    // Fields the change left at zero come from the container's.
    assert_eq!(hc["Retries"], serde_json::json!(3));
    assert_eq!(hc["Interval"], serde_json::json!(5));
    // ENTRYPOINT drops the inherited CMD, and merge does not bring it back.
    let c = cfg(&["ENTRYPOINT [\"/other\"]"]);
    assert_eq!(c.entrypoint, Some(vec!["/other".to_string()]));
    assert_eq!(c.cmd, None);
    // Without an entrypoint an emptied CMD is refilled from the container.
    let no_ep = RuntimeConfig {
        entrypoint: None,
        ..ctr.clone()
    };
    let c = commit_config(&no_ep, &["CMD []".to_string()]).unwrap();
    assert_eq!(c.cmd, Some(vec!["sh".to_string()]));
    // Labels are not invented for a container without any.
    let bare = commit_config(&RuntimeConfig::default(), &[]).unwrap();
    assert_eq!(bare, RuntimeConfig::default());
}
