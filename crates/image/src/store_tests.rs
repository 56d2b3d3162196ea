use super::*;
use crate::testenv::{Env, envs, gz};
use berth_archive::testutil::{LayerBuilder, require_root};
use std::io::Cursor;

const CTR: &str = "abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890";

fn rootfs_tar() -> Vec<u8> {
    LayerBuilder::new()
        .dir("bin", 0o755)
        .file("bin/busybox", 0o755, &[0x7f; 5000])
        .symlink("bin/sh", "busybox")
        .dir("etc", 0o755)
        .file("etc/hostname", 0o644, b"berth\n")
        .hardlink("bin/ls", "bin/busybox")
        .finish()
}

fn import(
    s: &ImageStore,
    tar: Vec<u8>,
    reference: Option<&str>,
    changes: &[&str],
) -> Result<Image> {
    s.import(
        Box::new(Cursor::new(tar)),
        ImportOptions {
            reference: reference.map(|r| Reference::parse(r).unwrap()),
            changes: changes.iter().map(|c| c.to_string()).collect(),
            message: String::new(),
            platform: None,
        },
    )
}

fn none(_: &Digest) -> Option<InUse> {
    None
}

fn snapshot_names(s: &ImageStore) -> Vec<String> {
    let mut v: Vec<String> = s
        .snapshotter()
        .list()
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    v.sort();
    v
}

