//! Tests of add_image, save, load, push_plan and blob collection.

use crate::testenv::{Env, envs, gz};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read, Write};

use berth_archive::testutil::LayerBuilder;
use berth_content::Digest;
use serde_json::{Value, json};

use crate::config::{
    MEDIA_TYPE_CONFIG, MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_LAYER_GZIP,
    MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_MANIFEST,
};
use crate::oci::{MEDIA_TYPE_DOCKER_LAYER_GZIP, MEDIA_TYPE_INDEX};
use crate::store::{MAX_JSON_BLOB, host_arch};
use crate::{
    ErrorKind, ImageStore, ImportOptions, LayerEvent, LayerProgress, LoadEvent, Reference,
};

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn base_layer() -> Vec<u8> {
    LayerBuilder::new()
        .dir("bin", 0o755)
        .file("bin/busybox", 0o755, &[0x7f; 3000])
        .symlink("bin/sh", "busybox")
        .dir("etc", 0o755)
        .file("etc/hostname", 0o644, b"base\n")
        .finish()
}

fn app_layer(tag: &str) -> Vec<u8> {
    LayerBuilder::new()
        .dir("app", 0o755)
        .file("app/run", 0o755, tag.as_bytes())
        .finish()
}

fn config_json(diffs: &[Digest], cmd: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": host_arch(),
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": [cmd]},
        "rootfs": {"type": "layers", "diff_ids": diffs},
        "history": [{"created_by": "test"}],
    }))
    .unwrap()
}

fn desc(mt: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": mt, "digest": Digest::of(bytes), "size": bytes.len()})
}

/// Puts an image into the content store as a pull would (gzip layers,
/// Docker schema2 manifest) and returns the manifest digest.
fn stage_pulled(s: &ImageStore, tars: &[Vec<u8>], cmd: &str) -> Digest {
    let diffs: Vec<Digest> = tars.iter().map(|t| Digest::of(t)).collect();
    let config = config_json(&diffs, cmd);
    s.content().write_blob(&config).unwrap();
    let mut layers = Vec::new();
    for t in tars {
        let g = gz(t);
        s.content().write_blob(&g).unwrap();
        layers.push(desc(MEDIA_TYPE_DOCKER_LAYER_GZIP, &g));
    }
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_DOCKER_MANIFEST,
        "config": desc(MEDIA_TYPE_DOCKER_CONFIG, &config),
        "layers": layers,
    }))
    .unwrap();
    s.content().write_blob(&m).unwrap()
}

fn refs(names: &[&str]) -> Vec<Reference> {
    names
        .iter()
        .map(|n| Reference::parse_named(n).unwrap())
        .collect()
}

fn blobs(s: &ImageStore) -> BTreeSet<Digest> {
    s.content()
        .list()
        .unwrap()
        .into_iter()
        .map(|(d, _)| d)
        .collect()
}

fn snapshots(s: &ImageStore) -> Vec<String> {
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

fn import(s: &ImageStore, tar: Vec<u8>, name: Option<&str>) -> crate::Image {
    s.import(
        Box::new(Cursor::new(tar)),
        ImportOptions {
            reference: name.map(|n| Reference::parse(n).unwrap()),
            ..Default::default()
        },
    )
    .unwrap()
}

fn no_progress(_: LoadEvent) {}

fn fam(l: &crate::LoadedImage) -> Vec<String> {
    l.tags.iter().map(|t| t.familiar()).collect()
}

fn load(s: &ImageStore, archive: Vec<u8>) -> crate::Result<Vec<crate::LoadedImage>> {
    s.load(Cursor::new(archive), &mut no_progress)
}

/// Entries of a tar: name → (type, data or link target).
fn tar_entries(data: &[u8]) -> Vec<(String, tar::EntryType, Vec<u8>)> {
    let mut a = tar::Archive::new(data);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let kind = e.header().entry_type();
            let mut buf = Vec::new();
            e.read_to_end(&mut buf).unwrap();
            (name, kind, buf)
        })
        .collect()
}

fn layer_file(s: &ImageStore, top: &str, path: &str) -> Vec<u8> {
    s.snapshotter()
        .prepare("probe", Some(top), BTreeMap::new())
        .unwrap();
    let dirs = s.snapshotter().parent_dirs("probe").unwrap();
    let got = dirs
        .iter()
        .find_map(|d| std::fs::read(d.join(path)).ok())
        .unwrap_or_default();
    s.snapshotter().remove("probe").unwrap();
    got
}

