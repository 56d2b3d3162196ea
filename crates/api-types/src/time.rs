//! Go's time formats as Docker puts them on the wire, and the parser for the
//! `since` / `until` query values.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Timelike, Utc};

/// Go's zero `time.Time` formatted with RFC 3339: what Docker shows for
/// "never" (`FinishedAt` of a container that has not exited, and so on).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Go's zero `time.Time` (January 1, year 1, UTC).
pub fn zero_time() -> DateTime<Utc> {
    let naive = NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("year 1 is a valid date");
    Utc.from_utc_datetime(&naive)
}

/// Whether `t` is Go's zero time (`time.Time.IsZero`).
pub fn is_zero_time(t: &DateTime<Utc>) -> bool {
    *t == zero_time()
}

/// `t.Format(time.RFC3339Nano)`: the fraction loses its trailing zeros and
/// disappears when it is zero; UTC is written `Z`.
pub fn format_rfc3339_nano(t: DateTime<Utc>) -> String {
    let mut s = format_date_time(&t);
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Docker's `RFC3339NanoFixed` (`2006-01-02T15:04:05.000000000Z07:00`),
/// used for `docker logs --timestamps` so that lines align.
pub fn format_rfc3339_nano_fixed(t: DateTime<Utc>) -> String {
    let mut s = format_date_time(&t);
    s.push_str(&format!(".{:09}Z", t.nanosecond() % 1_000_000_000));
    s
}

/// The `seconds.nanoseconds` form (`%d.%09d`) the Docker CLI sends in
/// `since` / `until` and that events carry.
pub fn format_unix_timestamp(t: DateTime<Utc>) -> String {
    format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos())
}

fn format_date_time(t: &DateTime<Utc>) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses what Go's `time.Time.UnmarshalJSON` accepts (RFC 3339, any offset).
pub fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>, TimestampError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| TimestampError(format!("parsing time {s:?} as RFC 3339: {e}")))
}

/// A `since` / `until` / timestamp value Docker would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TimestampError(String);

impl TimestampError {
    pub fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::InvalidArgument
    }
}

/// Go's `time.ParseDuration`, in nanoseconds (`10m`, `1h30m`, `1.5s`, `-2h`,
/// `300ms`; `0` alone needs no unit).
pub fn parse_go_duration(s: &str) -> Result<i64, TimestampError> {
    let invalid = || TimestampError(format!("time: invalid duration {s:?}"));
    let mut rest = s;
    let mut neg = false;
    if let Some(r) = rest.strip_prefix('-') {
        neg = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    // Accumulate in u64 so that exactly -2^63 still fits, as in Go.
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after) = rest.split_at(int_len);
        let mut frac_digits = "";
        let mut after = after;
        if let Some(r) = after.strip_prefix('.') {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            frac_digits = &r[..n];
            after = &r[n..];
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(invalid());
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(after.len(), |(i, _)| i);
        let (unit, r) = after.split_at(unit_len);
        rest = r;
        let unit_ns: u64 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => {
                return Err(TimestampError(format!(
                    "time: missing unit in duration {s:?}"
                )));
            }
            _ => {
                return Err(TimestampError(format!(
                    "time: unknown unit {unit:?} in duration {s:?}"
                )));
            }
        };
        let int: u64 = if int_digits.is_empty() {
            0
        } else {
            int_digits.parse().map_err(|_| invalid())?
        };
        let mut v = int.checked_mul(unit_ns).ok_or_else(invalid)?;
        if !frac_digits.is_empty() {
            // Go scales the fraction with float64 too; keep only what can
            // matter at nanosecond precision.
            let digits = &frac_digits[..frac_digits.len().min(18)];
            let f: u64 = digits.parse().map_err(|_| invalid())?;
            let scale = 10f64.powi(digits.len() as i32);
            v = v
                .checked_add((f as f64 * (unit_ns as f64 / scale)) as u64)
                .ok_or_else(invalid)?;
        }
        total = total.checked_add(v).ok_or_else(invalid)?;
        if total > 1u64 << 63 {
            return Err(invalid());
        }
    }
    if neg {
        Ok((total as i128).wrapping_neg() as i64)
    } else if total == 1u64 << 63 {
        Err(invalid())
    } else {
        Ok(total as i64)
    }
}

