//! `--change` instructions for `docker import` and `docker commit`: the
//! Dockerfile subset moby's `BuildFromConfig` accepts (CMD, ENTRYPOINT, ENV,
//! EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR),
//! with the Dockerfile's quoting and `$VAR` substitution where Docker
//! applies it.

use std::collections::BTreeMap;

use crate::config::{Empty, RuntimeConfig};
use crate::{Error, Result};

const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// Applies Dockerfile-style `changes` to `config`, in order.
pub fn apply_changes(config: &mut RuntimeConfig, changes: &[String]) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    // moby joins the changes with newlines and parses them as a Dockerfile.
    let text = changes.join("\n");
    let mut cmd_set = false;
    for line in logical_lines(&text) {
        let trimmed = line.trim();
        let (instr, rest) = match trimmed.find(char::is_whitespace) {
            Some(i) => (&trimmed[..i], trimmed[i..].trim()),
            None => (trimmed, ""),
        };
        match instr.to_ascii_lowercase().as_str() {
            "cmd" => {
                config.cmd = Some(command(config, rest, "CMD")?);
                cmd_set = true;
            }
            "entrypoint" => {
                config.entrypoint = Some(command(config, rest, "ENTRYPOINT")?);
                // Docker: a new ENTRYPOINT drops an inherited CMD unless
                // CMD was set alongside it.
                if !cmd_set {
                    config.cmd = None;
                }
            }
            "env" => {
                let env = env_map(config);
                for (k, v) in name_vals(rest, "ENV", &env)? {
                    set_env(config, &k, &v);
                }
            }
            "label" => {
                let env = env_map(config);
                let pairs = name_vals(rest, "LABEL", &env)?;
                let labels = config.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in pairs {
                    labels.insert(k, v);
                }
            }
            "workdir" => {
                let env = env_map(config);
                let dir = expand(rest, &env)?;
                if dir.is_empty() {
                    return Err(Error::invalid("WORKDIR requires exactly one argument"));
                }
                let cur = config.working_dir.clone().unwrap_or_default();
                config.working_dir = Some(normalize_workdir(&cur, &dir));
            }
            "user" => {
                let env = env_map(config);
                let u = expand(rest, &env)?;
                if u.is_empty() {
                    return Err(Error::invalid("USER requires exactly one argument"));
                }
                config.user = Some(u);
            }
            "expose" => {
                let env = env_map(config);
                let words = split_whitespace_words(rest);
                if words.is_empty() {
                    return Err(Error::invalid("EXPOSE requires at least one argument"));
                }
                let mut ports = Vec::new();
                for w in words {
                    for p in expand(&w, &env)?.split_whitespace() {
                        ports.extend(parse_port_spec(p)?);
                    }
                }
                let set = config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in ports {
                    set.insert(p, Empty {});
                }
            }
            "volume" => {
                let env = env_map(config);
                let vols = match parse_json_array(rest)? {
                    Some(v) => v,
                    None => split_whitespace_words(rest),
                };
                if vols.is_empty() {
                    return Err(Error::invalid("VOLUME requires at least one argument"));
                }
                let set = config.volumes.get_or_insert_with(BTreeMap::new);
                for v in vols {
                    let v = expand(&v, &env)?;
                    if v.is_empty() {
                        return Err(Error::invalid(
                            "VOLUME specified can not be an empty string",
                        ));
                    }
                    set.insert(v, Empty {});
                }
            }
            "stopsignal" => {
                let env = env_map(config);
                let sig = expand(rest, &env)?;
                if !valid_signal(&sig) {
                    return Err(Error::invalid(format!("Invalid signal: {sig}")));
                }
                config.stop_signal = Some(sig);
            }
            "onbuild" => {
                let trigger = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                match trigger.as_str() {
                    "" => return Err(Error::invalid("ONBUILD requires at least one argument")),
                    "ONBUILD" => {
                        return Err(Error::invalid(
                            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                        ));
                    }
                    "FROM" | "MAINTAINER" => {
                        return Err(Error::invalid(format!(
                            "{trigger} isn't allowed as an ONBUILD trigger"
                        )));
                    }
                    _ => config
                        .on_build
                        .get_or_insert_with(Vec::new)
                        .push(rest.to_string()),
                }
            }
            "healthcheck" => {
                config.healthcheck = Some(healthcheck(rest)?);
            }
            _ => {
                return Err(Error::invalid(format!(
                    "{instr} is not a valid change command"
                )));
            }
        }
    }
    Ok(())
}