#[test]
fn add_image_unpacks_verifies_and_records() {
    for env in envs("add_image_unpacks_verifies_and_records") {
        let s = env.open();
        let tars = vec![base_layer(), app_layer("a")];
        let m = stage_pulled(&s, &tars, "a");
        let mut events: Vec<LayerProgress> = Vec::new();
        let img = s
            .add_image(
                &m,
                &refs(&["busybox:1", &format!("busybox@{m}")]),
                &mut |p| events.push(p),
            )
            .unwrap();
        assert_eq!(img.repo_tags, vec!["busybox:1".to_string()]);
        assert_eq!(img.repo_digests, vec![format!("busybox@{m}")]);
        assert_eq!(img.manifest.as_ref(), Some(&m));
        let kinds: Vec<LayerEvent> = events.iter().map(|e| e.event).collect();
        assert_eq!(
            kinds,
            vec![
                LayerEvent::Extracting,
                LayerEvent::Done,
                LayerEvent::Extracting,
                LayerEvent::Done
            ]
        );
        assert_eq!(events[3].index, 1);
        let top = img.top_layer.clone().unwrap();
        assert_eq!(layer_file(&s, &top, "app/run"), b"a");
        assert_eq!(layer_file(&s, &top, "etc/hostname"), b"base\n");
        {
            let st = s.lock();
            let rec = &st.db.images[&img.id];
            assert_eq!(
                rec.layers[0].blob,
                Digest::of(&gz(&tars[0])),
                "kept compressed"
            );
            assert_eq!(rec.layers[0].media_type, MEDIA_TYPE_DOCKER_LAYER_GZIP);
            assert_eq!(
                st.db.layer_meta[&Digest::of(&tars[0])].tar_size,
                Some(tars[0].len() as u64)
            );
        }
        assert!(img.size > 3000);

        // Again: nothing unpacked, the new tag added.
        let mut events = Vec::new();
        let again = s
            .add_image(&m, &refs(&["other"]), &mut |p| events.push(p))
            .unwrap();
        assert_eq!(again.id, img.id);
        assert!(events.is_empty());
        assert_eq!(
            again.repo_tags,
            vec!["busybox:1".to_string(), "other:latest".to_string()]
        );

        // A second image sharing the base layer: that one already exists.
        let m2 = stage_pulled(&s, &[base_layer(), app_layer("b")], "b");
        let mut events = Vec::new();
        let b = s
            .add_image(&m2, &refs(&["busybox:1"]), &mut |p| events.push(p))
            .unwrap();
        assert_eq!(events[0].event, LayerEvent::AlreadyExists);
        assert_eq!(events[1].event, LayerEvent::Extracting);
        assert_eq!(b.repo_tags, vec!["busybox:1".to_string()]);
        let old = s.get(img.id.as_str()).unwrap();
        assert_eq!(old.repo_tags, vec!["other:latest".to_string()], "tag moved");

        // Survives a reopen, blobs and all.
        let before = s.list();
        let blobs_before = blobs(&s);
        drop(s);
        let s = env.open();
        assert_eq!(s.list(), before);
        assert_eq!(blobs(&s), blobs_before);
    }
}

