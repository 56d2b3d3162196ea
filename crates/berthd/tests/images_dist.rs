//! Image distribution end to end, with the real docker CLI: `docker pull`
//! and `push` against a local registry (Debian's docker-registry), `login`
//! with basic auth, `save`/`load` across berthd, Debian's dockerd and
//! podman, hostile archives, `commit` and `history`, and a daemon killed
//! in the middle of a pull.
//!
//! Images reach the registry without berth: umoci builds OCI layouts from
//! the busybox tarball and skopeo pushes them as Docker schema 2, OCI
//! manifests, Docker manifest lists and OCI indexes. Every expectation
//! here was checked against Debian's dockerd (20.10) with the same CLI:
//! `BERTH_DIST_TARGET=dockerd` runs these tests against a dockerd instead
//! of berthd (the crash test is berth-only; dockerd 20.10 cannot load an
//! OCI archive, which current Docker can: that step is berth-only too).
//! Where dockerd 20.10 words an error differently from Docker 28, only the
//! salient part is asserted.
//!
//! Needs root, docker (v28 CLI first on PATH), runc, busybox-static,
//! docker.io (dockerd), docker-registry, skopeo, umoci, podman and
//! apache2-utils (htpasswd); see .ci/run.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::registry::{
    LAYERED_EXPECT, LAYERED_PROBE, Layout, Podman, Registry, StallProxy, cli_with_config,
    registry_prerequisites, run_ok,
};
use common::{Berthd, DockerEngine, Dockerd, stderr, stdout};

// ---------------------------------------------------------------------------
// The daemon under test.

/// `BERTH_DIST_TARGET=dockerd`: run the tests against Debian's dockerd, to
/// check the tests themselves.
fn dockerd_mode() -> bool {
    std::env::var("BERTH_DIST_TARGET").as_deref() == Ok("dockerd")
}

enum Target {
    Berth(Berthd),
    Docker(Dockerd),
}

impl Target {
    fn start() -> Target {
        if dockerd_mode() {
            Target::Docker(Dockerd::start())
        } else {
            Target::Berth(Berthd::start())
        }
    }

    fn e(&self) -> &dyn DockerEngine {
        match self {
            Target::Berth(b) => b,
            Target::Docker(d) => d,
        }
    }

    fn is_berth(&self) -> bool {
        matches!(self, Target::Berth(_))
    }
}

/// Says why the test cannot run (and the test returns), or false. With
/// BERTH_REQUIRE_ROOT_TESTS=1 a missing prerequisite panics instead.
fn skip(needs_reference_dockerd: bool) -> bool {
    let why = common::prerequisites()
        .or_else(registry_prerequisites)
        .or_else(|| {
            if needs_reference_dockerd || dockerd_mode() {
                common::dockerd_prerequisites()
            } else {
                None
            }
        });
    if let Some(why) = why {
        eprintln!("SKIPPED: {why}");
        return true;
    }
    false
}

// ---------------------------------------------------------------------------
// Helpers.

const TIMEOUT: Duration = Duration::from_secs(300);

fn ok(e: &dyn DockerEngine, args: &[&str]) -> String {
    e.cli_ok(args)
}

/// Runs docker with `stdin` and asserts success; returns stdout (raw).
fn ok_in(e: &dyn DockerEngine, args: &[&str], stdin: &[u8]) -> String {
    let out = e.run_cli(args, Some(stdin), None, TIMEOUT);
    assert!(
        out.status.success(),
        "{}: docker {args:?} failed ({}):\nstdout: {}\nstderr: {}\n--- log tail ---\n{}",
        e.name(),
        out.status,
        stdout(&out),
        stderr(&out),
        common::tail(&e.daemon_log(), 40)
    );
    stdout(&out)
}

/// stdout bytes of a successful docker command (e.g. `save` to stdout).
fn ok_bytes(e: &dyn DockerEngine, args: &[&str]) -> Vec<u8> {
    let out = e.run_cli(args, None, None, TIMEOUT);
    assert!(
        out.status.success(),
        "{}: docker {args:?} failed ({}):\nstderr: {}",
        e.name(),
        out.status,
        stderr(&out)
    );
    out.stdout
}