/// Dockerfile lines: `\` at the end of a line continues it; blank lines
/// and `#` comments are skipped.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for raw in text.lines() {
        if cur.is_empty() && (raw.trim().is_empty() || raw.trim_start().starts_with('#')) {
            continue;
        }
        if let Some(stripped) = raw.trim_end().strip_suffix('\\') {
            cur.push_str(stripped);
            continue;
        }
        cur.push_str(raw);
        out.push(std::mem::take(&mut cur));
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// Exec form (a JSON string array) as is; shell form wrapped in the image's
/// SHELL or `/bin/sh -c`, as Docker does on Linux.
fn command(config: &RuntimeConfig, rest: &str, instr: &str) -> Result<Vec<String>> {
    if let Some(v) = parse_json_array(rest)? {
        return Ok(v);
    }
    if rest.is_empty() {
        return Err(Error::invalid(format!(
            "{instr} requires at least one argument"
        )));
    }
    let mut v: Vec<String> = match &config.shell {
        Some(s) if !s.is_empty() => s.clone(),
        _ => DEFAULT_SHELL.iter().map(|s| s.to_string()).collect(),
    };
    v.push(rest.to_string());
    Ok(v)
}

/// `Some` when `rest` is a JSON array of strings; a JSON array holding
/// anything else is an error, other text is not JSON (`None`).
fn parse_json_array(rest: &str) -> Result<Option<Vec<String>>> {
    let t = rest.trim_start();
    if !t.starts_with('[') {
        return Ok(None);
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(t) {
        Ok(vals) => {
            let mut out = Vec::with_capacity(vals.len());
            for v in vals {
                match v {
                    serde_json::Value::String(s) => out.push(s),
                    _ => {
                        return Err(Error::invalid(
                            "only string arrays are allowed in JSON form",
                        ));
                    }
                }
            }
            Ok(Some(out))
        }
        Err(_) => Ok(None),
    }
}

fn env_map(config: &RuntimeConfig) -> BTreeMap<String, String> {
    config
        .env
        .iter()
        .flatten()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (e.clone(), String::new()),
        })
        .collect()
}

fn set_env(config: &mut RuntimeConfig, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    let env = config.env.get_or_insert_with(Vec::new);
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map(|(k, _)| k).unwrap_or(e) == key)
    {
        Some(slot) => *slot = entry,
        None => env.push(entry),
    }
}

/// Splits on unquoted whitespace, keeping quotes and escapes in the words
/// (buildkit's `parseWords`); `expand` removes them later.
fn split_words(rest: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == '\\' && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None => {
                if c.is_whitespace() {
                    if in_word {
                        words.push(std::mem::take(&mut cur));
                        in_word = false;
                    }
                    continue;
                }
                in_word = true;
                cur.push(c);
                if c == '\'' || c == '"' {
                    quote = Some(c);
                } else if c == '\\'
                    && let Some(n) = chars.next()
                {
                    cur.push(n);
                }
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

fn split_whitespace_words(rest: &str) -> Vec<String> {
    rest.split_whitespace().map(str::to_string).collect()
}

/// ENV and LABEL arguments: `k=v k2="v 2"` or the legacy `k v...`.
fn name_vals(
    rest: &str,
    instr: &str,
    env: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>> {
    let words = split_words(rest);
    if words.is_empty() {
        return Err(Error::invalid(format!(
            "{instr} requires at least one argument"
        )));
    }
    if !words[0].contains('=') {
        let mut parts = rest.splitn(2, char::is_whitespace);
        let key = parts.next().unwrap_or("");
        let value = parts.next().map(str::trim_start).unwrap_or("");
        if value.is_empty() {
            return Err(Error::invalid(format!("{instr} must have two arguments")));
        }
        return Ok(vec![(expand(key, env)?, expand(value, env)?)]);
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(Error::invalid(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            )));
        };
        let key = expand(k, env)?;
        if key.is_empty() {
            return Err(Error::invalid(format!("{instr} names can not be blank")));
        }
        out.push((key, expand(v, env)?));
    }
    Ok(out)
}

/// One Dockerfile word: quotes removed, backslash escapes applied and
/// `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}` substituted (none
/// inside single quotes).
fn expand(word: &str, env: &BTreeMap<String, String>) -> Result<String> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match (quote, c) {
            (None, '\'') | (None, '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => out.push(c),
            (_, '\\') => {
                i += 1;
                match chars.get(i) {
                    // Inside double quotes only \ " $ are escapes.
                    Some(&n) if quote == Some('"') && !matches!(n, '\\' | '"' | '$') => {
                        out.push('\\');
                        out.push(n);
                    }
                    Some(&n) => out.push(n),
                    None => {}
                }
            }
            (_, '$') => {
                let (value, used) = variable(&chars[i + 1..], env)?;
                out.push_str(&value);
                i += used;
            }
            (_, c) => out.push(c),
        }
        i += 1;
    }
    if quote.is_some() {
        return Err(Error::invalid(format!(
            "unexpected end of statement while looking for matching quote in {word:?}"
        )));
    }
    Ok(out)
}