#[test]
fn add_image_refuses_what_it_cannot_run() {
    let env = Env::new(false);
    let s = env.open();
    let tar = base_layer();
    let g = gz(&tar);
    s.content().write_blob(&g).unwrap();
    let stage = |config: Value, layer_mt: &str, manifest_mt: &str| {
        let c = serde_json::to_vec(&config).unwrap();
        s.content().write_blob(&c).unwrap();
        let m = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": manifest_mt,
            "config": desc(MEDIA_TYPE_CONFIG, &c),
            "layers": [desc(layer_mt, &g)],
        }))
        .unwrap();
        s.content().write_blob(&m).unwrap()
    };
    let good = json!({"architecture": host_arch(), "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [Digest::of(&tar)]}});
    let cases: Vec<(Digest, &str)> = vec![
        (
            stage(
                good.clone(),
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                MEDIA_TYPE_MANIFEST,
            ),
            "foreign",
        ),
        (
            stage(good.clone(), "application/x-unknown", MEDIA_TYPE_MANIFEST),
            "unsupported layer media type",
        ),
        (
            stage(
                good.clone(),
                MEDIA_TYPE_LAYER_GZIP,
                "application/vnd.oci.image.index.v1+json",
            ),
            "image index",
        ),
        (
            stage(
                json!({"architecture": "s390x", "os": "linux",
                    "rootfs": {"type": "layers", "diff_ids": [Digest::of(&tar)]}}),
                MEDIA_TYPE_LAYER_GZIP,
                MEDIA_TYPE_MANIFEST,
            ),
            "not supported",
        ),
        (
            stage(
                json!({"architecture": host_arch(), "os": "linux",
                    "rootfs": {"type": "layers", "diff_ids": []}}),
                MEDIA_TYPE_LAYER_GZIP,
                MEDIA_TYPE_MANIFEST,
            ),
            "layers length mismatch",
        ),
        (
            stage(
                json!({"architecture": host_arch(), "os": "linux",
                    "rootfs": {"type": "layers", "diff_ids": [Digest::of(b"other")]}}),
                MEDIA_TYPE_LAYER_GZIP,
                MEDIA_TYPE_MANIFEST,
            ),
            "diff ID",
        ),
    ];
    for (m, want) in cases {
        if want == "not supported" && host_arch() == "s390x" {
            continue;
        }
        let e = s.add_image(&m, &refs(&["x"]), &mut |_| {}).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{want}: {e}");
        assert!(e.to_string().contains(want), "{want}: {e}");
        assert_eq!(s.count(), 0);
        assert!(snapshots(&s).is_empty(), "{want}: {:?}", snapshots(&s));
    }
    let missing = Digest::of(b"nope");
    let e = s.add_image(&missing, &[], &mut |_| {}).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[test]
fn crash_leftovers_are_collected_at_open() {
    let env = Env::new(false);
    let (kept, orphans) = {
        let s = env.open();
        let img = import(&s, base_layer(), Some("kept"));
        // A pull or load killed after ingesting, before recording.
        let m = stage_pulled(&s, &[app_layer("x")], "x");
        let mut orphans = vec![m.clone()];
        orphans.extend(blobs(&s).into_iter().filter(|d| {
            *d != img.id && Some(d) != img.manifest.as_ref() && *d != Digest::of(&base_layer())
        }));
        let mut ing = s.content().ingest().unwrap();
        ing.write_all(b"half a layer").unwrap();
        std::mem::forget(ing);
        (img, orphans)
    };
    let s = env.open();
    let left = blobs(&s);
    for o in &orphans {
        assert!(!left.contains(o), "orphan {o} left");
    }
    let want: BTreeSet<Digest> = [
        kept.id.clone(),
        kept.manifest.clone().unwrap(),
        Digest::of(&base_layer()),
    ]
    .into_iter()
    .collect();
    assert_eq!(left, want);
    assert_eq!(s.get("kept").unwrap().id, kept.id);

    // gc_blobs only takes what no record references (and nobody leased).
    let extra = s
        .content()
        .write_blob(b"ingested by a failed load")
        .unwrap();
    let leased = s.content().write_blob(b"a pull in progress").unwrap();
    let lease = s.lease_blobs(std::slice::from_ref(&leased));
    let gone = s.gc_blobs(&[kept.id.clone(), extra.clone(), leased.clone()]);
    assert_eq!(gone, vec![extra]);
    drop(lease);
    assert_eq!(s.gc_blobs(std::slice::from_ref(&leased)), vec![leased]);
    assert_eq!(blobs(&s), want);
}

/// Saves, checks the archive's shape, and loads into a fresh store.
#[test]
fn save_then_load_round_trip() {
    for env in envs("save_then_load_round_trip") {
        let s = env.open();
        let tars = vec![base_layer(), app_layer("a")];
        let pulled = s
            .add_image(
                &stage_pulled(&s, &tars, "a"),
                &refs(&["busybox:latest", "busybox:1"]),
                &mut |_| {},
            )
            .unwrap();
        // Shares the base layer (stored uncompressed here).
        let imported = import(&s, base_layer(), Some("localhost:5000/imp:v2"));
        let untagged = import(&s, app_layer("u"), None);

        let mut out = Vec::new();
        s.save(
            &[
                "busybox".to_string(),
                "localhost:5000/imp:v2".to_string(),
                untagged.id.hex()[..12].to_string(),
            ],
            &mut out,
        )
        .unwrap();
        let entries = tar_entries(&out);
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "Docker's (lexical) order");
        assert_eq!(names[..2], ["blobs/", "blobs/sha256/"]);
        let base = Digest::of(&tars[0]);
        let app = Digest::of(&tars[1]);
        let file = |n: &str| {
            entries
                .iter()
                .find(|e| e.0 == n)
                .unwrap_or_else(|| panic!("{n} missing"))
                .2
                .clone()
        };
        let count = |n: String| names.iter().filter(|x| **x == n).count();
        assert_eq!(
            count(format!("blobs/sha256/{}", base.hex())),
            1,
            "shared layer once"
        );
        assert_eq!(
            file(&format!("blobs/sha256/{}", base.hex())),
            tars[0],
            "uncompressed"
        );
        assert_eq!(file(&format!("blobs/sha256/{}", app.hex())), tars[1]);
        for (n, _, data) in &entries {
            if let Some(hex) = n.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
                assert_eq!(Digest::of(data).hex(), hex, "{n}");
            }
        }
        assert_eq!(file("oci-layout"), br#"{"imageLayoutVersion": "1.0.0"}"#);

        let manifest: Value = serde_json::from_slice(&file("manifest.json")).unwrap();
        let items = manifest.as_array().unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[0]["Config"],
            format!("blobs/sha256/{}", pulled.id.hex())
        );
        assert_eq!(items[0]["RepoTags"], json!(["busybox:1", "busybox:latest"]));
        assert_eq!(
            items[0]["Layers"],
            json!([
                format!("blobs/sha256/{}", base.hex()),
                format!("blobs/sha256/{}", app.hex())
            ])
        );
        assert_eq!(items[1]["RepoTags"], json!(["localhost:5000/imp:v2"]));
        assert_eq!(items[2]["RepoTags"], Value::Null, "saved by ID");

        let repos: Value = serde_json::from_slice(&file("repositories")).unwrap();
        assert_eq!(
            repos,
            json!({"busybox": {"1": app.hex(), "latest": app.hex()},
                   "localhost:5000/imp": {"v2": base.hex()}})
        );

        let index: Value = serde_json::from_slice(&file("index.json")).unwrap();
        assert_eq!(index["mediaType"], MEDIA_TYPE_INDEX);
        let ms = index["manifests"].as_array().unwrap();
        assert_eq!(ms.len(), 4, "one per tag, one for the untagged image");
        assert_eq!(
            ms[0]["annotations"],
            json!({"io.containerd.image.name": "docker.io/library/busybox:1",
                   "org.opencontainers.image.ref.name": "1"})
        );
        assert!(ms[3].get("annotations").is_none());
        let m0: Value = serde_json::from_slice(&file(&format!(
            "blobs/sha256/{}",
            ms[0]["digest"]
                .as_str()
                .unwrap()
                .strip_prefix("sha256:")
                .unwrap()
        )))
        .unwrap();
        assert_eq!(m0["mediaType"], MEDIA_TYPE_MANIFEST);
        assert_eq!(m0["config"]["digest"], pulled.id.to_string());
        assert_eq!(m0["layers"][1]["mediaType"], MEDIA_TYPE_LAYER_TAR);
        assert_eq!(m0["layers"][1]["size"], tars[1].len());
        // The imported image's saved manifest is the one it was stored with.
        assert_eq!(
            ms[2]["digest"].as_str().unwrap(),
            imported.manifest.as_ref().unwrap().as_str()
        );

        // Into a fresh store, gzip-wrapped as `docker save | gzip` makes it.
        let env2 = Env::new(env.overlay);
        let s2 = env2.open();
        let loaded = s2.load(Cursor::new(gz(&out)), &mut no_progress).unwrap();
        assert_eq!(loaded.len(), 3);
        assert_eq!(loaded[0].id, pulled.id);
        assert_eq!(fam(&loaded[0]), vec!["busybox:1", "busybox:latest"]);
        assert_eq!(loaded[1].id, imported.id);
        assert_eq!(loaded[2].id, untagged.id);
        assert!(loaded[2].tags.is_empty());
        let p2 = s2.get("busybox:latest").unwrap();
        assert_eq!(p2.id, pulled.id);
        assert_eq!(p2.config.rootfs.diff_ids, vec![base.clone(), app.clone()]);
        assert_eq!(p2.top_layer, pulled.top_layer);
        assert_eq!(
            s2.get("localhost:5000/imp:v2").unwrap().manifest,
            imported.manifest,
            "Docker 25+ manifests are reused"
        );
        assert_eq!(
            layer_file(&s2, p2.top_layer.as_deref().unwrap(), "app/run"),
            b"a"
        );
        // Only what the images reference is left.
        let want: BTreeSet<Digest> = s2
            .list()
            .iter()
            .flat_map(|i| {
                let st = s2.lock();
                crate::blobs::image_blobs(&i.id, &st.db.images[&i.id])
            })
            .collect();
        assert_eq!(blobs(&s2), want);

        // Loading again changes nothing but is fine.
        let again = load(&s2, out.clone()).unwrap();
        assert_eq!(again, loaded);
        assert_eq!(s2.count(), 3);

        // And a save of the loaded store is the same archive.
        let mut out2 = Vec::new();
        s2.save(
            &[
                "busybox".to_string(),
                "localhost:5000/imp:v2".to_string(),
                untagged.id.to_string(),
            ],
            &mut out2,
        )
        .unwrap();
        assert_eq!(out2.len(), out.len());
        assert_eq!(tar_entries(&out2).len(), entries.len());
    }
}

