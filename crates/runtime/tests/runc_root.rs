//! Root-only integration tests: bundles from `spec::generate` run under the
//! real runc. They need root, runc and /bin/busybox (busybox-static). When
//! one is missing they print why and pass, unless BERTH_REQUIRE_ROOT_TESTS=1,
//! in which case they fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use berth_runtime::ErrorKind;
use berth_runtime::runc::OciRuntime;
use berth_runtime::spec::{self, SpecOptions};
use berth_runtime::user::ExecUser;

const BUSYBOX: &str = "/bin/busybox";
const APPLETS: &[&str] = &["sh", "cat", "id", "grep", "unshare", "sleep", "true"];

/// The runc binary to test with, or None (after saying why) when the
/// environment cannot run these tests.
fn require() -> Option<PathBuf> {
    let mut missing = Vec::new();
    if !rustix::process::geteuid().is_root() {
        missing.push("not running as root".to_string());
    }
    let runc = find_runc();
    if runc.is_none() {
        missing.push("runc not found on PATH, /usr/sbin or /sbin".to_string());
    }
    if !Path::new(BUSYBOX).is_file() {
        missing.push(format!("{BUSYBOX} missing (install busybox-static)"));
    }
    if missing.is_empty() {
        return runc;
    }
    let why = missing.join("; ");
    if std::env::var("BERTH_REQUIRE_ROOT_TESTS").as_deref() == Ok("1") {
        panic!("BERTH_REQUIRE_ROOT_TESTS=1 but the runc tests cannot run: {why}");
    }
    eprintln!("skipping runc integration test: {why}");
    None
}

fn find_runc() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push("/usr/sbin".into());
    dirs.push("/sbin".into());
    dirs.into_iter()
        .map(|d| d.join("runc"))
        .find(|p| p.is_file())
}