/// Reads a variable reference after `$`; returns its value and how many
/// characters it used.
fn variable(rest: &[char], env: &BTreeMap<String, String>) -> Result<(String, usize)> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if rest.first() == Some(&'{') {
        let Some(end) = rest.iter().position(|&c| c == '}') else {
            return Err(Error::invalid("missing '}' in variable substitution"));
        };
        let inner: String = rest[1..end].iter().collect();
        let name_len = inner.chars().take_while(|&c| is_name(c)).count();
        let (name, modifier) = inner.split_at(name_len);
        if name.is_empty() {
            return Err(Error::invalid(format!("bad substitution: ${{{inner}}}")));
        }
        let val = env.get(name);
        let value = match modifier {
            "" => val.cloned().unwrap_or_default(),
            m if m.starts_with(":-") => match val {
                Some(v) if !v.is_empty() => v.clone(),
                _ => expand(&m[2..], env)?,
            },
            m if m.starts_with(":+") => match val {
                Some(v) if !v.is_empty() => expand(&m[2..], env)?,
                _ => String::new(),
            },
            m if m.starts_with('-') => match val {
                Some(v) => v.clone(),
                None => expand(&m[1..], env)?,
            },
            m if m.starts_with('+') => match val {
                Some(_) => expand(&m[1..], env)?,
                None => String::new(),
            },
            m => {
                return Err(Error::invalid(format!(
                    "unsupported modifier ({m}) in substitution"
                )));
            }
        };
        return Ok((value, end + 1));
    }
    let n = rest.iter().take_while(|&&c| is_name(c)).count();
    if n == 0 {
        return Ok(("$".to_string(), 0));
    }
    let name: String = rest[..n].iter().collect();
    Ok((env.get(&name).cloned().unwrap_or_default(), n))
}

fn normalize_workdir(current: &str, requested: &str) -> String {
    let joined = if requested.starts_with('/') {
        requested.to_string()
    } else {
        format!("/{current}/{requested}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in joined.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `80`, `80/udp`, `8000-8010/tcp` → `["80/tcp"]`, ... (a `host:` mapping
/// prefix is accepted and ignored, as Docker's parsePortSpec does).
fn parse_port_spec(spec: &str) -> Result<Vec<String>> {
    let (ports, proto) = match spec.rsplit_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(Error::invalid(format!("invalid proto: {proto}")));
    }
    let container = ports.rsplit(':').next().unwrap_or(ports);
    let bad = || Error::invalid(format!("invalid containerPort: {container}"));
    let num = |s: &str| s.parse::<u16>().map_err(|_| bad());
    let (start, end) = match container.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let p = num(container)?;
            (p, p)
        }
    };
    if end < start {
        return Err(bad());
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "UNUSED", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
];

/// Docker's `signal.ParseSignal`: a number, a name with or without `SIG`,
/// or `RTMIN+n`/`RTMAX-n`.
fn valid_signal(s: &str) -> bool {
    if let Ok(n) = s.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if SIGNALS.contains(&name) || name == "RTMIN" || name == "RTMAX" {
        return true;
    }
    let rt = |prefix: &str, sep: char| {
        name.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix(sep))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| (1..=15).contains(&n))
    };
    rt("RTMIN", '+') || rt("RTMAX", '-')
}