#[test]
fn save_refuses_unknown_names_before_writing() {
    let env = Env::new(false);
    let s = env.open();
    import(&s, base_layer(), Some("a"));
    let mut out = Vec::new();
    for name in [
        "a:2",
        "nope",
        "sha256:ffff",
        "b@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ] {
        let e = s
            .save(&["a".to_string(), name.to_string()], &mut out)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{name}");
        assert_eq!(e.to_string(), format!("No such image: {name}"));
        assert!(out.is_empty());
    }
}

/// A docker-archive as Docker < 25 wrote it: `<v1id>/layer.tar`,
/// `<v1id>/json`, `<v1id>/VERSION`, `<config hex>.json`, `repositories`;
/// a layer two images share appears once, the second a symlink to it.
#[test]
fn load_legacy_docker_archive_with_symlinked_layer() {
    for env in envs("load_legacy_docker_archive_with_symlinked_layer") {
        let s = env.open();
        let base = base_layer();
        let a = app_layer("a");
        let b = app_layer("b");
        let (db, da, dbb) = (Digest::of(&base), Digest::of(&a), Digest::of(&b));
        let ca = config_json(&[db.clone(), da.clone()], "a");
        let cb = config_json(&[db.clone(), dbb.clone()], "b");
        let v1 = |n: u8| format!("{:064x}", n);
        let archive = LayerBuilder::new()
            .dir(&v1(1), 0o755)
            .file(&format!("{}/VERSION", v1(1)), 0o644, b"1.0")
            .file(&format!("{}/json", v1(1)), 0o644, b"{}")
            .file(&format!("{}/layer.tar", v1(1)), 0o644, &base)
            .dir(&v1(2), 0o755)
            .file(&format!("{}/layer.tar", v1(2)), 0o644, &gz(&a))
            .dir(&v1(3), 0o755)
            .symlink(
                &format!("{}/layer.tar", v1(3)),
                &format!("../{}/layer.tar", v1(1)),
            )
            .dir(&v1(4), 0o755)
            .file(&format!("{}/layer.tar", v1(4)), 0o644, &b)
            .hardlink(
                &format!("{}/layer.tar", v1(5)),
                &format!("./{}/layer.tar", v1(4)),
            )
            .file(&format!("{}.json", Digest::of(&ca).hex()), 0o644, &ca)
            .file(&format!("{}.json", Digest::of(&cb).hex()), 0o644, &cb)
            .file(
                "manifest.json",
                0o644,
                &serde_json::to_vec(&json!([
                    {"Config": format!("{}.json", Digest::of(&ca).hex()),
                     "RepoTags": ["app:a"],
                     "Layers": [format!("{}/layer.tar", v1(1)), format!("{}/layer.tar", v1(2))]},
                    {"Config": format!("{}.json", Digest::of(&cb).hex()),
                     "RepoTags": ["app:b", "localhost:5000/app:b"],
                     "Layers": [format!("{}/layer.tar", v1(3)), format!("./{}/layer.tar", v1(5))]},
                ]))
                .unwrap(),
            )
            .file("repositories", 0o644, b"{}")
            .finish();
        let mut events = Vec::new();
        let loaded = s
            .load(Cursor::new(archive), &mut |e| events.push(e))
            .unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0].id, Digest::of(&ca));
        assert_eq!(fam(&loaded[0]), vec!["app:a"]);
        assert_eq!(fam(&loaded[1]), vec!["app:b", "localhost:5000/app:b"]);
        let ib = s.get("localhost:5000/app:b").unwrap();
        assert_eq!(ib.id, Digest::of(&cb));
        assert_eq!(
            layer_file(&s, ib.top_layer.as_deref().unwrap(), "app/run"),
            b"b"
        );
        assert_eq!(
            layer_file(&s, ib.top_layer.as_deref().unwrap(), "etc/hostname"),
            b"base\n"
        );
        assert!(events.iter().any(|e| e.status == "Extracting"));
        assert!(events.iter().any(|e| e.status == "Already exists"));
        {
            let st = s.lock();
            let rec = &st.db.images[&loaded[0].id];
            assert_eq!(rec.layers[1].media_type, MEDIA_TYPE_LAYER_GZIP);
            assert_eq!(rec.layers[1].blob, Digest::of(&gz(&a)), "stored as it came");
            assert_eq!(rec.layers[0].media_type, MEDIA_TYPE_LAYER_TAR);
        }
        // The v1 json/VERSION files are not kept.
        assert!(!s.content().exists(&Digest::of(b"1.0")));
        assert!(!s.content().exists(&Digest::of(b"{}")));
        assert_eq!(snapshots(&s).len(), 3, "base shared: {:?}", snapshots(&s));
    }
}

