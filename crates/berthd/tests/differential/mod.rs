//! The differential harness: every scenario runs the same docker CLI
//! commands against berthd and against Debian's dockerd (20.10), each in its
//! own scratch directory, and records observations — exit codes, normalised
//! stdout/stderr, trees (host directories, tar streams, what a container
//! sees). The two records are compared label by label; where dockerd 20.10
//! is known to be wrong or unsafe the scenario states berth's expected
//! result explicitly instead (`Side::expect`).
//!
//! One dockerd and one berthd serve the whole test binary; they are stopped
//! at process exit (an `atexit` hook: statics are never dropped), so a
//! failing test leaves nothing behind.
//!
//! Knobs: `BERTH_DIFF_ONLY=substr` runs only matching scenarios;
//! `BERTH_DIFF_DUMP=1` prints every observation of both daemons.

pub mod fixture;
pub mod tree;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::Output;
use std::sync::{OnceLock, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use crate::common::{self, Berthd, DockerEngine, Dockerd, stderr, stdout};

pub use tree::{host_tree, line_diff, parse_tar, tar_tree};

/// Both daemons, their shared fixtures, and a scratch root.
pub struct Pair {
    dockerd: RwLock<Option<Dockerd>>,
    berthd: RwLock<Option<Berthd>>,
    /// The fixture image tarball and a copy of the fixture tree.
    _fixtures: tempfile::TempDir,
    scratch: tempfile::TempDir,
}

static PAIR: OnceLock<Result<Pair, String>> = OnceLock::new();

/// The shared pair, started on first use; None when the environment
/// cannot run these tests (the reason is printed; under
/// BERTH_REQUIRE_ROOT_TESTS=1 that is a failure instead).
pub fn pair() -> Option<&'static Pair> {
    if let Some(why) = common::prerequisites().or_else(common::dockerd_prerequisites) {
        eprintln!("SKIPPED: {why}");
        return None;
    }
    match PAIR.get_or_init(start_pair) {
        Ok(p) => Some(p),
        Err(e) => panic!("the differential pair did not start: {e}"),
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else {
        "panic".into()
    }
}

fn start_pair() -> Result<Pair, String> {
    // Registered before anything starts: whatever does start is stopped at
    // exit even if the rest fails.
    // SAFETY: `stop_pair_at_exit` is an `extern "C" fn()` that never
    // unwinds (it catches panics); atexit only stores the pointer.
    unsafe {
        libc::atexit(stop_pair_at_exit);
    }
    check_client_version()?;
    let fixtures = tempfile::Builder::new()
        .prefix("bdiff-fx-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let tar = fixture::build_image_tar(fixtures.path());
    let (d, b) = std::thread::scope(|s| {
        let d = s.spawn(|| std::panic::catch_unwind(Dockerd::start));
        let b = s.spawn(|| std::panic::catch_unwind(Berthd::start));
        (d.join().unwrap(), b.join().unwrap())
    });
    let d = d.map_err(|p| format!("dockerd: {}", panic_text(&*p)));
    let b = b.map_err(|p| format!("berthd: {}", panic_text(&*p)));
    let (d, b) = match (d, b) {
        (Ok(d), Ok(b)) => (d, b),
        (d, b) => {
            let mut why = Vec::new();
            if let Err(e) = &d {
                why.push(e.clone());
            }
            if let Err(e) = &b {
                why.push(e.clone());
            }
            return Err(why.join("; "));
        }
    };
    for e in [&d as &dyn DockerEngine, &b] {
        let out = e.run_cli(
            &[
                "import",
                "--change",
                "CMD [\"sh\"]",
                tar.to_str().unwrap(),
                fixture::IMAGE,
            ],
            None,
            None,
            Duration::from_secs(120),
        );
        if !out.status.success() {
            return Err(format!(
                "{}: importing the fixture image failed: {}",
                e.name(),
                stderr(&out)
            ));
        }
    }
    let scratch = tempfile::Builder::new()
        .prefix("bdiff-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    Ok(Pair {
        dockerd: RwLock::new(Some(d)),
        berthd: RwLock::new(Some(b)),
        _fixtures: fixtures,
        scratch,
    })
}

/// The tests drive the docker CLI 28 that is first on PATH
/// (/usr/local/bin/docker); Debian's docker.io also installs its own 20.10
/// client in /usr/bin, which must not be the one used.
fn check_client_version() -> Result<(), String> {
    let out = std::process::Command::new("docker")
        .args(["version", "--format", "{{.Client.Version}}"])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .output()
        .map_err(|e| format!("docker CLI: {e}"))?;
    let v = stdout(&out).trim().to_string();
    let major: u32 = v
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < 28 {
        return Err(format!(
            "the docker CLI first on PATH is version {v:?} ({}); these tests need the v28 client \
             (/usr/local/bin/docker), not docker.io's",
            common::which("docker")
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ));
    }
    Ok(())
}

extern "C" fn stop_pair_at_exit() {
    let _ = std::panic::catch_unwind(|| {
        if let Some(Ok(p)) = PAIR.get() {
            // Take them out: their Drops stop the daemons and clean up.
            let d = p.dockerd.write().ok().and_then(|mut g| g.take());
            let b = p.berthd.write().ok().and_then(|mut g| g.take());
            std::thread::scope(|s| {
                s.spawn(move || drop(d));
                s.spawn(move || drop(b));
            });
            // The TempDirs live in the static: remove them by hand.
            for dir in [p.scratch.path(), p._fixtures.path()] {
                common::unmount_under(dir);
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    });
}

/// Which state the container under test is in when the operation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Created, never started.
    Created,
    /// Running (its command waits for a trigger file).
    Running,
    /// Ran to completion.
    Exited,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Exited => "exited",
        }
    }
}