#[test]
fn import_then_get_list_and_inspect() {
    for env in envs("import_then_get_list_and_inspect") {
        let s = env.open();
        let tar = rootfs_tar();
        let diff = Digest::of(&tar);
        let img = import(
            &s,
            gz(&tar),
            Some("busybox:1"),
            &["CMD [\"sh\"]", "ENV A=1"],
        )
        .unwrap();

        assert_eq!(img.repo_tags, vec!["busybox:1".to_string()]);
        assert!(img.repo_digests.is_empty());
        assert_eq!(
            img.config.rootfs.diff_ids,
            vec![diff.clone()],
            "diff ID is the uncompressed tar's digest"
        );
        assert_eq!(img.top_layer.as_deref(), Some(diff.as_str()));
        assert_eq!(img.config.config.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(img.config.config.env, Some(vec!["A=1".to_string()]));
        assert_eq!(img.config.os, "linux");
        assert_eq!(img.config.architecture, host_arch());
        assert_eq!(img.config.history.len(), 1);
        assert_eq!(
            img.config.history[0].comment.as_deref(),
            Some("Imported from -")
        );
        assert_eq!(img.config.comment.as_deref(), Some("Imported from -"));
        assert!(img.last_tag_time.is_some());
        assert!(
            img.size >= 5000 + 6 && img.size < 5000 + 6 + 100,
            "size {}",
            img.size
        );

        // The ID is the digest of the stored config bytes.
        let cfg_bytes = s.content().read_blob(&img.id, MAX_JSON_BLOB).unwrap();
        assert_eq!(Digest::of(&cfg_bytes), img.id);
        let manifest: Manifest = serde_json::from_slice(
            &s.content()
                .read_blob(img.manifest.as_ref().unwrap(), MAX_JSON_BLOB)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(manifest.config.digest, img.id);
        assert_eq!(manifest.config.size, cfg_bytes.len() as u64);
        assert_eq!(manifest.layers[0].digest, diff);
        assert_eq!(manifest.layers[0].size, tar.len() as u64);
        assert_eq!(
            s.content().read_blob(&diff, u64::MAX).unwrap(),
            tar,
            "layer blob is the uncompressed tar"
        );

        // The layer snapshot holds the files.
        let info = s.snapshotter().stat(diff.as_str()).unwrap();
        assert_eq!(info.kind, Kind::Committed);
        assert_eq!(
            info.labels.get(LABEL_LAYER).map(String::as_str),
            Some(diff.as_str())
        );
        s.snapshotter()
            .prepare("ctr", img.top_layer.as_deref(), BTreeMap::new())
            .unwrap();
        let layer_dir = s.snapshotter().parent_dirs("ctr").unwrap()[0].clone();
        assert_eq!(
            std::fs::read(layer_dir.join("etc/hostname")).unwrap(),
            b"berth\n"
        );
        assert_eq!(
            std::fs::read_link(layer_dir.join("bin/sh")).unwrap(),
            Path::new("busybox")
        );
        s.snapshotter().remove("ctr").unwrap();
        assert_eq!(
            snapshot_names(&s),
            vec![diff.to_string()],
            "no extraction leftovers"
        );

        // Every way of naming it.
        let hex = img.id.hex().to_string();
        for name in [
            "busybox:1",
            "docker.io/library/busybox:1",
            "index.docker.io/library/busybox:1",
            img.id.as_str(),
            hex.as_str(),
            &hex[..4],
            &hex[..1],
            &format!("sha256:{}", &hex[..10]),
        ] {
            assert_eq!(s.get(name).unwrap().id, img.id, "{name}");
        }
        let e = s.get("busybox").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.to_string(), "No such image: busybox");
        assert_eq!(
            s.get("Busybox").unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(s.count(), 1);
        assert_eq!(s.list(), vec![img]);
    }
}

#[test]
fn name_at_manifest_digest() {
    let env = Env::new(false);
    let s = env.open();
    let img = import(&s, rootfs_tar(), Some("user/app:v1"), &[]).unwrap();
    let m = img.manifest.clone().unwrap();
    assert_eq!(s.get(&format!("user/app@{m}")).unwrap().id, img.id);
    assert_eq!(s.get(&format!("user/app@{}", img.id)).unwrap().id, img.id);
    let e = s.get(&format!("other/app@{m}")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[test]
fn ambiguous_prefix_is_not_found() {
    let env = Env::new(false);
    let s = env.open();
    // Import until two IDs share a first hex digit.
    let mut ids: Vec<Digest> = Vec::new();
    let shared = loop {
        let img = import(&s, rootfs_tar(), None, &[]).unwrap();
        if let Some(other) = ids.iter().find(|d| d.hex()[..1] == img.id.hex()[..1]) {
            break (other.clone(), img.id);
        }
        ids.push(img.id);
    };
    let p = &shared.0.hex()[..1];
    let e = s.get(p).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.to_string(), format!("No such image: {p}"));
    // A longer prefix that separates them works.
    let common = shared
        .0
        .hex()
        .chars()
        .zip(shared.1.hex().chars())
        .take_while(|(a, b)| a == b)
        .count();
    assert_eq!(s.get(&shared.0.hex()[..common + 1]).unwrap().id, shared.0);
}

#[test]
fn tag_moves_and_validates() {
    let env = Env::new(false);
    let s = env.open();
    let a = import(&s, rootfs_tar(), Some("busybox:1"), &[]).unwrap();
    let b = import(&s, rootfs_tar(), None, &[]).unwrap();
    assert!(b.repo_tags.is_empty());
    assert!(b.last_tag_time.is_none());
    s.tag("busybox:1", &Reference::parse("myrepo").unwrap())
        .unwrap();
    s.tag(a.id.hex(), &Reference::parse("localhost:5000/x:2").unwrap())
        .unwrap();
    assert_eq!(
        s.get("busybox:1").unwrap().repo_tags,
        vec![
            "busybox:1".to_string(),
            "myrepo:latest".to_string(),
            "localhost:5000/x:2".to_string()
        ]
    );
    assert_eq!(s.get("myrepo:latest").unwrap().id, a.id);
    // Moving a tag to another image.
    s.tag(b.id.as_str(), &Reference::parse("myrepo").unwrap())
        .unwrap();
    assert_eq!(s.get("myrepo").unwrap().id, b.id);
    assert_eq!(s.get(a.id.as_str()).unwrap().repo_tags.len(), 2);
    assert!(s.get(b.id.as_str()).unwrap().last_tag_time.is_some());
    let d = Digest::of(b"x");
    let e = s
        .tag("busybox:1", &Reference::parse(&format!("x@{d}")).unwrap())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "refusing to create a tag with a digest reference"
    );
    let e = s
        .tag("busybox:1", &Reference::parse("sha256:abc").unwrap())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        s.tag("nope", &Reference::parse("y").unwrap())
            .unwrap_err()
            .to_string(),
        "No such image: nope"
    );
}

#[test]
fn state_survives_reopen() {
    for env in envs("state_survives_reopen") {
        let before = {
            let s = env.open();
            let img = import(&s, rootfs_tar(), Some("busybox:1"), &["USER nobody"]).unwrap();
            s.tag("busybox:1", &Reference::parse("other:2").unwrap())
                .unwrap();
            import(&s, gz(&rootfs_tar()), None, &[]).unwrap();
            let _ = img;
            s.list()
        };
        let s = env.open();
        assert_eq!(s.list(), before);
        assert_eq!(
            s.get("other:2").unwrap().config.config.user.as_deref(),
            Some("nobody")
        );
    }
}

#[test]
fn delete_by_tag_untags_until_the_last() {
    for env in envs("delete_by_tag_untags_until_the_last") {
        let s = env.open();
        let tar = rootfs_tar();
        let diff = Digest::of(&tar);
        let img = import(&s, tar, Some("busybox:1"), &[]).unwrap();
        s.tag("busybox:1", &Reference::parse("busybox:2").unwrap())
            .unwrap();
        let out = s.delete("busybox:2", false, false, &none).unwrap();
        assert_eq!(out, vec![DeleteItem::Untagged("busybox:2".into())]);
        assert_eq!(
            s.get(img.id.as_str()).unwrap().repo_tags,
            vec!["busybox:1".to_string()]
        );
        let out = s.delete("busybox:1", false, false, &none).unwrap();
        assert_eq!(
            out,
            vec![
                DeleteItem::Untagged("busybox:1".into()),
                DeleteItem::Deleted(img.id.to_string()),
                DeleteItem::Deleted(diff.to_string()),
            ]
        );
        assert_eq!(s.count(), 0);
        assert!(snapshot_names(&s).is_empty());
        assert!(
            s.content().list().unwrap().is_empty(),
            "config, manifest and layer blobs freed"
        );
        assert_eq!(
            s.delete("busybox:1", false, false, &none)
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
        // Deleted for good: a reopen does not bring it back.
        drop(s);
        assert_eq!(env.open().count(), 0);
    }
}

#[test]
fn delete_by_id_with_several_names() {
    let env = Env::new(false);
    let s = env.open();
    let img = import(&s, rootfs_tar(), Some("a:1"), &[]).unwrap();
    s.tag("a:1", &Reference::parse("b:1").unwrap()).unwrap();
    let e = s
        .delete(&img.id.hex()[..12], false, false, &none)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            img.id.short()
        )
    );
    assert_eq!(
        s.get("a:1").unwrap().repo_tags.len(),
        2,
        "a refused delete changes nothing"
    );
    let out = s.delete(&img.id.hex()[..12], true, false, &none).unwrap();
    assert_eq!(out[0], DeleteItem::Untagged("a:1".into()));
    assert_eq!(out[1], DeleteItem::Untagged("b:1".into()));
    assert_eq!(out[2], DeleteItem::Deleted(img.id.to_string()));
    assert_eq!(s.count(), 0);
    // By ID with a single name: untagged and deleted in one go.
    let img = import(&s, rootfs_tar(), Some("c:1"), &[]).unwrap();
    let out = s.delete(img.id.as_str(), false, false, &none).unwrap();
    assert_eq!(out[0], DeleteItem::Untagged("c:1".into()));
    assert_eq!(out[1], DeleteItem::Deleted(img.id.to_string()));
}