/// A plain OCI layout (podman's oci-archive): gzip layers, names from
/// annotations, a nested index with platforms.
#[test]
fn load_plain_oci_layout() {
    let env = Env::new(false);
    let s = env.open();
    let base = base_layer();
    let app = app_layer("o");
    let (gb, ga) = (gz(&base), gz(&app));
    let config = config_json(&[Digest::of(&base), Digest::of(&app)], "o");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_MANIFEST,
        "config": desc(MEDIA_TYPE_CONFIG, &config),
        "layers": [desc(MEDIA_TYPE_LAYER_GZIP, &gb), desc(MEDIA_TYPE_LAYER_GZIP, &ga)],
    }))
    .unwrap();
    let other_platform = serde_json::to_vec(&json!({"schemaVersion": 2,
        "mediaType": MEDIA_TYPE_MANIFEST, "config": desc(MEDIA_TYPE_CONFIG, b"{}"), "layers": []}))
    .unwrap();
    let nested = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_INDEX,
        "manifests": [
            {"mediaType": MEDIA_TYPE_MANIFEST, "digest": Digest::of(&other_platform),
             "size": other_platform.len(), "platform": {"os": "linux", "architecture": "riscv128"}},
            {"mediaType": MEDIA_TYPE_MANIFEST, "digest": Digest::of(&manifest),
             "size": manifest.len(), "platform": {"os": "linux", "architecture": host_arch()}},
        ],
    }))
    .unwrap();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": MEDIA_TYPE_MANIFEST, "digest": Digest::of(&manifest), "size": manifest.len(),
             "annotations": {"org.opencontainers.image.ref.name": "localhost/podman:v1"}},
            {"mediaType": MEDIA_TYPE_INDEX, "digest": Digest::of(&nested), "size": nested.len(),
             "annotations": {"io.containerd.image.name": "docker.io/library/multi:2",
                             "org.opencontainers.image.ref.name": "2"}},
            {"mediaType": MEDIA_TYPE_MANIFEST, "digest": Digest::of(&manifest), "size": manifest.len(),
             "annotations": {"org.opencontainers.image.ref.name": "bare-tag-names-nothing"}},
        ],
    }))
    .unwrap();
    let mut lb =
        LayerBuilder::new().file("oci-layout", 0o644, br#"{"imageLayoutVersion":"1.0.0"}"#);
    for d in [&gb, &ga, &config, &manifest, &nested] {
        lb = lb.file(&format!("blobs/sha256/{}", Digest::of(d).hex()), 0o644, d);
    }
    let archive = lb.file("index.json", 0o644, &index).finish();
    let loaded = load(&s, archive).unwrap();
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    assert_eq!(loaded[0].id, Digest::of(&config));
    assert_eq!(fam(&loaded[0]), vec!["localhost/podman:v1", "multi:2"]);
    let img = s.get("multi:2").unwrap();
    assert_eq!(img.manifest, Some(Digest::of(&manifest)));
    // Pushed as it came: compressed layers, the same manifest.
    let plan = s.push_plan("multi:2").unwrap();
    assert_eq!(plan.manifest, Digest::of(&manifest));
    assert_eq!(plan.manifest_bytes, manifest);
    assert_eq!(plan.layers[0].digest, Digest::of(&gb));
}