/// One side of a scenario: one daemon, one scratch directory (the CLI's
/// working directory), and what was observed.
pub struct Side<'a> {
    pub engine: &'a dyn DockerEngine,
    pub work: PathBuf,
    pub scenario: String,
    obs: Vec<(String, String)>,
    failures: Vec<String>,
    containers: Vec<String>,
    volumes: Vec<String>,
}

const CLI_TIMEOUT: Duration = Duration::from_secs(90);

/// The shell function a probe container runs to list what it sees:
/// one line per entry under each directory of $PROBE_DIRS, sorted.
const PROBE_LIST: &str = r#"
probe_list() {
  for d in $PROBE_DIRS; do
    echo "@@ $d"
    if [ ! -e "$d" ] && [ ! -L "$d" ]; then echo "(missing)"; continue; fi
    if [ ! -d "$d" ]; then echo "(not a directory)"; continue; fi
    ( cd "$d" && find . | sort | while IFS= read -r p; do
        t=$(stat -c %Y "$p"); [ "$t" -ge 1300000000 ] && t=recent
        if [ -L "$p" ]; then echo "$p symlink $(stat -c '%a %u:%g' "$p") -> $(readlink "$p") t=$t"
        elif [ -d "$p" ]; then echo "$p dir $(stat -c '%a %u:%g' "$p") t=$t"
        elif [ -f "$p" ]; then echo "$p file $(stat -c '%a %u:%g size=%s nlink=%h' "$p") sha=$(sha256sum < "$p" | cut -c1-16) t=$t"
        else echo "$p $(stat -c '%F %a %u:%g dev=%t,%T' "$p") t=$t"; fi
      done )
  done
  echo "@@end"
}
if [ -e /.probe-ran ]; then probe_list; exit 0; fi
: > /.probe-ran 2>/dev/null
eval "$PROBE_SETUP"
echo "@@ready"
case "$PROBE_MODE" in
  running) while [ ! -e /.probe-go ]; do sleep 0.05; done; probe_list ;;
  created) probe_list ;;
esac
"#;

impl<'a> Side<'a> {
    pub fn is_berth(&self) -> bool {
        self.engine.name() == "berthd"
    }

    /// `base` prefixed with the scenario, so concurrent scenarios never
    /// share a container or volume name. Identical on both daemons.
    pub fn name(&self, base: &str) -> String {
        format!("{}-{base}", self.scenario)
    }