/// Runs docker, asserts it fails with a message; returns stderr.
fn fails(e: &dyn DockerEngine, args: &[&str], stdin: Option<&[u8]>) -> String {
    let out = e.run_cli(args, stdin, None, TIMEOUT);
    assert!(
        !out.status.success(),
        "{}: docker {args:?} should fail but succeeded:\nstdout: {}\nstderr: {}",
        e.name(),
        stdout(&out),
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(
        !err.trim().is_empty(),
        "{}: docker {args:?} failed without a message",
        e.name()
    );
    err
}

fn assert_contains(what: &str, text: &str, want: &str) {
    assert!(text.contains(want), "{what}: expected {want:?} in:\n{text}");
}

fn image_id(e: &dyn DockerEngine, name: &str) -> String {
    ok(e, &["image", "inspect", "-f", "{{.Id}}", name])
}

fn repo_digests(e: &dyn DockerEngine, name: &str) -> Vec<String> {
    let j = ok(
        e,
        &["image", "inspect", "-f", "{{json .RepoDigests}}", name],
    );
    serde_json::from_str::<Option<Vec<String>>>(&j)
        .unwrap_or_else(|err| panic!("RepoDigests of {name}: {err}: {j}"))
        .unwrap_or_default()
}

/// Every image and reference, for "nothing changed" checks.
fn images_state(e: &dyn DockerEngine) -> String {
    let out = ok(
        e,
        &[
            "images",
            "-a",
            "--no-trunc",
            "--digests",
            "--format",
            "{{.ID}} {{.Repository}}:{{.Tag}} {{.Digest}}",
        ],
    );
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    lines.join("\n")
}

/// The digest and size `docker push` printed for `tag`
/// ("TAG: digest: sha256:... size: N").
fn pushed_digest(out: &str, tag: &str) -> (String, u64) {
    let prefix = format!("{tag}: digest: ");
    let line = out
        .lines()
        .find_map(|l| l.trim().strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in the push output:\n{out}"));
    let (digest, size) = line
        .split_once(" size: ")
        .unwrap_or_else(|| panic!("unexpected push line {line:?}"));
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    (digest.to_string(), size.trim().parse().unwrap())
}

/// `docker run --rm --network none IMAGE sh -c SCRIPT` (dockerd here runs
/// with `--bridge=none`).
fn run_sh(e: &dyn DockerEngine, image: &str, script: &str) -> String {
    ok(
        e,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            image,
            "sh",
            "-c",
            script,
        ],
    )
}

/// A copy of the busybox tarball with one more file, `/etc/NAME`
/// containing `NAME\n`: an image whose layer no daemon has yet.
fn busybox_plus(dir: &Path, name: &str) -> PathBuf {
    let tar = dir.join(format!("{name}.tar"));
    std::fs::copy(common::busybox_tar(), &tar).unwrap();
    let stage = dir.join(format!("{name}-stage"));
    std::fs::create_dir_all(stage.join("etc")).unwrap();
    std::fs::write(stage.join("etc").join(name), format!("{name}\n")).unwrap();
    run_ok(
        Command::new("tar")
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(&stage)
            .arg("-rf")
            .arg(&tar)
            .arg(format!("./etc/{name}")),
        TIMEOUT,
    );
    tar
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

// ---------------------------------------------------------------------------
// 1. Pull.

#[test]
fn pull_schema2_oci_list_and_index_from_a_registry() {
    if skip(false) {
        return;
    }
    let t = Target::start();
    let e = t.e();
    let reg = Registry::start(None);
    let layout = Layout::standard();
    reg.push_from(&layout.src("multi"), "dist/v2s2:1", &["--format", "v2s2"]);
    reg.push_from(&layout.src("multi"), "dist/oci:1", &["--format", "oci"]);
    reg.push_from(&layout.src("index"), "dist/index:1", &["--all"]);
    reg.push_from(
        &layout.src("index"),
        "dist/list:1",
        &["--all", "--format", "v2s2"],
    );
    // The registry serves what each case is about.
    let media = |name: &str| -> (String, String) {
        let v: serde_json::Value = serde_json::from_slice(&reg.raw_manifest(name)).unwrap();
        (
            v["mediaType"].as_str().unwrap_or("").to_string(),
            v["config"]["mediaType"].as_str().unwrap_or("").to_string(),
        )
    };
    assert_eq!(
        media("dist/v2s2:1").0,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        media("dist/oci:1").1,
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(
        media("dist/index:1").0,
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        media("dist/list:1").0,
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    let v2s2: serde_json::Value = serde_json::from_slice(&reg.raw_manifest("dist/v2s2:1")).unwrap();
    let config_digest = v2s2["config"]["digest"].as_str().unwrap().to_string();

    // By digest first: an image with a digest and no tag.
    let oci_digest = reg.manifest_digest("dist/oci:1");
    let by_digest = reg.image(&format!("dist/oci@{oci_digest}"));
    let out = ok(e, &["pull", &by_digest]);
    assert_contains("pull by digest", &out, &format!("Digest: {oci_digest}"));
    assert_contains(
        "pull by digest",
        &out,
        &format!("Status: Downloaded newer image for {by_digest}"),
    );
    assert_eq!(
        ok(
            e,
            &[
                "images",
                "--digests",
                "--format",
                "{{.Repository}} {{.Tag}} {{.Digest}}",
                &reg.image("dist/oci"),
            ]
        ),
        format!("{} <none> {oci_digest}", reg.image("dist/oci"))
    );
    assert_eq!(run_sh(e, &by_digest, LAYERED_PROBE), LAYERED_EXPECT);
    assert_eq!(image_id(e, &by_digest), config_digest);

    for kind in ["v2s2", "oci", "index", "list"] {
        let name = reg.image(&format!("dist/{kind}:1"));
        let repo = reg.image(&format!("dist/{kind}"));
        let digest = reg.manifest_digest(&format!("dist/{kind}:1"));
        let out = ok(e, &["pull", &name]);
        assert_contains(&name, &out, &format!("Digest: {digest}"));
        if kind != "oci" {
            assert_contains(
                &name,
                &out,
                &format!("Status: Downloaded newer image for {name}"),
            );
        }
        // The digest recorded is the one pulled: the list's or the
        // index's, not the platform manifest's.
        assert_eq!(
            ok(
                e,
                &[
                    "images",
                    "--digests",
                    "--format",
                    "{{.Repository}} {{.Tag}} {{.Digest}}",
                    &repo,
                ]
            ),
            format!("{repo} 1 {digest}"),
            "{name}"
        );
        let digests = repo_digests(e, &name);
        assert!(
            digests.contains(&format!("{repo}@{digest}")),
            "{name}: RepoDigests {digests:?} lack {repo}@{digest}"
        );
        // The image ID is the config's digest, whatever the manifest kind.
        assert_eq!(image_id(e, &name), config_digest, "{name}");
        assert_eq!(run_sh(e, &name, LAYERED_PROBE), LAYERED_EXPECT, "{name}");
        let again = ok(e, &["pull", &name]);
        assert_contains(
            &name,
            &again,
            &format!("Status: Image is up to date for {name}"),
        );
        assert_contains(&name, &again, &format!("Digest: {digest}"));
    }
    let out = ok(e, &["pull", &by_digest]);
    assert_contains(
        "pull by digest again",
        &out,
        &format!("Status: Image is up to date for {by_digest}"),
    );

    // Missing tag, missing repository. dockerd 20.10: "Error response
    // from daemon: manifest for 127.0.0.1:P/dist/v2s2:nope not found:
    // manifest unknown: manifest unknown".
    let before = images_state(e);
    for missing in [reg.image("dist/v2s2:nope"), reg.image("nothere:1")] {
        let err = fails(e, &["pull", &missing], None);
        assert_contains(&missing, &err, "manifest unknown");
        assert_contains(&missing, &err, &missing);
    }
    assert_eq!(images_state(e), before);
}

// ---------------------------------------------------------------------------
// 2. Push.

#[test]
fn push_to_a_registry_then_dockerd_pulls_and_runs_it() {
    if skip(true) {
        return;
    }
    let (t, reference) = std::thread::scope(|s| {
        let r = s.spawn(Dockerd::start);
        (Target::start(), r.join().unwrap())
    });
    let e = t.e();
    let r: &dyn DockerEngine = &reference;
    let reg = Registry::start(None);
    let name = reg.image("pushed:1");
    ok(e, &["tag", "busybox", &name]);
    let out = ok(e, &["push", &name]);
    assert_contains(
        "push",
        &out,
        &format!("The push refers to repository [{}]", reg.image("pushed")),
    );
    assert!(
        out.lines().any(|l| l.trim_end().ends_with(": Pushed")),
        "no layer was reported Pushed:\n{out}"
    );
    let (digest, size) = pushed_digest(&out, "1");
    assert_eq!(reg.manifest_digest("pushed:1"), digest);
    assert_eq!(reg.raw_manifest("pushed:1").len() as u64, size);
    let digests = repo_digests(e, &name);
    assert!(
        digests.contains(&format!("{}@{digest}", reg.image("pushed"))),
        "RepoDigests after push: {digests:?}"
    );

    // The reference daemon pulls it, gets the same digest and image ID,
    // and runs it.
    let pulled = ok(r, &["pull", &name]);
    assert_contains("dockerd pull", &pulled, &format!("Digest: {digest}"));
    assert_eq!(image_id(r, &name), image_id(e, &name));
    assert_eq!(
        run_sh(r, &name, "echo ok; test -x /bin/busybox && echo bb"),
        "ok\nbb"
    );

    // Again: nothing to upload.
    let out = ok(e, &["push", &name]);
    assert_contains("second push", &out, "Layer already exists");
    assert_eq!(pushed_digest(&out, "1").0, digest);

    // Another repository of the same registry: the blob is mounted from
    // the first (dockerd 20.10: "42de9627ce35: Mounted from pushed").
    let second = reg.image("second/pushed:1");
    ok(e, &["tag", "busybox", &second]);
    let out = ok(e, &["push", &second]);
    assert_contains("push to a second repository", &out, "Mounted from pushed");
    assert_eq!(pushed_digest(&out, "1").0, digest);

    // A pulled multi-layer image (whiteouts, opaque directory) pushed to
    // another registry: every layer is uploaded, dockerd pulls and runs it.
    let layout = Layout::standard();
    reg.push_from(&layout.src("multi"), "src/multi:1", &["--format", "v2s2"]);
    let reg2 = Registry::start(None);
    let src = reg.image("src/multi:1");
    let dst = reg2.image("copy/multi:1");
    ok(e, &["pull", &src]);
    ok(e, &["tag", &src, &dst]);
    let out = ok(e, &["push", &dst]);
    let (digest2, _) = pushed_digest(&out, "1");
    assert_eq!(reg2.manifest_digest("copy/multi:1"), digest2);
    let pushed = out.lines().filter(|l| l.ends_with(": Pushed")).count();
    assert_eq!(pushed, 3, "three layers uploaded:\n{out}");
    let pulled = ok(r, &["pull", &dst]);
    assert_contains("dockerd pull", &pulled, &format!("Digest: {digest2}"));
    assert_eq!(run_sh(r, &dst, LAYERED_PROBE), LAYERED_EXPECT);
}

// ---------------------------------------------------------------------------
// 3. Save and load.

#[test]
fn save_and_load_across_dockerd_and_podman() {
    if skip(true) {
        return;
    }
    let (t, reference) = std::thread::scope(|s| {
        let r = s.spawn(Dockerd::start);
        (Target::start(), r.join().unwrap())
    });
    let e = t.e();
    let r: &dyn DockerEngine = &reference;
    let tmp = tempfile::tempdir().unwrap();
    let file = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();

    // dockerd → target: a two-layer image with a whiteout, through a pipe.
    ok(
        r,
        &[
            "run",
            "--network",
            "none",
            "--name",
            "mk",
            "busybox",
            "sh",
            "-c",
            "echo from-dockerd > /etc/from-dockerd && rm /etc/shadow",
        ],
    );
    ok(r, &["commit", "mk", "dd/img:1"]);
    let rid = image_id(r, "dd/img:1");
    let probe = "cat /etc/from-dockerd; test -e /etc/shadow || echo shadow-gone";
    let want = "from-dockerd\nshadow-gone";
    let saved = ok_bytes(r, &["save", "dd/img:1"]);
    let out = ok_in(e, &["load"], &saved);
    assert_contains("load from dockerd", &out, "Loaded image: dd/img:1");
    assert_eq!(image_id(e, "dd/img:1"), rid);
    assert_eq!(run_sh(e, "dd/img:1", probe), want);
    // With files, and gzip-compressed.
    ok(e, &["rmi", "dd/img:1"]);
    ok(r, &["save", "-o", &file("dd.tar"), "dd/img:1"]);
    let gz = gzip(&std::fs::read(file("dd.tar")).unwrap());
    std::fs::write(file("dd.tar.gz"), gz).unwrap();
    let out = ok(e, &["load", "-i", &file("dd.tar.gz")]);
    assert_contains("load -i gzip", &out, "Loaded image: dd/img:1");
    assert_eq!(image_id(e, "dd/img:1"), rid);
    assert_eq!(run_sh(e, "dd/img:1", probe), want);

    // target → dockerd: an image whose layer dockerd does not have, and
    // busybox, in one archive.
    let tar = busybox_plus(tmp.path(), "from-berth");
    ok(
        e,
        &[
            "import",
            "--change",
            "ENV FROM_BERTH=1",
            "--change",
            "CMD [\"sh\"]",
            tar.to_str().unwrap(),
            "bt/img:1",
        ],
    );
    let bid = image_id(e, "bt/img:1");
    let saved = ok_bytes(e, &["save", "bt/img:1", "busybox:latest"]);
    let out = ok_in(r, &["load"], &saved);
    assert_contains("dockerd load", &out, "Loaded image: bt/img:1");
    assert_contains("dockerd load", &out, "Loaded image: busybox:latest");
    assert_eq!(image_id(r, "bt/img:1"), bid);
    assert_eq!(image_id(r, "busybox:latest"), image_id(e, "busybox:latest"));
    let probe = "cat /etc/from-berth; echo $FROM_BERTH";
    assert_eq!(run_sh(r, "bt/img:1", probe), "from-berth\n1");
    ok(r, &["rmi", "bt/img:1"]);
    ok(e, &["save", "-o", &file("bt.tar"), "bt/img:1"]);
    let out = ok(r, &["load", "-i", &file("bt.tar")]);
    assert_contains("dockerd load -i", &out, "Loaded image: bt/img:1");
    assert_eq!(run_sh(r, "bt/img:1", probe), "from-berth\n1");
    // And back into the target itself.
    ok(e, &["rmi", "bt/img:1"]);
    let out = ok(e, &["load", "-i", &file("bt.tar")]);
    assert_contains("load own save", &out, "Loaded image: bt/img:1");
    assert_eq!(image_id(e, "bt/img:1"), bid);

    // podman's docker-archive and oci-archive; tags kept.
    let p = Podman::new();
    let tar = busybox_plus(tmp.path(), "from-podman");
    p.ok(&[
        "import",
        "--change",
        "CMD [\"sh\"]",
        tar.to_str().unwrap(),
        "localhost/pbox:docker",
    ]);
    p.ok(&["tag", "localhost/pbox:docker", "localhost/pbox:oci"]);
    p.ok(&[
        "save",
        "--format",
        "docker-archive",
        "-o",
        &file("p-docker.tar"),
        "localhost/pbox:docker",
    ]);
    p.ok(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        &file("p-oci.tar"),
        "localhost/pbox:oci",
    ]);
    let pid = format!(
        "sha256:{}",
        p.ok(&["image", "inspect", "-f", "{{.Id}}", "localhost/pbox:docker"])
    );
    let out = ok(e, &["load", "-i", &file("p-docker.tar")]);
    assert_contains("load podman docker-archive", &out, "localhost/pbox:docker");
    assert_eq!(image_id(e, "localhost/pbox:docker"), pid);
    assert_eq!(
        run_sh(e, "localhost/pbox:docker", "cat /etc/from-podman"),
        "from-podman"
    );
    if t.is_berth() {
        // dockerd 20.10 cannot load an OCI archive ("open
        // .../blobs/json: no such file or directory"); Docker 25+ can.
        let data = std::fs::read(file("p-oci.tar")).unwrap();
        let out = ok_in(e, &["load"], &data);
        assert_contains("load podman oci-archive", &out, "localhost/pbox:oci");
        assert_eq!(image_id(e, "localhost/pbox:oci"), pid);
        assert_eq!(
            run_sh(e, "localhost/pbox:oci", "cat /etc/from-podman"),
            "from-podman"
        );
    } else {
        eprintln!("note: dockerd 20.10 cannot load OCI archives; step skipped");
    }
}

/// A docker-archive made by hand: a config, one layer
/// (`<diffid>/layer.tar` with /etc/hostile-ok) and manifest.json naming
/// `repo_tag`; `manifest_first` puts manifest.json before the rest.
/// Returns (archive, layer file name, image ID).
fn crafted_archive(
    repo_tag: &str,
    with_layer: bool,
    manifest_first: bool,
) -> (Vec<u8>, String, String) {
    // The layer: one file, 256 KiB so that a truncation falls inside it.
    let mut layer = tar::Builder::new(Vec::new());
    let content: Vec<u8> = (0..256 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_entry_type(tar::EntryType::Regular);
    layer
        .append_data(&mut h, "etc/hostile-ok", &content[..])
        .unwrap();
    let layer = layer.into_inner().unwrap();
    let diff_id = common::registry::sha256(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": common::registry::host_arch(),
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "berth-e2e"}],
    }))
    .unwrap();
    let config_id = common::registry::sha256(&config);
    let config_name = format!("{}.json", &config_id[7..]);
    let layer_name = format!("{}/layer.tar", &diff_id[7..]);
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name,
        "RepoTags": [repo_tag],
        "Layers": [layer_name],
    }]))
    .unwrap();
    let mut out = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        out.append_data(&mut h, name, data).unwrap();
    };
    if manifest_first {
        add("manifest.json", &manifest);
    }
    add(&config_name, &config);
    if with_layer {
        add(&layer_name, &layer);
    }
    if !manifest_first {
        add("manifest.json", &manifest);
    }
    (out.into_inner().unwrap(), layer_name, config_id)
}