fn count_clean(s: &ImageStore, before_blobs: &BTreeSet<Digest>, before_images: usize, what: &str) {
    assert_eq!(s.count(), before_images, "{what}: images");
    assert_eq!(&blobs(s), before_blobs, "{what}: blobs");
    let ingest = std::fs::read_dir(s.content().root().join("ingest"))
        .unwrap()
        .count();
    assert_eq!(ingest, 0, "{what}: ingests");
}

#[test]
fn hostile_loads_leave_nothing() {
    let env = Env::new(false);
    let s = env.open();
    import(&s, base_layer(), Some("existing"));
    let before_blobs = blobs(&s);
    let before_snaps = snapshots(&s);
    let before_list = s.list();

    let tar = app_layer("h");
    let config = config_json(&[Digest::of(&base_layer()), Digest::of(&tar)], "h");
    let chex = Digest::of(&config).hex().to_string();
    let good_manifest = |layers: Value, tags: Value| {
        serde_json::to_vec(
            &json!([{"Config": format!("{chex}.json"), "RepoTags": tags, "Layers": layers}]),
        )
        .unwrap()
    };
    let base = || {
        LayerBuilder::new()
            .file("l1/layer.tar", 0o644, &base_layer())
            .file("l2/layer.tar", 0o644, &tar)
            .file(&format!("{chex}.json"), 0o644, &config)
    };
    let ok_layers = json!(["l1/layer.tar", "l2/layer.tar"]);
    // The well-formed archive loads (in a fresh store, to keep this one).
    {
        let e2 = Env::new(false);
        let good = base()
            .file(
                "manifest.json",
                0o644,
                &good_manifest(ok_layers.clone(), json!(["h:1"])),
            )
            .finish();
        assert_eq!(fam(&load(&e2.open(), good).unwrap()[0]), vec!["h:1"]);
    }

    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    cases.push((
        "path escape",
        base()
            .file("../evil", 0o644, b"x")
            .file(
                "manifest.json",
                0o644,
                &good_manifest(ok_layers.clone(), json!(["h:1"])),
            )
            .finish(),
        "escapes the archive",
    ));
    cases.push((
        "absolute path",
        base().file("/etc/evil", 0o644, b"x").finish(),
        "absolute path",
    ));
    cases.push((
        "symlink escape",
        base()
            .symlink("l3/layer.tar", "../../../etc/shadow")
            .file(
                "manifest.json",
                0o644,
                &good_manifest(json!(["l1/layer.tar", "l3/layer.tar"]), json!(["h:1"])),
            )
            .finish(),
        "points outside the archive",
    ));
    cases.push((
        "symlink loop",
        base()
            .symlink("l3", "l4")
            .symlink("l4", "l3")
            .file(
                "manifest.json",
                0o644,
                &good_manifest(json!(["l1/layer.tar", "l3/layer.tar"]), json!(["h:1"])),
            )
            .finish(),
        "too many levels of links",
    ));
    cases.push((
        "absolute symlink",
        base().symlink("l3/layer.tar", "/etc/shadow").finish(),
        "points outside the archive",
    ));
    cases.push((
        "missing layer",
        base()
            .file(
                "manifest.json",
                0o644,
                &good_manifest(json!(["l1/layer.tar", "l9/layer.tar"]), json!(["h:1"])),
            )
            .finish(),
        "missing blob",
    ));
    cases.push((
        "digest mismatch",
        LayerBuilder::new()
            .file(
                &format!("blobs/sha256/{}", Digest::of(b"claimed").hex()),
                0o644,
                b"actual",
            )
            .finish(),
        "unexpected digest",
    ));
    cases.push((
        "wrong diff id",
        base()
            .file(
                "manifest.json",
                0o644,
                &good_manifest(json!(["l2/layer.tar", "l1/layer.tar"]), json!(["h:1"])),
            )
            .finish(),
        "diff ID",
    ));
    cases.push((
        "invalid tag",
        base()
            .file(
                "manifest.json",
                0o644,
                &good_manifest(ok_layers.clone(), json!(["h:1", "Bad Tag"])),
            )
            .finish(),
        "invalid tag",
    ));
    cases.push((
        "tag without tag",
        base()
            .file(
                "manifest.json",
                0o644,
                &good_manifest(ok_layers.clone(), json!(["h"])),
            )
            .finish(),
        "invalid tag",
    ));
    cases.push((
        "config not json",
        LayerBuilder::new()
            .file("l1/layer.tar", 0o644, &base_layer())
            .file("c.json", 0o644, b"\x00not json")
            .file(
                "manifest.json",
                0o644,
                &serde_json::to_vec(
                    &json!([{"Config": "c.json", "RepoTags": ["h:1"], "Layers": ["l1/layer.tar"]}]),
                )
                .unwrap(),
            )
            .finish(),
        "image config",
    ));
    cases.push((
        "manifest.json not json",
        base().file("manifest.json", 0o644, b"[{").finish(),
        "manifest.json",
    ));
    cases.push((
        "huge manifest.json",
        base()
            .file(
                "manifest.json",
                0o644,
                &vec![b' '; MAX_JSON_BLOB as usize + 1],
            )
            .finish(),
        "more than",
    ));
    cases.push((
        "no manifest",
        base().finish(),
        "no manifest.json or index.json",
    ));
    let full = base()
        .file(
            "manifest.json",
            0o644,
            &good_manifest(ok_layers.clone(), json!(["h:1"])),
        )
        .finish();
    // Cut inside the second layer file's data.
    cases.push((
        "truncated",
        full[..1024 + 512 + 700].to_vec(),
        "unexpected EOF",
    ));
    cases.push((
        "truncated gzip",
        {
            let g = gz(&full);
            g[..g.len() / 2].to_vec()
        },
        "",
    ));
    cases.push((
        "garbage",
        b"this is not a tar archive at all".repeat(40),
        "invalid tar header",
    ));
    cases.push(("empty", Vec::new(), "empty"));
    cases.push(("short", b"short".to_vec(), "unexpected EOF"));

    for (what, archive, want) in cases {
        let e = load(&s, archive).unwrap_err();
        eprintln!("{what}: {e}");
        assert!(e.to_string().contains(want), "{what}: {e}");
        assert!(e.to_string().starts_with("load"), "{what}: {e}");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{what}: {e}");
        count_clean(&s, &before_blobs, before_list.len(), what);
        assert_eq!(s.list(), before_list, "{what}");
        assert_eq!(snapshots(&s), before_snaps, "{what}");
    }
}