    /// Runs the CLI in the scratch directory; records nothing.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.engine
            .run_cli(args, None, Some(&self.work), CLI_TIMEOUT)
    }

    pub fn docker_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.engine
            .run_cli(args, Some(stdin), Some(&self.work), CLI_TIMEOUT)
    }

    /// A setup step that must succeed; returns trimmed stdout.
    pub fn must(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "{} setup step `docker {}` failed ({}):\nstdout: {}\nstderr: {}\n--- {} log tail ---\n{}",
            self.engine.name(),
            args.join(" "),
            out.status,
            stdout(&out),
            stderr(&out),
            self.engine.name(),
            common::tail(&self.engine.daemon_log(), 30)
        );
        stdout(&out).trim().to_string()
    }

    /// Records an observation compared across the daemons.
    pub fn record(&mut self, label: &str, value: impl Into<String>) {
        let value = value.into();
        if std::env::var("BERTH_DIFF_DUMP").as_deref() == Ok("1") {
            eprintln!(
                "[{}] {} / {label}:\n{}",
                self.engine.name(),
                self.scenario,
                indent(&value)
            );
        }
        self.obs.push((label.to_string(), value));
    }

    /// An engine-specific expectation (where dockerd 20.10 is known to be
    /// wrong or unsafe): checked here, not compared across the daemons.
    pub fn expect(&mut self, label: &str, actual: &str, expected: &str) {
        if std::env::var("BERTH_DIFF_DUMP").as_deref() == Ok("1") {
            eprintln!(
                "[{}] {} / {label} (expected per daemon):\n{}",
                self.engine.name(),
                self.scenario,
                indent(actual)
            );
        }
        if actual != expected {
            self.failures.push(format!(
                "{} / {label}: {} gave\n{}\nexpected\n{}\ndiff (- expected, + actual):\n{}",
                self.scenario,
                self.engine.name(),
                indent(actual),
                indent(expected),
                line_diff(expected, actual)
            ));
        }
    }

    /// A free-form failure on this side.
    pub fn fail(&mut self, msg: String) {
        self.failures
            .push(format!("{} / {}: {msg}", self.scenario, self.engine.name()));
    }

    /// Replaces what differs between the daemons and runs for reasons
    /// that are not semantics: scratch paths, container ids; drops the
    /// CLI's racy log lines about a pipe the daemon closed first.
    pub fn normalize(&self, text: &str) -> String {
        let mut t = text.to_string();
        let work = self.work.to_string_lossy().into_owned();
        t = t.replace(&work, "$WORK");
        if let Ok(c) = self.work.canonicalize() {
            t = t.replace(&*c.to_string_lossy(), "$WORK");
        }
        let t = strip_dockerd_rootfs(&replace_hex_ids(&t));
        t.lines()
            .filter(|l| {
                // The CLI's tar writer logs these when the daemon answered
                // before reading the whole body; whether it does is a race.
                !(l.contains("level=error")
                    && (l.contains("Can't add file") || l.contains("Can't close tar writer")))
            })
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// Runs a CLI command whose result is compared: exit code, normalised
    /// stdout and stderr. Returns the raw output.
    pub fn cli(&mut self, label: &str, args: &[&str]) -> Output {
        let out = self.docker(args);
        let text = self.cli_text(args, &out, true);
        self.record(label, text);
        out
    }

    /// Like `cli`, with `stdin` fed.
    pub fn cli_stdin(&mut self, label: &str, args: &[&str], stdin: &[u8]) -> Output {
        let out = self.docker_stdin(args, stdin);
        let text = self.cli_text(args, &out, true);
        self.record(label, text);
        out
    }

    fn cli_text(&self, args: &[&str], out: &Output, with_stdout: bool) -> String {
        let mut text = format!(
            "$ docker {}\nexit={}\n",
            self.normalize(&args.join(" ")).trim_end(),
            out.status.code().map_or("signal".into(), |c| c.to_string())
        );
        if with_stdout && !out.stdout.is_empty() {
            text.push_str("stdout:\n");
            text.push_str(&indent(&self.normalize(&stdout(out))));
        }
        if !out.stderr.is_empty() {
            text.push_str("stderr:\n");
            text.push_str(&indent(&self.normalize(&stderr(out))));
        }
        text
    }

    /// Records the host tree under `rel` (relative to the scratch dir).
    pub fn tree(&mut self, label: &str, rel: &str) {
        let lines = host_tree(&self.work.join(rel));
        self.record(label, lines.join("\n"));
    }

    /// Creates a container (always `--network none`) in `state`, with the
    /// scenario label so it is removed at the end. For `Running`, `cmd`
    /// must keep it running. Returns its name.
    pub fn container(
        &mut self,
        base: &str,
        state: State,
        opts: &[&str],
        image: &str,
        cmd: &[&str],
    ) -> String {
        let name = self.name(base);
        self.containers.push(name.clone());
        let mut args: Vec<&str> = match state {
            State::Created => vec!["create"],
            State::Running => vec!["run", "-d"],
            State::Exited => vec!["run"],
        };
        args.extend(["--name", &name, "--network", "none"]);
        args.extend(opts);
        args.push(image);
        args.extend(cmd);
        if state != State::Exited {
            self.must(&args);
            return name;
        }
        let out = self.docker(&args);
        if !out.status.success() {
            // If the container did run to completion, the failure is the
            // CLI's report of `run`, not the state the scenario needs:
            // record it as a failure of its own and go on with the
            // scenario, so it does not hide the results of the copy.
            let st = self.docker(&[
                "inspect",
                "-f",
                "{{.State.Status}} {{.State.ExitCode}}",
                &name,
            ]);
            if stdout(&st).trim() == "exited 0" {
                let msg = format!(
                    "setup `docker run` of {name} failed although the container ran to completion: {}",
                    stderr(&out).trim()
                );
                self.fail(msg);
            } else {
                self.must(&["inspect", &name]);
                panic!(
                    "{}: setup `docker run {name}` failed ({}): {}",
                    self.engine.name(),
                    out.status,
                    stderr(&out)
                );
            }
        }
        self.wait_state(&name, "exited");
        name
    }

    fn wait_state(&self, name: &str, want: &str) {
        let ok = common::eventually(Duration::from_secs(30), || {
            let out = self.docker(&["inspect", "-f", "{{.State.Status}}", name]);
            stdout(&out).trim() == want
        });
        assert!(ok, "{}: {name} did not become {want}", self.engine.name());
    }

    /// A probe container from the fixture image: runs `setup` (when it is
    /// first started), then, by state, exits (Exited), waits for the probe
    /// trigger (Running) or does nothing until `probe` starts it (Created).
    /// `probe` later prints what the container sees under `dirs`.
    pub fn probe_container(
        &mut self,
        base: &str,
        state: State,
        opts: &[&str],
        setup: &str,
        dirs: &[&str],
    ) -> String {
        let env_setup = format!("PROBE_SETUP={setup}");
        let env_mode = format!("PROBE_MODE={}", state.name());
        let env_dirs = format!("PROBE_DIRS={}", dirs.join(" "));
        let mut all: Vec<&str> = vec!["-e", &env_setup, "-e", &env_mode, "-e", &env_dirs];
        all.extend(opts);
        let name = self.container(base, state, &all, fixture::IMAGE, &["sh", "-c", PROBE_LIST]);
        if state == State::Running {
            let ok = common::eventually(Duration::from_secs(30), || {
                stdout(&self.docker(&["logs", &name])).contains("@@ready")
            });
            assert!(ok, "{}: {name} never got ready", self.engine.name());
        }
        name
    }

    /// What the probe container sees now (for Running: it is triggered
    /// by a file copied in with `docker cp`, then waited for). Ends the
    /// container's run. The listing, or a line saying why there is none.
    pub fn probe(&mut self, name: &str, state: State) -> String {
        let out = match state {
            State::Created | State::Exited => {
                self.engine
                    .run_cli(&["start", "-a", name], None, Some(&self.work), CLI_TIMEOUT)
            }
            State::Running => {
                let go = self.work.join(".probe-go");
                std::fs::write(&go, "").unwrap();
                let target = format!("{name}:/.probe-go");
                let cp = self.docker(&["cp", go.to_str().unwrap(), &target]);
                if !cp.status.success() {
                    return format!("(probe trigger not delivered: {})", stderr(&cp).trim());
                }
                let waited = self.engine.run_cli(
                    &["wait", name],
                    None,
                    Some(&self.work),
                    Duration::from_secs(30),
                );
                if !waited.status.success() {
                    return format!("(docker wait failed: {})", stderr(&waited).trim());
                }
                self.docker(&["logs", name])
            }
        };
        let text = stdout(&out);
        // Logs (running) and `start -a` (created) hold "@@ready" and any
        // setup output before the listing.
        let after = text
            .rfind("@@ready\n")
            .map_or(&text[..], |i| &text[i + 8..]);
        match after.find("@@ ") {
            Some(i) => after[i..].to_string(),
            None => format!(
                "(no listing: exit {:?}: {}{})",
                out.status.code(),
                text.trim(),
                stderr(&out).trim()
            ),
        }
    }

    /// A named volume for this scenario (removed at the end).
    pub fn volume(&mut self, base: &str) -> String {
        let name = self.name(base);
        self.must(&["volume", "create", &name]);
        self.volumes.push(name.clone());
        name
    }

    /// Lists what a fresh container sees in volume `vol` (mounted at /v).
    pub fn volume_listing(&mut self, vol: &str) -> String {
        let mount = format!("{vol}:/v");
        let out = self.docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-e",
            "PROBE_DIRS=/v",
            "-e",
            "PROBE_MODE=created",
            "-v",
            &mount,
            fixture::IMAGE,
            "sh",
            "-c",
            PROBE_LIST,
        ]);
        let text = stdout(&out);
        match text.find("@@ /v") {
            Some(i) => text[i..].to_string(),
            None => format!("(no listing: {})", stderr(&out).trim()),
        }
    }

    fn cleanup(&mut self) {
        if !self.containers.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            let names = self.containers.clone();
            args.extend(names.iter().map(String::as_str));
            let _ = self.docker(&args);
        }
        for v in self.volumes.clone() {
            let _ = self.docker(&["volume", "rm", "-f", &v]);
        }
        // Containers may have created root-owned or special files here.
        common::unmount_under(&self.work);
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

