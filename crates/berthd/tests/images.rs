//! `docker import` in every compression, and the image API around it.

mod common;

use std::process::Command;

use common::{Berthd, stderr};

#[test]
fn import_compressed_tag_inspect_and_remove() {
    require_env!();
    let d = Berthd::start();
    let tar = common::busybox_tar();
    let dir = tempfile::tempdir().unwrap();
    for (tool, ext) in [("gzip", "gz"), ("xz", "xz"), ("zstd", "zst")] {
        if common::which(tool).is_none() {
            panic!("{tool} is needed to make the test archive (apt-get install {tool})");
        }
        let out = dir.path().join(format!("bb.tar.{ext}"));
        let st = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{tool} -c < '{}' > '{}'",
                tar.display(),
                out.display()
            ))
            .status()
            .unwrap();
        assert!(st.success());
        let name = format!("bb-{ext}:1");
        let id = d.ok(&["import", out.to_str().unwrap(), &name]);
        assert!(id.starts_with("sha256:"), "{id}");
        assert_eq!(d.ok(&["run", "--rm", &name, "echo", ext]), ext);
    }
    // Import from stdin with changes.
    let bytes = std::fs::read(tar).unwrap();
    let out = d.docker_in(
        &[
            "import",
            "--change",
            "ENV FOO=bar",
            "--change",
            "WORKDIR /tmp",
            "-",
            "piped:latest",
        ],
        Some(&bytes),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        d.ok(&["run", "--rm", "piped", "sh", "-c", "echo $FOO $(pwd)"]),
        "bar /tmp"
    );

    // Listing and inspect.
    let ls = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    for want in [
        "busybox:latest",
        "bb-gz:1",
        "bb-xz:1",
        "bb-zst:1",
        "piped:latest",
    ] {
        assert!(ls.lines().any(|l| l == want), "{want} missing from {ls}");
    }
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "busybox"]);
    assert_eq!(
        d.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.Id}}",
            "docker.io/library/busybox:latest"
        ]),
        id
    );
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{.Id}}", &id[7..19]]), id);
    assert_eq!(
        d.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.Os}}/{{.Architecture}}",
            "busybox"
        ]),
        "linux/amd64"
    );

    // Tag, then remove by tag (untag), then the image itself.
    d.ok(&["tag", "busybox", "mybox:v1"]);
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{.Id}}", "mybox:v1"]), id);
    let out = d.ok(&["rmi", "mybox:v1"]);
    assert!(out.contains("Untagged: mybox:v1"), "{out}");
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]), id);

    // In use by a container: 409 unless forced.
    let gz = d.ok(&["image", "inspect", "-f", "{{.Id}}", "bb-gz:1"]);
    d.ok(&["create", "--name", "user", "bb-gz:1", "true"]);
    let out = d.docker(&["rmi", &gz]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("conflict"), "{}", stderr(&out));
    d.ok(&["rm", "user"]);
    let out = d.ok(&["rmi", "bb-gz:1"]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
    let out = d.docker(&["image", "inspect", "bb-gz:1"]);
    assert!(!out.status.success());

    // A broken archive is refused and leaves nothing.
    let before = d.ok(&["images", "-q"]);
    let out = d.docker_in(
        &["import", "-", "broken:1"],
        Some(b"this is not a tar archive at all, not even close......"),
    );
    assert!(!out.status.success());
    assert_eq!(d.ok(&["images", "-q"]), before);
}

/// `docker history`, `docker image prune` and `docker system df` on images
/// that share a layer: the figures add up and prune takes only what nothing
/// uses.
#[test]
fn history_prune_and_disk_usage() {
    require_env!();
    let d = Berthd::start();
    // Only this test's images, so the sums below are about them alone.
    for img in d.ok(&["images", "-q"]).lines() {
        d.ok(&["rmi", "-f", img]);
    }
    let tar = common::busybox_tar();
    d.ok(&[
        "import",
        "-m",
        "base layer",
        tar.to_str().unwrap(),
        "base:1",
    ]);
    // A second image on the same layer, and one container of each kind.
    d.ok(&["run", "--name", "c1", "base:1", "sh", "-c", "echo x > /new"]);
    d.ok(&["commit", "-m", "added /new", "c1", "child:1"]);

    let hist = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.ID}}|{{.Comment}}|{{.Size}}",
        "child:1",
    ]);
    let lines: Vec<&str> = hist.lines().collect();
    assert_eq!(lines.len(), 2, "{hist}");
    let child_id = d.ok(&["inspect", "-f", "{{.Id}}", "child:1"]);
    // `docker inspect` asks for a container first: a name with a registry
    // and `/` must be a 404 there, not a 501, for the CLI to go on.
    d.ok(&["tag", "child:1", "127.0.0.1:5000/x/y:1"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.Id}}", "127.0.0.1:5000/x/y:1"]),
        child_id
    );
    d.ok(&["rmi", "127.0.0.1:5000/x/y:1"]);
    let base_id = d.ok(&["inspect", "-f", "{{.Id}}", "base:1"]);
    assert!(
        lines[0].starts_with(&format!("{child_id}|added /new|")),
        "{hist}"
    );
    // The entry below is the parent image's, named by its ID as dockerd does.
    assert!(
        lines[1].starts_with(&format!("{base_id}|base layer|")),
        "{hist}"
    );

    // system df: two images, one layer shared; one stopped container.
    let df = d.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}}|{{.TotalCount}}|{{.Active}}",
    ]);
    assert!(df.contains("Images|2|1"), "{df}");
    assert!(df.contains("Containers|1|0"), "{df}");
    let (code, _, body) = d.http("GET", "/v1.50/system/df", None);
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let images = v["Images"].as_array().unwrap();
    let total: i64 = images.iter().map(|i| i["Size"].as_i64().unwrap()).sum();
    let shared: i64 = images
        .iter()
        .map(|i| i["SharedSize"].as_i64().unwrap())
        .sum();
    let layers = v["LayersSize"].as_i64().unwrap();
    // The base layer is counted in both images but stored once.
    assert!(shared > 0, "{body}");
    assert_eq!(layers, total - shared / 2, "{body}");

    // Nothing dangling: prune removes nothing.
    let out = d.ok(&["image", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space: 0B"), "{out}");
    // A running container of the child, then the child untagged (a
    // running user makes `rmi -f` only untag): dangling but used, so prune
    // keeps it.
    d.ok(&["run", "-d", "--name", "c2", "child:1", "sleep", "100"]);
    d.ok(&["rmi", "-f", "child:1"]);
    d.ok(&["image", "prune", "-f"]);
    assert!(d.docker(&["inspect", &child_id]).status.success());
    // Unused now: `prune -a` takes the child. Its tagged parent had a
    // child when the pass began, so it stays, as with dockerd (which
    // prunes only images without children).
    d.ok(&["rm", "-f", "c1", "c2"]);
    let out = d.ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains(&child_id), "{out}");
    assert!(!d.docker(&["inspect", &child_id]).status.success());
    assert!(!out.contains(&base_id), "{out}");
    assert!(d.docker(&["inspect", "base:1"]).status.success());
    // A second pass takes it.
    let out = d.ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains(&base_id), "{out}");
    assert!(!d.docker(&["inspect", "base:1"]).status.success());
}