#[test]
fn push_plan_gzips_uncompressed_layers_once() {
    let env = Env::new(false);
    let s = env.open();
    let tar = base_layer();
    let img = import(&s, tar.clone(), Some("imp"));
    let plan = s.push_plan("imp").unwrap();
    assert_eq!(plan.manifest_media_type, MEDIA_TYPE_DOCKER_MANIFEST);
    assert_eq!(plan.config.media_type, MEDIA_TYPE_DOCKER_CONFIG);
    assert_eq!(plan.config.digest, img.id);
    assert_eq!(plan.layers.len(), 1);
    assert_eq!(plan.layers[0].media_type, MEDIA_TYPE_DOCKER_LAYER_GZIP);
    let blob = s
        .content()
        .read_blob(&plan.layers[0].digest, u64::MAX)
        .unwrap();
    assert_eq!(blob.len() as u64, plan.layers[0].size);
    assert_eq!(
        Digest::of(&gunzip(&blob)),
        Digest::of(&tar),
        "decompresses to the diff ID"
    );
    assert_eq!(Digest::of(&plan.manifest_bytes), plan.manifest);
    let m: Value = serde_json::from_slice(&plan.manifest_bytes).unwrap();
    assert_eq!(m["schemaVersion"], 2);
    assert_eq!(m["mediaType"], MEDIA_TYPE_DOCKER_MANIFEST);
    assert_eq!(m["layers"][0]["digest"], plan.layers[0].digest.to_string());
    assert!(s.content().exists(&plan.manifest));

    // Stable, across a reopen too.
    assert_eq!(s.push_plan("imp").unwrap(), plan);
    drop(s);
    let s = env.open();
    assert_eq!(s.push_plan(img.id.as_str()).unwrap(), plan);

    let pushed = Reference::parse_named(&format!("localhost:5000/imp@{}", plan.manifest)).unwrap();
    s.record_pushed(&img.id, &pushed).unwrap();
    let got = s.get("imp").unwrap();
    assert_eq!(
        got.repo_digests,
        vec![format!("localhost:5000/imp@{}", plan.manifest)]
    );
    assert_eq!(
        s.get(&format!("localhost:5000/imp@{}", plan.manifest))
            .unwrap()
            .id,
        img.id
    );
    let e = s
        .record_pushed(&img.id, &Reference::parse("x:1").unwrap())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);

    // A pulled image is pushed as pulled.
    let m = stage_pulled(&s, &[app_layer("p")], "p");
    let pulled = s.add_image(&m, &refs(&["pulled"]), &mut |_| {}).unwrap();
    let plan2 = s.push_plan("pulled").unwrap();
    assert_eq!(plan2.manifest, m);
    assert_eq!(plan2.manifest_media_type, MEDIA_TYPE_DOCKER_MANIFEST);
    assert_eq!(plan2.config.digest, pulled.id);

    // Deleting the images frees every blob, gzip copies and pushed
    // manifests included.
    s.delete(img.id.as_str(), true, false, &|_| None).unwrap();
    s.delete("pulled", true, false, &|_| None).unwrap();
    assert!(blobs(&s).is_empty(), "{:?}", blobs(&s));
    assert!(s.lock().db.layer_meta.is_empty());
}

