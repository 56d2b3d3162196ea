//! The OCI process of a `docker exec`: the container's own process (user,
//! capabilities, rlimits, no_new_privileges, apparmor, oom score) from the
//! bundle's `config.json`, with the exec's argv, environment, working dir,
//! user and terminal (moby `daemon/exec_linux.go` execSetPlatformOpt and
//! `daemon/exec.go` ContainerExecStart).

use serde_json::{Value, json};

use crate::caps;
use crate::error::{Error, ErrorKind};
use crate::user::ExecUser;

#[derive(Debug, Clone, Default)]
pub struct ExecProcess {
    pub args: Vec<String>,
    /// The whole environment (the daemon merges the container's and the
    /// exec's, as moby does). Without HOME, the runtime sets the user's.
    pub env: Vec<String>,
    /// Empty: the container's working dir.
    pub cwd: String,
    pub tty: bool,
    /// `(height, width)`.
    pub console_size: Option<(u16, u16)>,
    /// `None`: the container's user.
    pub user: Option<ExecUser>,
    /// `--privileged`: every capability.
    pub privileged: bool,
}

/// The `process.json` for `runc exec --process`, from the container's
/// `config.json`.
pub fn process_json(config_json: &[u8], p: &ExecProcess) -> Result<Vec<u8>, Error> {
    let bad = |e: serde_json::Error| {
        Error::with_source(ErrorKind::Internal, "read the container's config.json", e)
    };
    let mut spec: Value = serde_json::from_slice(config_json).map_err(bad)?;
    let mut proc = spec
        .get_mut("process")
        .map(Value::take)
        .filter(Value::is_object)
        .ok_or_else(|| Error::new(ErrorKind::Internal, "config.json has no process"))?;
    let obj = proc.as_object_mut().expect("checked is_object");
    obj.insert("args".into(), json!(p.args));
    obj.insert("env".into(), json!(p.env));
    if !p.cwd.is_empty() {
        obj.insert("cwd".into(), json!(p.cwd));
    }
    obj.insert("terminal".into(), json!(p.tty));
    obj.remove("consoleSize");
    if let (true, Some((h, w))) = (p.tty, p.console_size)
        && (h > 0 || w > 0)
    {
        obj.insert("consoleSize".into(), json!({"height": h, "width": w}));
    }
    if let Some(u) = &p.user {
        // moby getUser: the primary gid first, then the supplementary ones.
        let mut gids = vec![u.gid];
        for g in &u.additional_gids {
            if !gids.contains(g) {
                gids.push(*g);
            }
        }
        obj.insert(
            "user".into(),
            json!({"uid": u.uid, "gid": u.gid, "additionalGids": gids}),
        );
    }
    if p.privileged {
        let all = caps::available_caps();
        obj.insert(
            "capabilities".into(),
            json!({"bounding": all, "effective": all, "permitted": all}),
        );
    }
    serde_json::to_vec(&proc).map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{"ociVersion":"1.0.2-dev","process":{"terminal":false,"user":{"uid":0,"gid":0,"additionalGids":[0]},"args":["sleep","100"],"env":["PATH=/bin","HOSTNAME=h","HOME=/root"],"cwd":"/w","capabilities":{"bounding":["CAP_CHOWN"]},"noNewPrivileges":true,"oomScoreAdj":0},"root":{"path":"/r"}}"#;

    fn process(p: &ExecProcess) -> Value {
        serde_json::from_slice(&process_json(CONFIG.as_bytes(), p).unwrap()).unwrap()
    }

    #[test]
    fn keeps_the_containers_process_and_applies_the_exec() {
        let v = process(&ExecProcess {
            args: vec!["sh".into(), "-c".into(), "echo $X".into()],
            env: vec!["PATH=/usr/bin".into(), "X=1".into()],
            ..Default::default()
        });
        assert_eq!(v["args"], json!(["sh", "-c", "echo $X"]));
        assert_eq!(v["env"], json!(["PATH=/usr/bin", "X=1"]));
        assert_eq!(v["cwd"], "/w");
        assert_eq!(v["terminal"], false);
        assert_eq!(v["noNewPrivileges"], true);
        assert_eq!(v["capabilities"]["bounding"], json!(["CAP_CHOWN"]));
        assert!(v.get("root").is_none(), "only the process is written");
    }

    #[test]
    fn tty_user_workdir_privileged() {
        let v = process(&ExecProcess {
            args: vec!["id".into()],
            cwd: "/tmp".into(),
            tty: true,
            console_size: Some((24, 80)),
            user: Some(ExecUser {
                uid: 1000,
                gid: 100,
                additional_gids: vec![100, 27],
                home: "/home/u".into(),
            }),
            privileged: true,
            ..Default::default()
        });
        assert_eq!(v["cwd"], "/tmp");
        assert_eq!(v["terminal"], true);
        assert_eq!(v["consoleSize"], json!({"height": 24, "width": 80}));
        assert_eq!(
            v["user"],
            json!({"uid": 1000, "gid": 100, "additionalGids": [100, 27]})
        );
        let eff = v["capabilities"]["effective"].as_array().unwrap();
        assert!(eff.contains(&json!("CAP_SYS_ADMIN")));
    }

    #[test]
    fn broken_config_is_an_error() {
        assert!(process_json(b"{}", &ExecProcess::default()).is_err());
        assert!(process_json(b"nope", &ExecProcess::default()).is_err());
    }
}