/// Container ids (64 or 12 lowercase hex digits as a word) → `$ID`.
fn replace_hex_ids(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let is_hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
        if is_hex(b[i]) && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let mut j = i;
            while j < b.len() && is_hex(b[j]) {
                j += 1;
            }
            let boundary = j == b.len() || !b[j].is_ascii_alphanumeric();
            if boundary && (j - i == 64 || j - i == 12) {
                out.push_str("$ID");
                i = j;
                continue;
            }
            out.push_str(&s[i..j]);
            i = j;
            continue;
        }
        let ch = s[i..].chars().next().unwrap();
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// dockerd 20.10 works on the rootfs mounted in the host's namespace and
/// its errors name host paths (`lstat /var/lib/docker/overlay2/ID/merged/p:
/// not a directory`); current Docker, working inside the container's
/// filesystem, and berth name the container path (`lstat /p: …`). The
/// host prefix is removed so the rest of the message is compared.
fn strip_dockerd_rootfs(s: &str) -> String {
    const MARK: &str = "/overlay2/$ID/merged";
    let mut out = String::new();
    for line in s.split_inclusive('\n') {
        let mut l = line.to_string();
        while let Some(end) = l.find(MARK) {
            let start = l[..end].rfind([' ', '"', '\'']).map_or(0, |i| i + 1);
            l.replace_range(start..end + MARK.len(), "");
        }
        out.push_str(&l);
    }
    out
}