#[test]
fn delete_conflicts_with_containers() {
    for env in envs("delete_conflicts_with_containers") {
        let s = env.open();
        let img = import(&s, rootfs_tar(), Some("busybox:1"), &[]).unwrap();
        let top = img.top_layer.clone().unwrap();
        // The container's rootfs, as the daemon makes it.
        s.snapshotter()
            .prepare(CTR, Some(&top), BTreeMap::new())
            .unwrap();
        let stopped = |d: &Digest| {
            (*d == img.id).then(|| InUse {
                container_id: CTR.into(),
                running: false,
            })
        };
        let running = |d: &Digest| {
            (*d == img.id).then(|| InUse {
                container_id: CTR.into(),
                running: true,
            })
        };

        let e = s.delete("busybox:1", false, false, &stopped).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert_eq!(
            e.to_string(),
            format!(
                "conflict: unable to remove repository reference \"busybox:1\" (must force) - container abcdef123456 is using its referenced image {}",
                img.id.short()
            )
        );
        let e = s
            .delete(img.id.as_str(), false, false, &stopped)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "conflict: unable to delete {} (must be forced) - image is being used by stopped container abcdef123456",
                img.id.short()
            )
        );
        let e = s
            .delete(img.id.as_str(), true, false, &running)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "conflict: unable to delete {} (cannot be forced) - image is being used by running container abcdef123456",
                img.id.short()
            )
        );
        assert_eq!(
            s.get("busybox:1").unwrap().id,
            img.id,
            "refusals change nothing"
        );

        // Forced by name while running: the name goes, the image stays.
        let out = s.delete("busybox:1", true, false, &running).unwrap();
        assert_eq!(out, vec![DeleteItem::Untagged("busybox:1".into())]);
        let left = s.get(img.id.as_str()).unwrap();
        assert!(left.repo_tags.is_empty(), "dangling");

        // Forced by ID once stopped: the image goes, but its layer stays
        // while the container's rootfs is built on it.
        let out = s.delete(img.id.as_str(), true, false, &stopped).unwrap();
        assert_eq!(out, vec![DeleteItem::Deleted(img.id.to_string())]);
        assert_eq!(s.count(), 0);
        assert!(s.snapshotter().stat(&top).is_ok());
        assert!(s.gc_layers().unwrap().is_empty(), "still has a child");
        s.snapshotter().remove(CTR).unwrap();
        assert_eq!(s.gc_layers().unwrap(), vec![top.clone()]);
        assert!(snapshot_names(&s).is_empty());
    }
}