#[test]
fn gzip_throughput() {
    // Not a benchmark: prints the rate so the level choice can be checked
    // (`cargo test --release -p berth-image gzip_throughput -- --nocapture`).
    let env = Env::new(false);
    let s = env.open();
    let mut data = Vec::with_capacity(16 << 20);
    let mut x: u64 = 1;
    while data.len() < 16 << 20 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // Half text-like, half random: roughly a binary-and-config layer.
        if (x >> 60) & 1 == 0 {
            data.extend_from_slice(b"usr/lib/x86_64-linux-gnu/libfoo.so.1 ");
        } else {
            data.extend_from_slice(&x.to_le_bytes());
        }
    }
    let tar = LayerBuilder::new().file("big", 0o644, &data).finish();
    import(&s, tar.clone(), Some("big"));
    let t = std::time::Instant::now();
    let plan = s.push_plan("big").unwrap();
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "gzip: {:.1} MB/s, ratio {:.2}",
        tar.len() as f64 / secs / 1e6,
        plan.layers[0].size as f64 / tar.len() as f64
    );
}

/// Manual interop check against other engines (ignored by default):
/// `BERTH_INTEROP_LOAD=<archive>` loads an archive another engine wrote
/// into a fresh store; with `BERTH_INTEROP_SAVE=<file>` every image loaded
/// is then saved there, for the other engine to load.
#[test]
#[ignore]
fn interop_files() {
    let Ok(input) = std::env::var("BERTH_INTEROP_LOAD") else {
        eprintln!("set BERTH_INTEROP_LOAD");
        return;
    };
    let env = Env::new(false);
    let s = env.open();
    let f = std::fs::File::open(&input).unwrap();
    let loaded = s.load(f, &mut no_progress).unwrap();
    for l in &loaded {
        let img = s.get(l.id.as_str()).unwrap();
        eprintln!(
            "loaded {} tags {:?} layers {} manifest {:?}",
            l.id,
            fam(l),
            img.config.rootfs.diff_ids.len(),
            img.manifest
        );
        let plan = s.push_plan(l.id.as_str()).unwrap();
        eprintln!("  push: {} {}", plan.manifest_media_type, plan.manifest);
    }
    if let Ok(out) = std::env::var("BERTH_INTEROP_SAVE") {
        let names: Vec<String> = loaded
            .iter()
            .flat_map(|l| {
                if l.tags.is_empty() {
                    vec![l.id.to_string()]
                } else {
                    fam(l)
                }
            })
            .collect();
        let mut f = std::fs::File::create(&out).unwrap();
        s.save(&names, &mut f).unwrap();
        eprintln!("saved {names:?} to {out}");
    }
}