/// What one side produced.
struct SideResult {
    engine: &'static str,
    obs: Vec<(String, String)>,
    failures: Vec<String>,
    aborted: Option<String>,
}

pub type Scenario = fn(&mut Side);

fn run_side(
    pair: &Pair,
    engine: &dyn DockerEngine,
    test: &str,
    scenario: &str,
    f: Scenario,
) -> SideResult {
    let work = pair
        .scratch
        .path()
        .join(test)
        .join(scenario)
        .join(engine.name());
    std::fs::create_dir_all(&work).unwrap();
    let mut side = Side {
        engine,
        work,
        scenario: scenario.to_string(),
        obs: Vec::new(),
        failures: Vec::new(),
        containers: Vec::new(),
        volumes: Vec::new(),
    };
    let r = std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut side)));
    side.cleanup();
    SideResult {
        engine: engine.name(),
        obs: side.obs,
        failures: side.failures,
        aborted: r.err().map(|p| panic_text(&*p)),
    }
}

fn guard<T>(l: &RwLock<Option<T>>) -> RwLockReadGuard<'_, Option<T>> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

/// Runs each scenario on both daemons at once and compares. Panics at the
/// end with every difference found (all scenarios run regardless).
pub fn run_scenarios(test: &str, scenarios: &[(&str, Scenario)]) {
    let Some(pair) = pair() else {
        return;
    };
    let only = std::env::var("BERTH_DIFF_ONLY").ok();
    let mut report = String::new();
    let mut summary = Vec::new();
    for (name, f) in scenarios {
        if let Some(o) = &only
            && !name.contains(o.as_str())
        {
            continue;
        }
        let started = Instant::now();
        let d = guard(&pair.dockerd);
        let b = guard(&pair.berthd);
        let (Some(d), Some(b)) = (d.as_ref(), b.as_ref()) else {
            panic!("the daemons are gone");
        };
        let (rd, rb) = std::thread::scope(|s| {
            let hd = s.spawn(|| run_side(pair, d, test, name, *f));
            let hb = s.spawn(|| run_side(pair, b, test, name, *f));
            (hd.join().unwrap(), hb.join().unwrap())
        });
        let diff = compare(name, &rd, &rb);
        let verdict = if diff.is_empty() { "same" } else { "DIFFERS" };
        summary.push(format!(
            "  {verdict:8} {name} ({:.1}s)",
            started.elapsed().as_secs_f64()
        ));
        report.push_str(&diff);
    }
    eprintln!("{test}:\n{}", summary.join("\n"));
    if !report.is_empty() {
        panic!("{test}: berthd differs from dockerd (- dockerd, + berthd):\n{report}");
    }
}

