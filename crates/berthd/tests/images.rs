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
