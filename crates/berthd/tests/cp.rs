//! docker cp, export and diff against berthd alone (the side-by-side
//! comparison with dockerd is in cp_differential.rs): the states, the
//! mounts, and what berth does where dockerd 20.10 differs.

mod common;

use std::collections::BTreeSet;
use std::sync::OnceLock;

use common::{stderr, stdout};

fn daemon() -> common::SharedRef {
    static D: OnceLock<common::Shared> = OnceLock::new();
    common::shared(&D)
}

/// Names in a tar stream (as `tar -t` lists them).
fn tar_names(bytes: &[u8]) -> BTreeSet<String> {
    let mut a = tar::Archive::new(bytes);
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn tar_file(bytes: &[u8], name: &str) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut a = tar::Archive::new(bytes);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy().trim_end_matches('/') == name {
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            return Some(v);
        }
    }
    None
}

#[test]
fn cp_in_and_out_in_every_state() {
    require_env!();
    let d = daemon();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in.txt"), b"into the container\n").unwrap();
    let src = host.path().join("in.txt");
    // created
    d.ok(&[
        "create",
        "--name",
        "cp-created",
        "busybox",
        "cat",
        "/tmp/in.txt",
    ]);
    d.ok(&["cp", src.to_str().unwrap(), "cp-created:/tmp/"]);
    let out = d.docker(&["start", "-a", "cp-created"]);
    assert_eq!(stdout(&out), "into the container\n", "{}", stderr(&out));
    // exited: copy out what it wrote
    d.ok(&[
        "run",
        "--name",
        "cp-exited",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /out/sub && echo result > /out/sub/r.txt",
    ]);
    let dest = host.path().join("got");
    d.ok(&["cp", "cp-exited:/out", dest.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(dest.join("sub/r.txt")).unwrap(),
        "result\n"
    );
    // running: both ways
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cp-running",
        "busybox",
        "sleep",
        "300",
    ]);
    d.ok(&["cp", src.to_str().unwrap(), "cp-running:/in.txt"]);
    let out = d.docker(&["cp", "cp-running:/in.txt", "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        tar_file(&out.stdout, "in.txt").unwrap(),
        b"into the container\n"
    );
    // errors the CLI shows
    let out = d.docker(&[
        "cp",
        "cp-running:/no/such/file",
        host.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Could not find the file /no/such/file in container cp-running"),
        "{}",
        stderr(&out)
    );
    d.ok(&["rm", "-f", "cp-created", "cp-exited", "cp-running"]);
}

#[test]
fn cp_sees_what_the_container_sees_through_its_mounts() {
    require_env!();
    let d = daemon();
    let bind = tempfile::tempdir().unwrap();
    std::fs::write(bind.path().join("hostfile"), b"from the host\n").unwrap();
    let bind_spec = format!("{}:/bound", bind.path().display());
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cp-mounts",
        "-v",
        "cpvol:/vol",
        "-v",
        &bind_spec,
        "--tmpfs",
        "/scratch",
        "busybox",
        "sh",
        "-c",
        "echo in-tmpfs > /scratch/t; echo in-volume > /vol/v; sleep 300",
    ]);
    assert!(common::eventually(
        std::time::Duration::from_secs(10),
        || {
            d.docker(&["cp", "cp-mounts:/scratch/t", "-"])
                .status
                .success()
        }
    ));
    // The tmpfs of a running container is what the container sees.
    let out = d.docker(&["cp", "cp-mounts:/scratch/t", "-"]);
    assert_eq!(tar_file(&out.stdout, "t").unwrap(), b"in-tmpfs\n");
    let out = d.docker(&["cp", "cp-mounts:/bound/hostfile", "-"]);
    assert_eq!(
        tar_file(&out.stdout, "hostfile").unwrap(),
        b"from the host\n"
    );
    // Copying into the bind writes the host directory.
    let f = bind.path().join("incoming");
    std::fs::write(&f, b"x").unwrap();
    let moved = tempfile::tempdir().unwrap();
    std::fs::rename(&f, moved.path().join("incoming")).unwrap();
    d.ok(&[
        "cp",
        moved.path().join("incoming").to_str().unwrap(),
        "cp-mounts:/bound/",
    ]);
    assert_eq!(std::fs::read(bind.path().join("incoming")).unwrap(), b"x");
    // Copying into the tmpfs lands in the tmpfs (visible to the container).
    d.ok(&[
        "cp",
        moved.path().join("incoming").to_str().unwrap(),
        "cp-mounts:/scratch/",
    ]);
    let out = d.docker(&["cp", "cp-mounts:/scratch/incoming", "-"]);
    assert_eq!(tar_file(&out.stdout, "incoming").unwrap(), b"x");
    // Stopped: the volume and the bind are still there, the tmpfs is empty.
    d.ok(&["stop", "-t", "0", "cp-mounts"]);
    let out = d.docker(&["cp", "cp-mounts:/vol/v", "-"]);
    assert_eq!(
        tar_file(&out.stdout, "v").unwrap(),
        b"in-volume\n",
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["cp", "cp-mounts:/bound/hostfile", "-"]);
    assert_eq!(
        tar_file(&out.stdout, "hostfile").unwrap(),
        b"from the host\n"
    );
    let out = d.docker(&["cp", "cp-mounts:/scratch/t", "-"]);
    assert!(!out.status.success());
    d.ok(&["rm", "-f", "-v", "cp-mounts"]);
    d.ok(&["volume", "rm", "cpvol"]);
}