#[test]
fn shared_layers_are_freed_with_the_last_image() {
    let env = Env::new(false);
    let s = env.open();
    let tar = rootfs_tar();
    let chain = Digest::of(&tar).to_string();
    let a = import(&s, tar.clone(), Some("a:1"), &[]).unwrap();
    let b = import(&s, gz(&tar), Some("b:1"), &["USER x"]).unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(a.top_layer, b.top_layer);
    assert_eq!(
        snapshot_names(&s),
        vec![chain.clone()],
        "one snapshot for the shared layer"
    );
    let out = s.delete("a:1", false, false, &none).unwrap();
    assert_eq!(out.len(), 2, "untag and delete, the layer stays: {out:?}");
    assert!(s.content().exists(&Digest::of(&tar)));
    let out = s.delete("b:1", false, false, &none).unwrap();
    assert_eq!(out.last(), Some(&DeleteItem::Deleted(chain)));
    assert!(s.content().list().unwrap().is_empty());
}

#[test]
fn failed_imports_leave_nothing() {
    let env = Env::new(false);
    let s = env.open();
    let check_clean = |s: &ImageStore| {
        assert_eq!(s.count(), 0);
        assert!(snapshot_names(s).is_empty(), "{:?}", snapshot_names(s));
        assert!(s.content().list().unwrap().is_empty());
        assert_eq!(
            std::fs::read_dir(s.content().root().join("ingest"))
                .unwrap()
                .count(),
            0
        );
    };
    let e = import(&s, rootfs_tar(), Some("x"), &["RUN make"]).unwrap_err();
    assert_eq!(e.to_string(), "RUN is not a valid change command");
    check_clean(&s);
    let hostile = LayerBuilder::new()
        .file("ok", 0o644, b"1")
        .file("../escape", 0o644, b"x")
        .finish();
    let e = import(&s, hostile, Some("x"), &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("../escape"), "{e}");
    check_clean(&s);
    let mut corrupt = gz(&rootfs_tar());
    let n = corrupt.len();
    corrupt.truncate(n / 2);
    assert!(import(&s, corrupt, None, &[]).is_err());
    check_clean(&s);
    for p in ["windows", "linux/s390x", "linux/amd64/v1/x", "darwin/arm64"] {
        if p.ends_with(host_arch()) {
            continue;
        }
        let e = s
            .import(
                Box::new(Cursor::new(rootfs_tar())),
                ImportOptions {
                    platform: Some(p.into()),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{p}");
    }
    let e = s
        .import(
            Box::new(Cursor::new(rootfs_tar())),
            ImportOptions {
                reference: Some(Reference::parse(&format!("x@{}", Digest::of(b"1"))).unwrap()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.to_string(), "cannot import digest reference");
    check_clean(&s);
    // The host platform spelled out is fine, and the message is kept.
    let img = s
        .import(
            Box::new(Cursor::new(rootfs_tar())),
            ImportOptions {
                platform: Some(format!("linux/{}", host_arch())),
                message: "from a test".into(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        img.config.history[0].comment.as_deref(),
        Some("from a test")
    );
}

#[test]
fn open_reconciles_after_a_crash() {
    for env in envs("open_reconciles_after_a_crash") {
        let (kept, dropped, tar) = {
            let s = env.open();
            let tar = rootfs_tar();
            let kept = import(&s, tar.clone(), Some("kept:1"), &[]).unwrap();
            let other = LayerBuilder::new().file("other", 0o644, b"o").finish();
            let dropped = import(&s, other, Some("dropped:1"), &[]).unwrap();
            // A crash mid-import: a half-extracted snapshot...
            let mut l = BTreeMap::new();
            l.insert(LABEL_EXTRACT.to_string(), "1".to_string());
            s.snapshotter()
                .prepare("extract-deadbeef", None, l)
                .unwrap();
            // ...and a layer committed just before the record was written.
            let mut l = BTreeMap::new();
            l.insert(LABEL_LAYER.to_string(), "x".to_string());
            s.snapshotter().prepare("k", None, BTreeMap::new()).unwrap();
            s.snapshotter().commit("sha256:orphan", "k", l).unwrap();
            // A record whose config blob vanished.
            s.content().delete(&dropped.id).unwrap();
            // A layer snapshot lost (say, a wiped snapshotter dir).
            s.snapshotter()
                .remove(kept.top_layer.as_deref().unwrap())
                .unwrap();
            (kept, dropped, tar)
        };
        let s = env.open();
        assert_eq!(s.count(), 1);
        assert_eq!(s.get("kept:1").unwrap().id, kept.id);
        assert_eq!(s.get("dropped:1").unwrap_err().kind(), ErrorKind::NotFound);
        assert!(s.get(dropped.id.as_str()).is_err());
        let names = snapshot_names(&s);
        assert_eq!(
            names,
            vec![Digest::of(&tar).to_string()],
            "orphans gone, lost layer unpacked again"
        );
        s.snapshotter()
            .prepare("c", kept.top_layer.as_deref(), BTreeMap::new())
            .unwrap();
        let dir = s.snapshotter().parent_dirs("c").unwrap()[0].clone();
        assert_eq!(std::fs::read(dir.join("etc/hostname")).unwrap(), b"berth\n");
    }
}

#[test]
fn container_rootfs_from_an_imported_image() {
    if !require_root("container_rootfs_from_an_imported_image") {
        return;
    }
    for overlay in [false, true] {
        let env = Env::new(overlay);
        let s = env.open();
        let img = import(&s, gz(&rootfs_tar()), Some("busybox"), &[]).unwrap();
        let mounts = s
            .snapshotter()
            .prepare("container-1", img.top_layer.as_deref(), BTreeMap::new())
            .unwrap();
        let target = env.td.path().join("rootfs");
        std::fs::create_dir(&target).unwrap();
        berth_snapshot::mount_all(&mounts, &target).unwrap();
        let read = std::fs::read(target.join("etc/hostname"));
        let write = std::fs::write(target.join("etc/hostname"), b"changed");
        berth_snapshot::unmount(&target).unwrap();
        assert_eq!(read.unwrap(), b"berth\n");
        write.unwrap();
        // The write landed in the container's snapshot, not the image layer.
        let upper = s.snapshotter().writable_dir("container-1").unwrap();
        assert_eq!(
            std::fs::read(upper.join("etc/hostname")).unwrap(),
            b"changed"
        );
        let layer = s.snapshotter().parent_dirs("container-1").unwrap()[0].clone();
        assert_eq!(
            std::fs::read(layer.join("etc/hostname")).unwrap(),
            b"berth\n"
        );
    }
}