/// Go duration syntax as HEALTHCHECK flags use it (`30s`, `1m30s`, `500ms`).
fn parse_duration(s: &str) -> Result<i64> {
    let bad = || Error::invalid(format!("time: invalid duration {s:?}"));
    if s == "0" {
        return Ok(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if n == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += value * unit;
        rest = &rest[u..];
    }
    Ok(total as i64)
}

/// `HEALTHCHECK [--interval=…] [--timeout=…] [--start-period=…]
/// [--start-interval=…] [--retries=…] CMD …` or `HEALTHCHECK NONE`, as the
/// JSON Docker stores (durations in nanoseconds, zero values omitted).
fn healthcheck(rest: &str) -> Result<serde_json::Value> {
    let mut flags: BTreeMap<&str, &str> = BTreeMap::new();
    let mut remaining = rest.trim_start();
    while let Some(f) = remaining.strip_prefix("--") {
        let end = f.find(char::is_whitespace).unwrap_or(f.len());
        let (flag, after) = f.split_at(end);
        let (name, value) = flag
            .split_once('=')
            .ok_or_else(|| Error::invalid(format!("missing a value on flag: --{flag}")))?;
        flags.insert(name, value);
        remaining = after.trim_start();
    }
    let (kind, args) = match remaining.find(char::is_whitespace) {
        Some(i) => (&remaining[..i], remaining[i..].trim()),
        None => (remaining, ""),
    };
    let mut hc = serde_json::Map::new();
    match kind.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !args.is_empty() || !flags.is_empty() {
                return Err(Error::invalid("HEALTHCHECK NONE takes no arguments"));
            }
            hc.insert("Test".into(), serde_json::json!(["NONE"]));
            return Ok(serde_json::Value::Object(hc));
        }
        "CMD" => {
            let test: Vec<String> = match parse_json_array(args)? {
                Some(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
                None if args.is_empty() => {
                    return Err(Error::invalid("Missing command after HEALTHCHECK CMD"));
                }
                None => vec!["CMD-SHELL".to_string(), args.to_string()],
            };
            hc.insert("Test".into(), serde_json::json!(test));
        }
        other => {
            return Err(Error::invalid(format!(
                "Unknown type {other:?} in HEALTHCHECK (try CMD)"
            )));
        }
    }
    for (flag, key) in [
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start-period", "StartPeriod"),
        ("start-interval", "StartInterval"),
    ] {
        if let Some(v) = flags.remove(flag) {
            let d = parse_duration(v)?;
            if d != 0 && d < 1_000_000 {
                return Err(Error::invalid(format!(
                    "Interval {flag:?} cannot be less than 1ms"
                )));
            }
            if d < 0 {
                return Err(Error::invalid(format!(
                    "Interval {flag:?} cannot be negative"
                )));
            }
            if d > 0 {
                hc.insert(key.into(), serde_json::json!(d));
            }
        }
    }
    if let Some(v) = flags.remove("retries") {
        let n: i64 = v
            .parse()
            .map_err(|_| Error::invalid(format!("invalid retries value {v:?}")))?;
        if n < 0 {
            return Err(Error::invalid("--retries cannot be negative"));
        }
        if n > 0 {
            hc.insert("Retries".into(), serde_json::json!(n));
        }
    }
    if let Some(unknown) = flags.keys().next() {
        return Err(Error::invalid(format!("Unknown flag: {unknown}")));
    }
    Ok(serde_json::Value::Object(hc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Result<RuntimeConfig> {
        let mut c = RuntimeConfig::default();
        apply_changes(
            &mut c,
            &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )?;
        Ok(c)
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cmd_and_entrypoint_forms() {
        let c = apply(&["CMD [\"/bin/app\", \"-x\"]"]).unwrap();
        assert_eq!(c.cmd, Some(strings(&["/bin/app", "-x"])));
        let c = apply(&["CMD echo $HOME && ls"]).unwrap();
        assert_eq!(c.cmd, Some(strings(&["/bin/sh", "-c", "echo $HOME && ls"])));
        let c = apply(&["cmd [\"a\"]", "ENTRYPOINT [\"/e\"]"]).unwrap();
        assert_eq!(c.entrypoint, Some(strings(&["/e"])));
        assert_eq!(
            c.cmd,
            Some(strings(&["a"])),
            "CMD set in the same changes survives ENTRYPOINT"
        );
        let mut base = RuntimeConfig {
            cmd: Some(strings(&["old"])),
            ..Default::default()
        };
        apply_changes(&mut base, &["ENTRYPOINT top -b".to_string()]).unwrap();
        assert_eq!(base.entrypoint, Some(strings(&["/bin/sh", "-c", "top -b"])));
        assert_eq!(base.cmd, None, "inherited CMD is reset by ENTRYPOINT");
        assert!(apply(&["CMD [1, 2]"]).is_err());
    }

    #[test]
    fn env_label_forms_and_substitution() {
        let c = apply(&[
            "ENV A=1 B=\"two words\" C='$A'",
            "ENV D $A-x",
            "ENV A=3",
            "ENV E=${A}b F=${NOPE:-dflt} G=${A:+set}",
            "LABEL version=\"1.0\" \"com.x.y\"=z",
            "LABEL legacy value with spaces",
        ])
        .unwrap();
        assert_eq!(
            c.env,
            Some(strings(&[
                "A=3",
                "B=two words",
                "C=$A",
                "D=1-x",
                "E=3b",
                "F=dflt",
                "G=set"
            ]))
        );
        let labels = c.labels.unwrap();
        assert_eq!(labels["version"], "1.0");
        assert_eq!(labels["com.x.y"], "z");
        assert_eq!(labels["legacy"], "value with spaces");
        assert!(apply(&["ENV onlykey"]).is_err());
        assert!(apply(&["ENV a=1 b"]).is_err());
        assert!(apply(&["ENV a=\"unterminated"]).is_err());
    }

    #[test]
    fn workdir_user_expose_volume_stopsignal_onbuild() {
        let c = apply(&[
            "WORKDIR /a",
            "WORKDIR b/../c",
            "ENV P=8080",
            "USER app:app",
            "EXPOSE 80 $P/udp 9000-9002",
            "VOLUME [\"/data\", \"/logs\"]",
            "VOLUME /x /y",
            "STOPSIGNAL SIGUSR1",
            "ONBUILD RUN make",
        ])
        .unwrap();
        assert_eq!(c.working_dir.as_deref(), Some("/a/c"));
        assert_eq!(c.user.as_deref(), Some("app:app"));
        let ports: Vec<&String> = c.exposed_ports.as_ref().unwrap().keys().collect();
        assert_eq!(
            ports,
            ["80/tcp", "8080/udp", "9000/tcp", "9001/tcp", "9002/tcp"]
        );
        let vols: Vec<&String> = c.volumes.as_ref().unwrap().keys().collect();
        assert_eq!(vols, ["/data", "/logs", "/x", "/y"]);
        assert_eq!(c.stop_signal.as_deref(), Some("SIGUSR1"));
        assert_eq!(c.on_build, Some(strings(&["RUN make"])));
        for s in ["9", "TERM", "sigkill", "RTMIN+3"] {
            assert!(apply(&[&format!("STOPSIGNAL {s}")]).is_ok(), "{s}");
        }
        assert!(apply(&["STOPSIGNAL SIGNOPE"]).is_err());
        assert!(apply(&["EXPOSE 80/xyz"]).is_err());
        assert!(apply(&["EXPOSE http"]).is_err());
        assert!(apply(&["VOLUME [\"\"]"]).is_err());
        assert!(apply(&["ONBUILD ONBUILD RUN x"]).is_err());
        assert!(apply(&["ONBUILD FROM x"]).is_err());
    }

    #[test]
    fn healthcheck_forms() {
        let c = apply(&["HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/"])
            .unwrap();
        assert_eq!(
            c.healthcheck.unwrap(),
            serde_json::json!({"Test": ["CMD-SHELL", "curl -f http://localhost/"], "Interval": 30_000_000_000i64, "Retries": 3})
        );
        let c = apply(&["HEALTHCHECK --timeout=1m30s CMD [\"/check\", \"-q\"]"]).unwrap();
        assert_eq!(
            c.healthcheck.unwrap(),
            serde_json::json!({"Test": ["CMD", "/check", "-q"], "Timeout": 90_000_000_000i64})
        );
        let c = apply(&["HEALTHCHECK NONE"]).unwrap();
        assert_eq!(
            c.healthcheck.unwrap(),
            serde_json::json!({"Test": ["NONE"]})
        );
        assert!(apply(&["HEALTHCHECK --interval=10us CMD x"]).is_err());
        assert!(apply(&["HEALTHCHECK --bogus=1 CMD x"]).is_err());
        assert!(apply(&["HEALTHCHECK NONE x"]).is_err());
    }

    #[test]
    fn invalid_instructions_use_dockers_message() {
        for (change, instr) in [
            ("RUN make", "RUN"),
            ("FROM busybox", "FROM"),
            ("copy a b", "copy"),
            ("SHELL [\"x\"]", "SHELL"),
        ] {
            let e = apply(&[change]).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("{instr} is not a valid change command")
            );
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
        }
    }

    #[test]
    fn continuation_and_comments() {
        let c = apply(&["# a comment\nENV A=1 \\\n  B=2", "", "USER x"]).unwrap();
        assert_eq!(c.env, Some(strings(&["A=1", "B=2"])));
        assert_eq!(c.user.as_deref(), Some("x"));
    }
}