fn unique_id(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "berth-test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A bundle with a busybox rootfs, and a runc state root, both in temp
/// dirs. Dropping it force-deletes the container (whatever state it is in)
/// and removes the directories.
struct Bundle {
    runc: PathBuf,
    id: String,
    state_root: tempfile::TempDir,
    dir: tempfile::TempDir,
}

impl Bundle {
    fn new(runc: &Path, tag: &str) -> Bundle {
        let dir = tempfile::tempdir().expect("bundle temp dir");
        let state_root = tempfile::tempdir().expect("state temp dir");
        let bin = dir.path().join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(BUSYBOX, bin.join("busybox")).expect("copy busybox");
        for a in APPLETS {
            std::os::unix::fs::symlink("busybox", bin.join(a)).unwrap();
        }
        Bundle {
            runc: runc.to_path_buf(),
            id: unique_id(tag),
            state_root,
            dir,
        }
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    fn options(&self, args: &[&str]) -> SpecOptions {
        SpecOptions {
            rootfs: self.rootfs(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                "HOSTNAME=berthtest".into(),
                "HOME=/root".into(),
            ],
            hostname: "berthtest".into(),
            user: ExecUser {
                uid: 0,
                gid: 0,
                additional_gids: vec![],
                home: "/root".into(),
            },
            // One level, so that runc's delete removes it entirely.
            cgroups_path: format!("/{}", self.id),
            ..SpecOptions::default()
        }
    }

    fn write(&self, opts: &SpecOptions) {
        let s = spec::generate(opts).expect("generate spec");
        spec::write_bundle_config(self.dir.path(), &s).expect("write config.json");
    }

    fn runtime(&self) -> OciRuntime {
        OciRuntime::new(self.runc.clone(), self.state_root.path().to_path_buf())
    }

    /// `runc run` in the foreground: (exit code, stdout, stderr).
    fn run(&self) -> (i32, String, String) {
        let out = Command::new(&self.runc)
            .arg("--root")
            .arg(self.state_root.path())
            .arg("run")
            .arg("--bundle")
            .arg(self.dir.path())
            .arg(&self.id)
            .stdin(Stdio::null())
            .output()
            .expect("spawn runc run");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = Command::new(&self.runc)
            .arg("--root")
            .arg(self.state_root.path())
            .args(["delete", "--force"])
            .arg(&self.id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn default_spec_runs_with_dockers_capabilities() {
    let Some(runc) = require() else { return };
    let b = Bundle::new(&runc, "caps");
    b.write(&b.options(&[
        "/bin/sh",
        "-c",
        "id -u; cat /proc/self/status | grep CapEff",
    ]));
    let (code, stdout, stderr) = b.run();
    assert_eq!(
        code, 0,
        "runc run failed: stdout={stdout:?} stderr={stderr:?}"
    );
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    assert_eq!(
        lines,
        ["0", "CapEff:\t00000000a80425fb"],
        "stderr={stderr:?}"
    );
}

#[test]
fn exit_code_is_reported() {
    let Some(runc) = require() else { return };
    let b = Bundle::new(&runc, "exit");
    b.write(&b.options(&["/bin/sh", "-c", "exit 7"]));
    let (code, stdout, stderr) = b.run();
    assert_eq!(code, 7, "stdout={stdout:?} stderr={stderr:?}");
}

#[test]
fn seccomp_default_profile_blocks_unshare() {
    let Some(runc) = require() else { return };
    let script = "unshare -U true && echo allowed || echo blocked";

    // Docker's default profile: unshare(2) needs CAP_SYS_ADMIN.
    let b = Bundle::new(&runc, "seccomp");
    b.write(&b.options(&["/bin/sh", "-c", script]));
    let (code, stdout, stderr) = b.run();
    assert_eq!(code, 0, "stdout={stdout:?} stderr={stderr:?}");
    assert_eq!(stdout.trim(), "blocked", "stderr={stderr:?}");
    assert!(
        stderr.contains("Operation not permitted"),
        "expected EPERM from seccomp, stderr={stderr:?}"
    );
    drop(b);

    // The control: the same container with seccomp=unconfined may create a
    // user namespace, so it was the profile that refused it.
    let b = Bundle::new(&runc, "unconfined");
    let mut o = b.options(&["/bin/sh", "-c", script]);
    o.security_opt = vec!["seccomp=unconfined".into()];
    b.write(&o);
    let (code, stdout, stderr) = b.run();
    assert_eq!(code, 0, "stdout={stdout:?} stderr={stderr:?}");
    assert_eq!(stdout.trim(), "allowed", "stderr={stderr:?}");
}

#[test]
fn clone_without_namespaces_still_works() {
    // The profile allows clone(2) without namespace flags: a shell pipeline
    // forks fine; and no-new-privileges is applied.
    let Some(runc) = require() else { return };
    let b = Bundle::new(&runc, "nnp");
    let mut o = b.options(&["/bin/sh", "-c", "grep NoNewPrivs /proc/self/status | cat"]);
    o.security_opt = vec!["no-new-privileges".into()];
    b.write(&o);
    let (code, stdout, stderr) = b.run();
    assert_eq!(code, 0, "stdout={stdout:?} stderr={stderr:?}");
    assert_eq!(stdout.trim(), "NoNewPrivs:\t1");
}

async fn wait_status(rt: &OciRuntime, id: &str, want: &str) -> berth_runtime::runc::RuntimeState {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = rt.state(id).await.expect("state");
        if st.status == want {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "container {id} did not reach {want:?}, last state {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn oci_runtime_drives_a_created_container() {
    let Some(runc) = require() else { return };
    let b = Bundle::new(&runc, "life");
    b.write(&b.options(&["/bin/sleep", "1000"]));
    let rt = b.runtime();
    assert_eq!(rt.name(), "runc");
    let version = rt.version().await.expect("version");
    assert!(
        version.chars().next().is_some_and(|c| c.is_ascii_digit()),
        "{version:?}"
    );

    // Unknown ids are NotFound.
    let e = rt.state(&b.id).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    // Create as the shim does.
    let pid_file = b.dir.path().join("init.pid");
    let log_file = b.dir.path().join("runtime.log");
    let status = Command::new(rt.binary())
        .args(rt.create_args(&b.id, b.dir.path(), &pid_file, None, &log_file))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("spawn runc create");
    assert!(
        status.success(),
        "create failed: {:?}",
        OciRuntime::last_error_from_log(&log_file)
    );
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    let st = rt.state(&b.id).await.unwrap();
    assert_eq!(st.status, "created");
    assert_eq!(st.pid, pid);
    assert_eq!(st.id, b.id);
    assert_eq!(st.bundle, b.dir.path());

    rt.start(&b.id).await.expect("start");
    wait_status(&rt, &b.id, "running").await;
    let e = rt.start(&b.id).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert_eq!(rt.ps(&b.id).await.unwrap(), vec![pid]);

    rt.pause(&b.id).await.expect("pause");
    wait_status(&rt, &b.id, "paused").await;
    rt.resume(&b.id).await.expect("resume");
    wait_status(&rt, &b.id, "running").await;
    let e = rt.resume(&b.id).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");

    // Deleting a running container needs force.
    let e = rt.delete(&b.id, false).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");

    rt.kill(&b.id, 9, false).await.expect("kill");
    wait_status(&rt, &b.id, "stopped").await;
    let e = rt.kill(&b.id, 15, false).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(
        e.to_string().starts_with(&format!("runc kill {}: ", b.id)),
        "{e}"
    );

    rt.delete(&b.id, false).await.expect("delete");
    let e = rt.state(&b.id).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = rt.delete(&b.id, false).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn create_failure_is_read_from_the_log() {
    let Some(runc) = require() else { return };
    let b = Bundle::new(&runc, "fail");
    b.write(&b.options(&["/no/such/command"]));
    let rt = b.runtime();
    let pid_file = b.dir.path().join("init.pid");
    let log_file = b.dir.path().join("runtime.log");
    let status = Command::new(rt.binary())
        .args(rt.create_args(&b.id, b.dir.path(), &pid_file, None, &log_file))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("spawn runc create");
    assert!(!status.success());
    let msg = OciRuntime::last_error_from_log(&log_file).expect("an error in the log");
    assert!(msg.contains("/no/such/command"), "{msg}");
}

#[test]
fn privileged_gets_every_available_capability_and_no_seccomp() {
    let Some(runc) = require() else { return };
    let b = Bundle::new(&runc, "priv");
    let mut o = b.options(&[
        "/bin/sh",
        "-c",
        "grep -E '^(CapEff|Seccomp):' /proc/self/status",
    ]);
    o.privileged = true;
    b.write(&o);
    let (code, stdout, stderr) = b.run();
    assert_eq!(code, 0, "stdout={stdout:?} stderr={stderr:?}");
    let want_mask = berth_runtime::caps::cap_mask(berth_runtime::caps::available_caps());
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    assert_eq!(
        lines,
        [
            format!("CapEff:\t{want_mask:016x}"),
            "Seccomp:\t0".to_string()
        ]
    );
}

#[test]
fn resolved_user_runs_with_its_groups() {
    let Some(runc) = require() else { return };
    let b = Bundle::new(&runc, "user");
    let etc = b.rootfs().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    let passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
    let group = "root:x:0:\nwheel:x:10:app\napp:x:1000:\nstaff:x:50:\n";
    std::fs::write(etc.join("passwd"), passwd).unwrap();
    std::fs::write(etc.join("group"), group).unwrap();
    let user = berth_runtime::user::resolve("app", Some(passwd), Some(group), &["staff".into()])
        .expect("resolve app");
    let mut o = b.options(&["/bin/sh", "-c", "id; grep CapEff /proc/self/status"]);
    o.user = user;
    b.write(&o);
    let (code, stdout, stderr) = b.run();
    assert_eq!(code, 0, "stdout={stdout:?} stderr={stderr:?}");
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    // A non-root user keeps the bounding set but no effective capabilities,
    // as in Docker.
    assert_eq!(
        lines,
        [
            "uid=1000(app) gid=1000(app) groups=10(wheel),50(staff),1000(app)",
            "CapEff:\t0000000000000000"
        ]
    );
}