#[test]
fn load_refuses_hostile_archives_and_changes_nothing() {
    if skip(false) {
        return;
    }
    let t = Target::start();
    let e = t.e();
    let before = images_state(e);

    // Garbage. dockerd 20.10: "Error processing tar file(exit status 1):
    // archive/tar: invalid tar header".
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let garbage: Vec<u8> = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let err = fails(e, &["load"], Some(&garbage));
    assert!(err.to_lowercase().contains("tar"), "garbage: {err}");
    assert_eq!(images_state(e), before, "after loading garbage");

    // Empty input. dockerd 20.10: "open .../repositories: no such file or
    // directory".
    fails(e, &["load"], Some(b""));
    assert_eq!(images_state(e), before, "after loading nothing");

    // Truncated inside the layer, manifest.json last (as docker saves) and
    // first (a streaming loader has then already seen it). dockerd 20.10:
    // "Error processing tar file(exit status 1): unexpected EOF".
    for manifest_first in [false, true] {
        let (archive, _, _) = crafted_archive("hostile/trunc:1", true, manifest_first);
        let cut = &archive[..archive.len() - 100 * 1024];
        let err = fails(e, &["load"], Some(cut)).to_lowercase();
        assert!(
            ["eof", "truncat", "unexpected end"]
                .iter()
                .any(|w| err.contains(w)),
            "truncated (manifest first: {manifest_first}): {err}"
        );
        assert_eq!(
            images_state(e),
            before,
            "after a truncated archive (manifest first: {manifest_first})"
        );
    }

    // manifest.json names a layer the archive lacks. dockerd 20.10: "open
    // /var/lib/docker/tmp/docker-import-N/<diffid>/layer.tar: no such file
    // or directory".
    for manifest_first in [false, true] {
        let (archive, layer_name, _) = crafted_archive("hostile/missing:1", false, manifest_first);
        let err = fails(e, &["load"], Some(&archive));
        assert_contains("missing layer", &err, &layer_name);
        assert_eq!(images_state(e), before, "after an archive missing a layer");
    }

    // The same archive, whole, loads: the refusals above were about the
    // damage, not the archive.
    let (archive, _, id) = crafted_archive("hostile/ok:1", true, false);
    let out = ok_in(e, &["load"], &archive);
    assert_contains("good archive", &out, "Loaded image: hostile/ok:1");
    assert_eq!(image_id(e, "hostile/ok:1"), id);
    // The image has no shell: read its file with docker cp.
    let c = ok(e, &["create", "--network", "none", "hostile/ok:1"]);
    let dir = tempfile::tempdir().unwrap();
    ok(
        e,
        &[
            "cp",
            &format!("{c}:/etc/hostile-ok"),
            dir.path().to_str().unwrap(),
        ],
    );
    let len = std::fs::metadata(dir.path().join("hostile-ok"))
        .unwrap()
        .len();
    assert_eq!(len, 256 * 1024);
    ok(e, &["rm", &c]);
}

