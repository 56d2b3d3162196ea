//! `docker run -t` under a real pseudo-terminal: the container gets a TTY
//! and window resizes reach it.

mod common;

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Berthd;
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{Winsize, tcsetwinsize};

fn pty() -> (OwnedFd, OwnedFd) {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::File::options()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    (master, slave.into())
}

fn set_size(fd: impl AsFd, rows: u16, cols: u16) {
    tcsetwinsize(
        fd,
        Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .unwrap();
}

/// Reads the master until `needle` shows up in what was read so far.
fn read_until(rx: &mpsc::Receiver<Vec<u8>>, seen: &mut String, needle: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !seen.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            Err(_) => panic!("did not see {needle:?} in the terminal; got {seen:?}"),
        }
    }
}

/// Runs the docker CLI with a fresh pty (24x80) as its terminal; returns
/// the child, the master (for input and resizes) and what the master reads.
fn docker_on_pty(
    d: &Berthd,
    args: &[&str],
) -> (std::process::Child, OwnedFd, mpsc::Receiver<Vec<u8>>) {
    let (master, slave) = pty();
    set_size(&master, 24, 80);
    let child = d
        .docker_cmd(args)
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let mut reader = std::fs::File::from(master.try_clone().unwrap());
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    (child, master, rx)
}

#[test]
fn run_t_gets_a_tty_and_resizes() {
    require_env!();
    let d = Berthd::start();
    // The CLI already resizes the TTY right after the start (a WINCH of
    // its own), so the trap reports every size and the script ends only on
    // the one this test sets later.
    let script = "tty; stty size; trap 's=$(stty size); echo size $s; [ \"$s\" = \"40 100\" ] && touch /tmp/done' WINCH; \
                  while [ ! -e /tmp/done ]; do sleep 0.1; done";
    let (mut child, master, rx) =
        docker_on_pty(&d, &["run", "-it", "--rm", "busybox", "sh", "-c", script]);
    let mut seen = String::new();
    read_until(&rx, &mut seen, "/dev/pts/", Duration::from_secs(30));
    read_until(&rx, &mut seen, "24 80", Duration::from_secs(10));
    set_size(&master, 40, 100);
    // What a terminal emulator does on resize: the CLI gets SIGWINCH and
    // sends the new size to the daemon. The CLI installs its handler only
    // after the start returns, so repeat until the container reports it.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
            rustix::process::Signal::WINCH,
        )
        .unwrap();
        while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(300)) {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        if seen.contains("size 40 100") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the resize never reached the container: {seen:?}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "docker run -t did not exit; terminal: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "terminal: {seen:?}");
}

#[test]
fn detach_keys_leave_the_container_running() {
    require_env!();
    let d = Berthd::start();
    let (mut child, master, rx) =
        docker_on_pty(&d, &["run", "-it", "--name", "det", "busybox", "sh"]);
    let mut writer = std::fs::File::from(master);
    let mut seen = String::new();
    use std::io::Write;
    writer.write_all(b"echo mark$((1+1))\r").unwrap();
    read_until(&rx, &mut seen, "mark2", Duration::from_secs(30));
    // ctrl-p ctrl-q: Docker's default detach sequence.
    writer.write_all(&[0x10, 0x11]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(50)) {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert!(
            Instant::now() < deadline,
            "docker run -it did not detach: {seen:?}"
        );
    }
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", "det"]),
        "true"
    );
    d.ok(&["rm", "-f", "det"]);
}

#[test]
fn exec_it_gets_a_tty_of_the_terminals_size() {
    require_env!();
    let d = Berthd::start();
    d.ok(&["run", "-d", "--name", "ex-tty", "busybox", "sleep", "600"]);
    let (mut child, master, rx) = docker_on_pty(&d, &["exec", "-it", "ex-tty", "sh"]);
    let mut writer = std::fs::File::from(master);
    let mut seen = String::new();
    use std::io::Write;
    writer
        .write_all(b"tty; echo size $(stty size); echo term $TERM; exit 5\r")
        .unwrap();
    read_until(&rx, &mut seen, "size 24 80", Duration::from_secs(30));
    read_until(&rx, &mut seen, "term xterm", Duration::from_secs(10));
    assert!(seen.contains("/dev/pts/"), "{seen:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "docker exec -it did not exit: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(5), "terminal: {seen:?}");
    d.ok(&["rm", "-f", "ex-tty"]);
}
