//! Signal names as Docker accepts them (moby `github.com/moby/sys/signal`
//! `ParseSignal` with the Linux `SignalMap`): `docker kill -s`, `StopSignal`,
//! `docker stop --signal`.

use crate::error::Error;

const SIGRTMIN: i32 = 34;
const SIGRTMAX: i32 = 64;

/// Linux signal names without the `SIG` prefix, canonical name first for
/// numbers with aliases (CLD = CHLD, IOT = ABRT, POLL = IO).
const NAMES: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("POLL", 29),
    ("PWR", 30),
    ("SYS", 31),
];

fn invalid(raw: &str) -> Error {
    Error::invalid(format!("invalid signal: {raw}"))
}

/// Parses a signal as Docker does: a number (`"15"`), or a name with or
/// without `SIG`, in any case (`"SIGTERM"`, `"term"`), including the real-time
/// names `RTMIN`, `RTMIN+1`..`RTMIN+15`, `RTMAX-14`..`RTMAX-1`, `RTMAX`.
/// Errors (`invalid signal: X`) are `InvalidArgument`.
///
/// Unlike moby, which accepts any non-zero integer here and rejects it later,
/// numbers outside 1..=64 are refused at once.
pub fn parse_signal(raw: &str) -> Result<i32, Error> {
    if let Ok(n) = raw.parse::<i64>() {
        return if (1..=i64::from(SIGRTMAX)).contains(&n) {
            Ok(n as i32)
        } else {
            Err(invalid(raw))
        };
    }
    let upper = raw.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((_, n)) = NAMES.iter().find(|(s, _)| *s == name) {
        return Ok(*n);
    }
    rt_signal(name).ok_or_else(|| invalid(raw))
}

/// `RTMIN`, `RTMIN+N` (N in 1..=15), `RTMAX-N` (N in 1..=14), `RTMAX`: the
/// entries of moby's map, no more.
fn rt_signal(name: &str) -> Option<i32> {
    let offset = |s: &str, max: i32| -> Option<i32> {
        // Go's map holds "RTMIN+1", not "RTMIN+01" or "RTMIN+ 1".
        if s.is_empty() || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: i32 = s.parse().ok()?;
        (1..=max).contains(&n).then_some(n)
    };
    match name {
        "RTMIN" => Some(SIGRTMIN),
        "RTMAX" => Some(SIGRTMAX),
        _ => {
            if let Some(n) = name.strip_prefix("RTMIN+") {
                offset(n, 15).map(|n| SIGRTMIN + n)
            } else if let Some(n) = name.strip_prefix("RTMAX-") {
                offset(n, 14).map(|n| SIGRTMAX - n)
            } else {
                None
            }
        }
    }
}

/// The name of signal `n` with the `SIG` prefix (`15` → `"SIGTERM"`,
/// `37` → `"SIGRTMIN+3"`, `60` → `"SIGRTMAX-4"`); the number as a string
/// for anything else.
pub fn signal_name(n: i32) -> String {
    if let Some((s, _)) = NAMES.iter().find(|(_, v)| *v == n) {
        return format!("SIG{s}");
    }
    match n {
        SIGRTMIN => "SIGRTMIN".to_string(),
        SIGRTMAX => "SIGRTMAX".to_string(),
        n if (SIGRTMIN + 1..=SIGRTMIN + 15).contains(&n) => format!("SIGRTMIN+{}", n - SIGRTMIN),
        n if (SIGRTMAX - 14..SIGRTMAX).contains(&n) => format!("SIGRTMAX-{}", SIGRTMAX - n),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let ok = [
            ("SIGTERM", 15),
            ("TERM", 15),
            ("term", 15),
            ("sigkill", 9),
            ("SigHup", 1),
            ("15", 15),
            ("9", 9),
            ("64", 64),
            ("SIGRTMIN", 34),
            ("SIGRTMIN+3", 37),
            ("rtmin+15", 49),
            ("SIGRTMAX-14", 50),
            ("RTMAX-1", 63),
            ("SIGRTMAX", 64),
            ("SIGCLD", 17),
            ("SIGIOT", 6),
            ("POLL", 29),
            ("WINCH", 28),
            ("USR1", 10),
        ];
        for (s, n) in ok {
            assert_eq!(parse_signal(s).unwrap(), n, "{s}");
        }
        for s in [
            "", "0", "-1", "65", "SIGFOO", "RTMIN+16", "RTMAX-15", "RTMIN+01", "SIG",
        ] {
            let e = parse_signal(s).unwrap_err();
            assert_eq!(e.to_string(), format!("invalid signal: {s}"));
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
        }
    }

    #[test]
    fn names_round_trip() {
        // 32 and 33 are glibc's internal signals: no names in Docker's map.
        for n in (1..=31).chain(34..=64) {
            let name = signal_name(n);
            assert!(name.starts_with("SIG"), "{n}: {name}");
            assert_eq!(parse_signal(&name).unwrap(), n, "{name}");
        }
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(17), "SIGCHLD");
        assert_eq!(signal_name(6), "SIGABRT");
        assert_eq!(signal_name(37), "SIGRTMIN+3");
        assert_eq!(signal_name(60), "SIGRTMAX-4");
        assert_eq!(signal_name(99), "99");
        assert_eq!(signal_name(32), "32");
    }
}