// ---------------------------------------------------------------------------
// 4. Commit and history.

#[test]
fn commit_records_changes_config_and_history() {
    if skip(false) {
        return;
    }
    let t = Target::start();
    let e = t.e();
    ok(
        e,
        &[
            "run",
            "--network",
            "none",
            "--name",
            "c1",
            "busybox",
            "sh",
            "-c",
            "echo added > /root/added.txt && echo 'extra:x:1000:1000::/:/bin/sh' >> /etc/passwd && rm /bin/vi",
        ],
    );
    let mut diff: Vec<String> = ok(e, &["diff", "c1"]).lines().map(String::from).collect();
    diff.sort();
    assert_eq!(
        diff.join("\n"),
        "A /root/added.txt\nC /bin\nC /etc\nC /etc/passwd\nC /root\nD /bin/vi"
    );
    let id = ok(
        e,
        &[
            "commit",
            "-c",
            "CMD [\"sh\"]",
            "-c",
            "ENV A=1",
            "-m",
            "my msg",
            "-a",
            "me",
            "c1",
            "img:c1",
        ],
    );
    assert_eq!(id, image_id(e, "img:c1"));
    assert_ne!(id, image_id(e, "busybox"));

    // A container of the new image sees exactly those changes.
    assert_eq!(
        run_sh(
            e,
            "img:c1",
            "cat /root/added.txt; tail -n 1 /etc/passwd; test -e /bin/vi || echo vi-gone; \
             test -x /bin/ls && echo ls-kept; echo A=$A"
        ),
        "added\nextra:x:1000:1000::/:/bin/sh\nvi-gone\nls-kept\nA=1"
    );
    ok(
        e,
        &["create", "--network", "none", "--name", "c2", "img:c1"],
    );
    assert_eq!(ok(e, &["diff", "c2"]), "", "fresh container of img:c1");

    // Metadata.
    let inspect = |f: &str| ok(e, &["image", "inspect", "-f", f, "img:c1"]);
    let env: Vec<String> = serde_json::from_str(&inspect("{{json .Config.Env}}")).unwrap();
    assert!(env.contains(&"A=1".to_string()), "Env {env:?}");
    assert_eq!(inspect("{{json .Config.Cmd}}"), r#"["sh"]"#);
    assert_eq!(inspect("{{.Author}}"), "me");
    assert_eq!(inspect("{{.Comment}}"), "my msg");
    assert_eq!(inspect("{{.Parent}}"), image_id(e, "busybox"));
    let layers = |img: &str| -> Vec<String> {
        serde_json::from_str(&ok(
            e,
            &["image", "inspect", "-f", "{{json .RootFS.Layers}}", img],
        ))
        .unwrap()
    };
    let (base, new) = (layers("busybox"), layers("img:c1"));
    assert_eq!(new.len(), base.len() + 1, "{new:?}");
    assert_eq!(new[..base.len()], base[..]);

    // History: the new layer on top, with the message.
    let history = |img: &str| -> Vec<String> {
        ok(
            e,
            &[
                "history",
                "--no-trunc",
                "--format",
                "{{.ID}}|{{.Comment}}",
                img,
            ],
        )
        .lines()
        .map(String::from)
        .collect()
    };
    let (h_base, h_new) = (history("busybox"), history("img:c1"));
    assert_eq!(h_new.len(), h_base.len() + 1, "{h_new:?}");
    assert_eq!(h_new[0], format!("{id}|my msg"));
    assert_eq!(h_new[1..], h_base[..]);
}

// ---------------------------------------------------------------------------
// 5. Login.

#[test]
fn login_then_push_and_pull_with_basic_auth() {
    if skip(false) {
        return;
    }
    const USER: &str = "berth-user";
    const PASS: &str = "s3cret-Pa55w0rd";
    let t = Target::start();
    let e = t.e();
    let reg = Registry::start(Some((USER, PASS)));
    let layout = Layout::standard();
    reg.push_from(&layout.src("multi"), "sec/multi:1", &["--format", "v2s2"]);
    let cfg = tempfile::tempdir().unwrap();
    let cli = |args: &[&str], stdin: Option<&[u8]>| cli_with_config(e, cfg.path(), args, stdin);
    let src = reg.image("sec/multi:1");
    let dst = reg.image("sec/pushed:1");
    ok(e, &["tag", "busybox", &dst]);

    // Without credentials. dockerd 20.10: "Error response from daemon:
    // Head \"http://127.0.0.1:P/v2/sec/multi/manifests/1\": no basic auth
    // credentials" (pull), "no basic auth credentials" (push). The API
    // status is 500: a 401 makes the CLI prompt "Login prior to pull:"
    // (and wait for a username) instead of failing.
    for args in [["pull", src.as_str()], ["push", dst.as_str()]] {
        let out = cli(&args, None);
        assert!(!out.status.success(), "{args:?} without login succeeded");
        assert_contains(
            &format!("{args:?} without login"),
            &stderr(&out),
            "no basic auth credentials",
        );
    }

    // A wrong password. dockerd 20.10: "Error response from daemon: login
    // attempt to http://127.0.0.1:P/v2/ failed with status: 401
    // Unauthorized".
    let out = cli(&["login", &reg.addr(), "-u", USER, "-p", "wrong"], None);
    assert!(
        !out.status.success(),
        "login with a wrong password succeeded"
    );
    assert!(
        stderr(&out).to_lowercase().contains("unauthorized"),
        "wrong password: {}",
        stderr(&out)
    );
    let config_json = cfg.path().join("config.json");
    let stored = std::fs::read_to_string(&config_json).unwrap_or_default();
    assert!(
        !stored.contains(&reg.addr()),
        "a failed login stored credentials: {stored}"
    );

    let out = cli(
        &["login", &reg.addr(), "-u", USER, "--password-stdin"],
        Some(format!("{PASS}\n").as_bytes()),
    );
    assert!(out.status.success(), "login: {}", stderr(&out));
    assert_contains("login", &stdout(&out), "Login Succeeded");
    let stored = std::fs::read_to_string(&config_json).unwrap();
    assert_contains("config.json after login", &stored, &reg.addr());

    // Now pull and push work.
    let out = cli(&["pull", &src], None);
    assert!(out.status.success(), "pull after login: {}", stderr(&out));
    assert_contains(
        "pull after login",
        &stdout(&out),
        &format!("Digest: {}", reg.manifest_digest("sec/multi:1")),
    );
    assert_eq!(run_sh(e, &src, LAYERED_PROBE), LAYERED_EXPECT);
    let out = cli(&["push", &dst], None);
    assert!(out.status.success(), "push after login: {}", stderr(&out));
    let (digest, _) = pushed_digest(&stdout(&out), "1");
    assert_eq!(reg.manifest_digest("sec/pushed:1"), digest);

    // Logged out, the daemon has not kept the credentials.
    let out = cli(&["logout", &reg.addr()], None);
    assert!(out.status.success(), "logout: {}", stderr(&out));
    ok(e, &["rmi", &src]);
    let out = cli(&["pull", &src], None);
    assert!(!out.status.success(), "pull after logout succeeded");
    assert_contains(
        "pull after logout",
        &stderr(&out),
        "no basic auth credentials",
    );

    // Credentials never reach the daemon's log.
    let log = e.daemon_log();
    assert!(!log.contains(PASS), "the password is in the daemon log");
    let b64 = run_ok(
        Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s '{USER}:{PASS}' | base64 -w0")),
        TIMEOUT,
    );
    let b64 = String::from_utf8(b64).unwrap();
    assert!(
        !log.contains(b64.trim()),
        "the basic auth token is in the daemon log"
    );
}

// ---------------------------------------------------------------------------
// 6. Crash in the middle of a pull.

/// Committed blobs of a berthd content store.
fn blobs(d: &Berthd) -> BTreeSet<String> {
    let dir = d.data_root().join("content/blobs/sha256");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("content store {dir:?}: {e}"))
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect()
}