fn compare(name: &str, d: &SideResult, b: &SideResult) -> String {
    let mut out = String::new();
    if let Some(why) = &d.aborted {
        out.push_str(&format!(
            "\n=== {name}: the {} side failed (harness or scenario bug): {why}\n",
            d.engine
        ));
    }
    if let Some(why) = &b.aborted {
        out.push_str(&format!(
            "\n=== {name}: the {} side aborted: {why}\n",
            b.engine
        ));
    }
    for f in d.failures.iter().chain(&b.failures) {
        out.push_str(&format!("\n=== {f}\n"));
    }
    let labels: Vec<&String> = {
        let mut l: Vec<&String> = d.obs.iter().map(|(k, _)| k).collect();
        for (k, _) in &b.obs {
            if !l.contains(&k) {
                l.push(k);
            }
        }
        l
    };
    for label in labels {
        let dv = d.obs.iter().find(|(k, _)| k == label).map(|(_, v)| v);
        let bv = b.obs.iter().find(|(k, _)| k == label).map(|(_, v)| v);
        match (dv, bv) {
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => {
                out.push_str(&format!("\n=== {name} / {label}:\n{}", line_diff(x, y)));
            }
            (Some(x), None) => {
                if b.aborted.is_none() {
                    out.push_str(&format!(
                        "\n=== {name} / {label}: only dockerd recorded:\n{}",
                        indent(x)
                    ));
                }
            }
            (None, Some(y)) => out.push_str(&format!(
                "\n=== {name} / {label}: only berthd recorded:\n{}",
                indent(y)
            )),
            (None, None) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_ids_are_replaced_as_words_only() {
        let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            super::replace_hex_ids(&format!("container {id} and 0123456789ab, not deadbeef")),
            "container $ID and $ID, not deadbeef"
        );
        assert_eq!(super::replace_hex_ids("x0123456789ab"), "x0123456789ab");
        assert_eq!(
            super::strip_dockerd_rootfs(
                "lstat /tmp/bdd-x/root/overlay2/$ID/merged/fx/f: not a directory\n"
            ),
            "lstat /fx/f: not a directory\n"
        );
    }
}