/// Docker's `since` / `until` parser (moby `timestamp.Parse`, the server-side
/// successor of `GetTimestamp`): a Go duration counted back from
/// `reference`, an RFC 3339-like date or date-time, or a Unix timestamp with
/// an optional fraction (`1700000000.123456789`).
///
/// Values without a zone are read in `reference`'s zone, which for a
/// `DateTime<Utc>` is UTC.
pub fn parse_timestamp(
    value: &str,
    reference: DateTime<Utc>,
) -> Result<DateTime<Utc>, TimestampError> {
    if value.trim().is_empty() {
        return Err(TimestampError(
            "failed to parse value as time or duration: value is empty".to_owned(),
        ));
    }
    if value != "0"
        && let Ok(ns) = parse_go_duration(value)
    {
        return Ok(reference - chrono::Duration::nanoseconds(ns));
    }

    // Mirrors moby's choice of layout, so that the same inputs succeed and
    // fail as with dockerd.
    let in_location = !value.contains(['z', 'Z', '+']) && value.matches('-').count() != 3;
    let time_part = if value.contains('.') {
        TimePart::Full
    } else if value.contains('T') {
        let mut colons = value.matches(':').count();
        if !in_location && !value.contains(['z', 'Z']) && colons > 0 {
            colons -= 1;
        }
        match colons {
            0 => TimePart::Hour,
            1 => TimePart::HourMinute,
            _ => TimePart::Full,
        }
    } else {
        TimePart::None
    };

    match parse_layout(value, !in_location, time_part) {
        Some(t) => Ok(t),
        None if value.contains('-') => Err(TimestampError(format!(
            "parsing time {value:?}: cannot parse as RFC 3339 date or time"
        ))),
        None => parse_unix(value)
            .map_err(|e| TimestampError(format!("failed to parse value as time or duration: {e}"))),
    }
}

/// Moby's `ParseUnixTimestamp`: `seconds[.nanoseconds]`; an empty value is
/// "not set" (`None`), not an error.
pub fn parse_unix_timestamp(value: &str) -> Result<Option<DateTime<Utc>>, TimestampError> {
    if value.is_empty() {
        return Ok(None);
    }
    parse_unix(value)
        .map(Some)
        .map_err(|e| TimestampError(format!("invalid timestamp {value:?}: {e}")))
}

fn parse_unix(value: &str) -> Result<DateTime<Utc>, String> {
    let (s, n) = match value.split_once('.') {
        Some((s, n)) => (s, Some(n)),
        None => (value, None),
    };
    let sec: i64 = s
        .parse()
        .map_err(|e| format!("invalid seconds {s:?}: {e}"))?;
    let nsec: u32 = match n {
        None | Some("") | Some("0") | Some("000000000") => 0,
        Some(n) => {
            const MAX_FRAC_DIGITS: usize = 20;
            if n.len() > MAX_FRAC_DIGITS {
                return Err(format!(
                    "invalid nanoseconds: length {} exceeds maximum {MAX_FRAC_DIGITS}",
                    n.len()
                ));
            }
            if let Some((i, c)) = n.bytes().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
                return Err(format!(
                    "invalid nanoseconds: invalid character {:?} at position {i}",
                    c as char
                ));
            }
            let mut digits = n[..n.len().min(9)].to_owned();
            while digits.len() < 9 {
                digits.push('0');
            }
            digits
                .parse()
                .map_err(|e| format!("invalid nanoseconds {digits:?}: {e}"))?
        }
    };
    DateTime::from_timestamp(sec, nsec).ok_or_else(|| format!("timestamp {value:?} out of range"))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TimePart {
    None,
    Hour,
    HourMinute,
    Full,
}

struct Cursor<'a> {
    s: &'a [u8],
}

impl Cursor<'_> {
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.s.first() == Some(&c)).then(|| self.s = &self.s[1..])
    }

    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let n = self
            .s
            .iter()
            .take(max)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if n < min {
            return None;
        }
        let v = std::str::from_utf8(&self.s[..n]).ok()?.parse().ok()?;
        self.s = &self.s[n..];
        Some(v)
    }
}