/// Entries of the content store's ingest directory (in-flight writes).
fn ingests(d: &Berthd) -> Vec<String> {
    std::fs::read_dir(d.data_root().join("content/ingest"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Snapshots of every snapshotter under the data root.
fn snapshots(d: &Berthd) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Ok(rd) = std::fs::read_dir(d.data_root().join("snapshots")) {
        for drv in rd.flatten() {
            if let Ok(snaps) = std::fs::read_dir(drv.path().join("snapshots")) {
                for s in snaps.flatten() {
                    out.insert(format!(
                        "{}/{}",
                        drv.file_name().to_string_lossy(),
                        s.file_name().to_string_lossy()
                    ));
                }
            }
        }
    }
    out
}

const BIG_MIB: usize = 100;

/// A registry holding `big:1` (busybox and [`BIG_MIB`] MiB of random
/// data) and a proxy in front of it that holds the transfer once 40% of
/// the layer bytes have gone through. Returns them with the manifest.
fn big_image_behind_a_stalling_proxy() -> (Registry, StallProxy, serde_json::Value) {
    let reg = Registry::start(None);
    let layout = Layout::big(BIG_MIB);
    reg.push_from(&layout.src("big"), "big:1", &["--format", "v2s2"]);
    let manifest: serde_json::Value = serde_json::from_slice(&reg.raw_manifest("big:1")).unwrap();
    let layer_bytes: u64 = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .sum();
    assert!(layer_bytes > (BIG_MIB as u64) << 20, "{manifest}");
    let proxy = StallProxy::start(&reg.addr(), layer_bytes * 2 / 5);
    (reg, proxy, manifest)
}

/// `docker pull NAME` in the background.
fn spawn_pull(e: &dyn DockerEngine, name: &str) -> std::process::Child {
    e.cli(&["pull", name])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The fixture itself, with dockerd (BERTH_DIST_TARGET=dockerd): a pull
/// through the proxy stops in the middle and stays there until released,
/// then completes.
fn check_stall_fixture_with_dockerd() {
    let r = Dockerd::start();
    let (_reg, proxy, _) = big_image_behind_a_stalling_proxy();
    let name = format!("{}/big:1", proxy.addr());
    let mut pull = spawn_pull(&r, &name);
    assert!(
        common::eventually(Duration::from_secs(120), || proxy.stalled()),
        "the pull did not get going"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        pull.try_wait().unwrap().is_none(),
        "the pull ended although the proxy holds it"
    );
    let held = proxy.forwarded();
    proxy.release();
    let out = common::wait_output(pull, Duration::from_secs(120), &["pull"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(proxy.forwarded() > held);
    assert_eq!(
        run_sh(&r, &name, "stat -c %s /data/random.bin"),
        (BIG_MIB << 20).to_string()
    );
}

#[test]
fn pull_killed_midway_leaves_no_half_image_and_no_orphans() {
    if skip(false) {
        return;
    }
    if dockerd_mode() {
        check_stall_fixture_with_dockerd();
        eprintln!("note: berth-only test; checked its fixture with dockerd");
        return;
    }
    let mut d = Berthd::start();
    let (reg, proxy, manifest) = big_image_behind_a_stalling_proxy();
    let name = format!("{}/big:1", proxy.addr());

    let images_before = images_state(&d);
    let blobs_before = blobs(&d);
    let snaps_before = snapshots(&d);
    assert!(
        !blobs_before.is_empty(),
        "no blobs under {:?}: the content store moved?",
        d.data_root().join("content/blobs/sha256")
    );

    let started = Instant::now();
    let mut pull = spawn_pull(&d, &name);
    let mut ended = false;
    let stalled = common::eventually(Duration::from_secs(120), || {
        ended = pull.try_wait().unwrap().is_some();
        proxy.stalled() || ended
    });
    if ended && !proxy.stalled() {
        let out = common::wait_output(pull, Duration::from_secs(10), &["pull"]);
        panic!(
            "the pull ended before the proxy held it ({} bytes from the registry; {}):\nstdout: {}\nstderr: {}",
            proxy.forwarded(),
            out.status,
            stdout(&out),
            stderr(&out)
        );
    }
    assert!(
        stalled,
        "the pull did not get going ({} bytes from the registry in {:?}):\n{}",
        proxy.forwarded(),
        started.elapsed(),
        common::tail(&d.log(), 40)
    );
    // Let the daemon write what it has received, then crash it.
    std::thread::sleep(Duration::from_millis(500));
    d.kill9();
    let out = common::wait_output(pull, Duration::from_secs(60), &["pull"]);
    assert!(
        !out.status.success(),
        "the pull succeeded although the daemon was killed:\n{}",
        stdout(&out)
    );

    d.spawn();
    assert_eq!(
        images_state(&d),
        images_before,
        "a half image after the crash"
    );
    let out = d.docker(&["image", "inspect", &name]);
    assert!(!out.status.success(), "{name} exists after the crash");
    let settled = common::eventually(Duration::from_secs(20), || {
        blobs(&d).is_subset(&blobs_before) && ingests(&d).is_empty()
    });
    if !settled {
        let orphans: Vec<String> = blobs(&d).difference(&blobs_before).cloned().collect();
        panic!(
            "after the restart the content store holds orphans {orphans:?} and ingests {:?}",
            ingests(&d)
        );
    }
    assert_eq!(blobs(&d), blobs_before, "blobs lost in the crash");
    let snaps_settled =
        common::eventually(Duration::from_secs(20), || snapshots(&d) == snaps_before);
    assert!(
        snaps_settled,
        "snapshots after the restart {:?}, before the pull {snaps_before:?}",
        snapshots(&d)
    );

    // A new pull succeeds, and leaves only the image's own blobs.
    proxy.release();
    let out = d.ok(&["pull", &name]);
    assert_contains(
        "pull after the crash",
        &out,
        "Status: Downloaded newer image",
    );
    assert_eq!(
        run_sh(&d, &name, "stat -c %s /data/random.bin"),
        (BIG_MIB << 20).to_string()
    );
    let mut allowed = blobs_before.clone();
    allowed.insert(reg.manifest_digest("big:1"));
    allowed.insert(manifest["config"]["digest"].as_str().unwrap().to_string());
    for l in manifest["layers"].as_array().unwrap() {
        allowed.insert(l["digest"].as_str().unwrap().to_string());
    }
    let diff_ids: Vec<String> =
        serde_json::from_str(&d.ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", &name]))
            .unwrap();
    allowed.extend(diff_ids);
    let extra: Vec<String> = blobs(&d).difference(&allowed).cloned().collect();
    assert!(extra.is_empty(), "blobs that belong to nothing: {extra:?}");
}
