//! `docker events` end to end: what happens to containers, images and
//! volumes is reported in order, filtered, replayed and streamed live.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Berthd, stderr, stdout};

fn now() -> String {
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}

/// `docker events` between two instants, as (Type, Action, Actor.ID,
/// attributes) in order.
fn events(d: &Berthd, since: &str, until: &str, filters: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec![
        "events",
        "--since",
        since,
        "--until",
        until,
        "--format",
        "{{json .}}",
    ];
    for f in filters {
        args.push("--filter");
        args.push(f);
    }
    let out = d.docker(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn actions(evs: &[serde_json::Value]) -> Vec<String> {
    evs.iter()
        .map(|e| {
            format!(
                "{} {}",
                e["Type"].as_str().unwrap(),
                e["Action"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn what_happens_is_reported_in_order_and_filtered() {
    require_env!();
    let d = Berthd::start();
    let t0 = now();
    std::thread::sleep(Duration::from_millis(20));
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "ev-c",
        "--label",
        "tier=front",
        "busybox",
        "sleep",
        "600",
    ]);
    d.ok(&["exec", "ev-c", "true"]);
    d.ok(&["stop", "-t", "1", "ev-c"]);
    d.ok(&["rm", "ev-c"]);
    d.ok(&["volume", "create", "ev-vol"]);
    d.ok(&["volume", "rm", "ev-vol"]);
    d.ok(&["tag", "busybox", "ev-img:1"]);
    d.ok(&["rmi", "ev-img:1"]);
    std::thread::sleep(Duration::from_millis(20));
    let t1 = now();

    let all = events(&d, &t0, &t1, &[]);
    let got = actions(&all);
    let want = [
        "container create",
        "container attach",
        "container start",
        // dockerd's spelling: entrypoint, space, arguments.
        "container exec_create: true ",
        "container exec_start: true ",
        "container exec_die",
        // SIGTERM, which `sleep` as pid 1 ignores, then SIGKILL.
        "container kill",
        "container kill",
        "container die",
        "container stop",
        "container destroy",
        "volume create",
        "volume destroy",
        "image tag",
        "image untag",
    ];
    // In this order, with nothing unexpected between (docker run -d does
    // not attach, so no attach event is expected either).
    let want: Vec<&str> = want
        .iter()
        .copied()
        .filter(|w| *w != "container attach")
        .collect();
    assert_eq!(got, want, "{all:#?}");
    let create = &all[0];
    assert_eq!(create["Actor"]["ID"], id.as_str());
    assert_eq!(create["Actor"]["Attributes"]["name"], "ev-c");
    assert_eq!(create["Actor"]["Attributes"]["image"], "busybox");
    assert_eq!(create["Actor"]["Attributes"]["tier"], "front");
    assert_eq!(create["scope"], "local");
    assert!(create["timeNano"].as_i64().unwrap() > 0);
    let die = all.iter().find(|e| e["Action"] == "die").unwrap();
    assert_eq!(die["Actor"]["Attributes"]["exitCode"], "137");
    let kills: Vec<&serde_json::Value> = all
        .iter()
        .filter(|e| e["Action"] == "kill")
        .map(|e| &e["Actor"]["Attributes"]["signal"])
        .collect();
    assert_eq!(kills, ["15", "9"]);
    let exec_die = all.iter().find(|e| e["Action"] == "exec_die").unwrap();
    assert_eq!(exec_die["Actor"]["Attributes"]["exitCode"], "0");
    assert!(
        exec_die["Actor"]["Attributes"]["execID"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
    let tag = all.iter().find(|e| e["Action"] == "tag").unwrap();
    assert_eq!(tag["Actor"]["Attributes"]["name"], "ev-img:1");

    // Filters, as dockerd applies them.
    assert_eq!(
        events(&d, &t0, &t1, &["type=volume"]).len(),
        2,
        "type=volume"
    );
    assert_eq!(
        actions(&events(&d, &t0, &t1, &["event=create"])),
        ["container create", "volume create"]
    );
    assert_eq!(events(&d, &t0, &t1, &["container=ev-c"]).len(), 10);
    assert_eq!(events(&d, &t0, &t1, &["container=nope"]).len(), 0);
    assert_eq!(events(&d, &t0, &t1, &["label=tier=front"]).len(), 10);
    assert_eq!(events(&d, &t0, &t1, &["event=exec_start"]).len(), 1);
    assert_eq!(
        events(
            &d,
            &t0,
            &t1,
            &["type=container", "event=die", "event=start"]
        )
        .len(),
        2
    );

    // Older clients get the legacy fields.
    let out = d
        .docker_cmd(&[
            "events",
            "--since",
            &t0,
            "--until",
            &t1,
            "--format",
            "{{json .}}",
        ])
        .env("DOCKER_API_VERSION", "1.41")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let first: serde_json::Value =
        serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(first["status"], "create");
    assert_eq!(first["id"], id.as_str());
    assert_eq!(first["from"], "busybox");

    // A filter dockerd does not know is refused.
    let out = d.docker(&[
        "events",
        "--since",
        &t0,
        "--until",
        &t1,
        "--filter",
        "colour=red",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid filter 'colour'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn live_events_reach_a_listening_client() {
    require_env!();
    let d = Berthd::start();
    let mut child = d
        .docker_cmd(&[
            "events",
            "--filter",
            "type=volume",
            "--format",
            "{{.Action}} {{.Actor.ID}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    // The subscription is in place once the CLI has its response headers;
    // create volumes until one is seen (the first may come too early).
    let mut seen = None;
    for i in 0..50 {
        d.ok(&["volume", "create", &format!("live-{i}")]);
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen = Some(line);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = seen.expect("no live event arrived");
    assert!(line.starts_with("create live-"), "{line}");
    // Container events were filtered out: only volume creates are seen.
    while let Ok(l) = rx.try_recv() {
        assert!(l.starts_with("create live-"), "{l}");
    }
}