#[test]
fn read_only_targets_refuse_extraction() {
    require_env!();
    let d = daemon();
    let host = tempfile::tempdir().unwrap();
    let f = host.path().join("f");
    std::fs::write(&f, b"x").unwrap();
    let ro_bind = format!("{}:/ro:ro", host.path().display());
    for state in ["created", "running"] {
        let name = format!("cp-ro-{state}");
        let mut args = vec![
            "create",
            "--name",
            name.as_str(),
            "--read-only",
            "-v",
            ro_bind.as_str(),
            "busybox",
            "sleep",
            "300",
        ];
        if state == "running" {
            args[0] = "run";
            args.insert(1, "-d");
        }
        d.ok(&args);
        let out = d.docker(&["cp", f.to_str().unwrap(), &format!("{name}:/tmp/")]);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("container rootfs is marked read-only"),
            "{state}: {}",
            stderr(&out)
        );
        let out = d.docker(&["cp", f.to_str().unwrap(), &format!("{name}:/ro/")]);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("mounted volume is marked read-only"),
            "{state}: {}",
            stderr(&out)
        );
        d.ok(&["rm", "-f", &name]);
    }
}

#[test]
fn diff_and_export() {
    require_env!();
    let d = daemon();
    d.ok(&[
        "run", "--name", "cp-diff", "-v", "/anonvol", "busybox", "sh", "-c",
        "echo new > /tmp/added; echo changed >> /etc/passwd; rm -r /home; mkdir -p /var/spool/mail/deep",
    ]);
    let diff = d.ok(&["diff", "cp-diff"]);
    let lines: BTreeSet<&str> = diff.lines().collect();
    for want in [
        "A /tmp/added",
        "C /etc/passwd",
        "D /home",
        "C /tmp",
        "C /etc",
        "A /var/spool/mail/deep",
    ] {
        assert!(lines.contains(want), "{want} missing from diff:\n{diff}");
    }
    // Mount points are listed, as dockerd lists them; the daemon's own
    // files never are.
    assert!(lines.contains("A /anonvol"), "{diff}");
    for never in [
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
        "/.dockerenv",
    ] {
        assert!(
            !diff.lines().any(|l| l.ends_with(never)),
            "{never} in diff:\n{diff}"
        );
    }
    let out = d.docker(&["export", "cp-diff"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let names = tar_names(&out.stdout);
    for want in [
        "tmp/added",
        ".dockerenv",
        "etc/hostname",
        "etc/hosts",
        "etc/resolv.conf",
        "bin/busybox",
    ] {
        assert!(
            names.iter().any(|n| n.trim_end_matches('/') == want),
            "{want} missing from export"
        );
    }
    assert!(
        !names.iter().any(|n| n.starts_with("home")),
        "a deleted dir is exported"
    );
    assert!(
        tar_file(&out.stdout, "etc/passwd")
            .unwrap()
            .ends_with(b"changed\n")
    );
    d.ok(&["rm", "-v", "cp-diff"]);
}