fn parse_layout(value: &str, with_zone: bool, part: TimePart) -> Option<DateTime<Utc>> {
    let mut c = Cursor {
        s: value.as_bytes(),
    };
    let year = c.digits(4, 4)? as i32;
    c.eat(b'-')?;
    let month = c.digits(2, 2)?;
    c.eat(b'-')?;
    let day = c.digits(2, 2)?;
    let (mut hour, mut minute, mut second, mut nano) = (0, 0, 0, 0);
    if part != TimePart::None {
        c.eat(b'T')?;
        hour = c.digits(1, 2)?;
        if part != TimePart::Hour {
            c.eat(b':')?;
            minute = c.digits(2, 2)?;
        }
        if part == TimePart::Full {
            c.eat(b':')?;
            second = c.digits(2, 2)?;
            // Go takes a fraction after the seconds whatever the layout says.
            if matches!(c.s.first(), Some(b'.' | b','))
                && c.s.get(1).is_some_and(u8::is_ascii_digit)
            {
                c.s = &c.s[1..];
                let n = c.s.iter().take_while(|b| b.is_ascii_digit()).count();
                let digits = std::str::from_utf8(&c.s[..n]).ok()?;
                let mut d = digits[..n.min(9)].to_owned();
                while d.len() < 9 {
                    d.push('0');
                }
                nano = d.parse().ok()?;
                c.s = &c.s[n..];
            }
        }
    }
    let offset_secs = if with_zone {
        if c.eat(b'Z').is_some() {
            0
        } else {
            let sign = match c.s.first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            c.s = &c.s[1..];
            let h = c.digits(2, 2)? as i32;
            c.eat(b':')?;
            let m = c.digits(2, 2)? as i32;
            if h > 24 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    } else {
        0
    };
    if !c.s.is_empty() {
        return None;
    }
    let naive =
        NaiveDate::from_ymd_opt(year, month, day)?.and_hms_nano_opt(hour, minute, second, nano)?;
    let offset = FixedOffset::east_opt(offset_secs)?;
    let local = offset.from_local_datetime(&naive).single()?;
    Some(local.with_timezone(&Utc))
}

/// `#[serde(with = "berth_api_types::time::rfc3339_nano")]` for a Go
/// `time.Time` field: written as RFC3339Nano; `null` reads as the zero time.
pub mod rfc3339_nano {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_rfc3339_nano(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(super::zero_time()),
            Some(s) => super::parse_rfc3339(&s).map_err(de::Error::custom),
        }
    }

    /// For a Go `*time.Time`: `None` is `null`.
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            match Option::<String>::deserialize(d)? {
                None => Ok(None),
                Some(s) => crate::time::parse_rfc3339(&s)
                    .map(Some)
                    .map_err(de::Error::custom),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ns: u32) -> DateTime<Utc> {
        Utc.from_utc_datetime(
            &NaiveDate::from_ymd_opt(y, mo, d)
                .unwrap()
                .and_hms_nano_opt(h, mi, s, ns)
                .unwrap(),
        )
    }

    #[test]
    fn rfc3339_nano_matches_go() {
        let cases = [
            (zero_time(), "0001-01-01T00:00:00Z"),
            (utc(2024, 3, 5, 7, 8, 9, 0), "2024-03-05T07:08:09Z"),
            (
                utc(2024, 3, 5, 7, 8, 9, 500_000_000),
                "2024-03-05T07:08:09.5Z",
            ),
            (
                utc(2024, 3, 5, 7, 8, 9, 120_000),
                "2024-03-05T07:08:09.00012Z",
            ),
            (
                utc(2024, 3, 5, 7, 8, 9, 1),
                "2024-03-05T07:08:09.000000001Z",
            ),
            (
                utc(2024, 3, 5, 7, 8, 9, 123_456_789),
                "2024-03-05T07:08:09.123456789Z",
            ),
        ];
        for (t, want) in cases {
            assert_eq!(format_rfc3339_nano(t), want);
            assert_eq!(parse_rfc3339(want).unwrap(), t, "{want}");
        }
        assert_eq!(format_rfc3339_nano(zero_time()), ZERO_TIME);
        assert!(is_zero_time(&zero_time()));
        assert_eq!(
            format_rfc3339_nano_fixed(utc(2024, 3, 5, 7, 8, 9, 500_000_000)),
            "2024-03-05T07:08:09.500000000Z"
        );
        assert_eq!(
            format_unix_timestamp(utc(2023, 11, 14, 22, 13, 20, 5)),
            "1700000000.000000005"
        );
    }

    #[test]
    fn serde_helper_round_trips_and_accepts_null_and_offsets() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct T {
            #[serde(with = "rfc3339_nano")]
            t: DateTime<Utc>,
        }
        let v = T {
            t: utc(2020, 1, 2, 3, 4, 5, 60_000_000),
        };
        let s = serde_json::to_string(&v).unwrap();
        assert_eq!(s, r#"{"t":"2020-01-02T03:04:05.06Z"}"#);
        assert_eq!(serde_json::from_str::<T>(&s).unwrap(), v);
        let n: T = serde_json::from_str(r#"{"t":null}"#).unwrap();
        assert!(is_zero_time(&n.t));
        let o: T = serde_json::from_str(r#"{"t":"2020-01-02T05:04:05.06+02:00"}"#).unwrap();
        assert_eq!(o, v);
    }

    #[test]
    fn go_durations() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("10m", 600_000_000_000),
            ("1h30m", 5_400_000_000_000),
            ("1.5s", 1_500_000_000),
            ("-2h", -7_200_000_000_000),
            ("300ms", 300_000_000),
            ("1us", 1_000),
            ("1\u{b5}s", 1_000),
            (".5m", 30_000_000_000),
            ("2562047h", 2_562_047 * 3_600_000_000_000),
        ];
        for (s, want) in cases {
            assert_eq!(parse_go_duration(s).unwrap(), *want, "{s}");
        }
        for bad in ["", "10", "1x", ".s", "-", "1h2", "9999999999h"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn since_until_values() {
        let now = utc(2024, 6, 1, 12, 0, 0, 0);
        let ok: &[(&str, DateTime<Utc>)] = &[
            ("10m", utc(2024, 6, 1, 11, 50, 0, 0)),
            ("1h30m", utc(2024, 6, 1, 10, 30, 0, 0)),
            ("1700000000", utc(2023, 11, 14, 22, 13, 20, 0)),
            (
                "1700000000.123456789",
                utc(2023, 11, 14, 22, 13, 20, 123_456_789),
            ),
            ("1700000000.5", utc(2023, 11, 14, 22, 13, 20, 500_000_000)),
            (
                "1700000000.1234567891",
                utc(2023, 11, 14, 22, 13, 20, 123_456_789),
            ),
            ("0", DateTime::from_timestamp(0, 0).unwrap()),
            ("2024-01-02", utc(2024, 1, 2, 0, 0, 0, 0)),
            ("2024-01-02T03", utc(2024, 1, 2, 3, 0, 0, 0)),
            ("2024-01-02T03:04", utc(2024, 1, 2, 3, 4, 0, 0)),
            ("2024-01-02T03:04:05", utc(2024, 1, 2, 3, 4, 5, 0)),
            (
                "2024-01-02T03:04:05.25",
                utc(2024, 1, 2, 3, 4, 5, 250_000_000),
            ),
            ("2024-01-02T03:04:05Z", utc(2024, 1, 2, 3, 4, 5, 0)),
            (
                "2024-01-02T03:04:05.000000001Z",
                utc(2024, 1, 2, 3, 4, 5, 1),
            ),
            ("2024-01-02T03:04:05+01:00", utc(2024, 1, 2, 2, 4, 5, 0)),
            ("2024-01-02T03:04:05-01:30", utc(2024, 1, 2, 4, 34, 5, 0)),
            ("2024-01-02T03Z", utc(2024, 1, 2, 3, 0, 0, 0)),
            ("2024-01-02T03:04+02:00", utc(2024, 1, 2, 1, 4, 0, 0)),
            ("2024-01-02Z", utc(2024, 1, 2, 0, 0, 0, 0)),
            ("2024-01-02-01:00", utc(2024, 1, 2, 1, 0, 0, 0)),
        ];
        for (v, want) in ok {
            assert_eq!(parse_timestamp(v, now).unwrap(), *want, "{v}");
        }
        for bad in [
            "",
            "  ",
            "abc",
            "2024-13-01",
            "2024-02-30",
            "2024-01-02T25:00",
            "1700000000.12a",
            "1.123456789012345678901",
            "2024-01-02T03:04:05z",
            "+",
        ] {
            assert!(parse_timestamp(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn unix_timestamp_query_values() {
        assert_eq!(parse_unix_timestamp("").unwrap(), None);
        assert_eq!(
            parse_unix_timestamp("1700000000.000000001").unwrap(),
            Some(utc(2023, 11, 14, 22, 13, 20, 1))
        );
        assert_eq!(
            parse_unix_timestamp("-1").unwrap(),
            Some(utc(1969, 12, 31, 23, 59, 59, 0))
        );
        let err = parse_unix_timestamp("10m").unwrap_err().to_string();
        assert!(err.starts_with("invalid timestamp \"10m\""), "{err}");
    }
}
