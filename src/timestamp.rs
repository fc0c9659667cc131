//! Docker's `--since`/`--until` values: what the client accepts (Go durations such as `10m`,
//! RFC 3339 times and dates, in the local zone when they name none, unix timestamps) and
//! turns into the unix timestamp (`seconds[.nanoseconds]`) the Engine API carries, and the
//! daemon's reading of that timestamp.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Go's `time.ParseDuration`, in nanoseconds: `1h30m`, `-2.5s`, `300ms`, `0`.
pub fn parse_go_duration(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += value * unit;
    }
    let n = total.round() as i128;
    Some(if neg { -n } else { n })
}

/// Seconds east of UTC of the local zone at `at` (the zone Go's `time.Local` gives).
fn local_offset(at: SystemTime) -> i64 {
    let secs = at.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    crate::time64::localtime(secs).map(|tm| crate::time64::gmtoff(&tm)).unwrap_or(0)
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses `YYYY-MM-DD[THH[:MM[:SS[.frac]]]][Z|±hh:mm]` to (unix seconds, nanoseconds);
/// without a zone the time is in the local zone (`reference`'s offset).
fn parse_time(value: &str, reference: SystemTime) -> Result<(i64, u32), String> {
    let bad = || format!("parsing time {value:?}: cannot parse {value:?} as a time");
    let b = value.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let s = value.get(r).ok_or_else(bad)?;
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<i64>().map_err(|_| bad())
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) {
        return Err(format!("parsing time {value:?}: month out of range"));
    }
    if d < 1 || d > days_in_month(y, mo) {
        return Err(format!("parsing time {value:?}: day out of range"));
    }
    let (mut h, mut mi, mut s, mut nanos) = (0, 0, 0, 0u32);
    let mut i = 10;
    if b.get(i) == Some(&b'T') || b.get(i) == Some(&b't') {
        h = num(i + 1..i + 3)?;
        i += 3;
        if b.get(i) == Some(&b':') {
            mi = num(i + 1..i + 3)?;
            i += 3;
            if b.get(i) == Some(&b':') {
                s = num(i + 1..i + 3)?;
                i += 3;
                if b.get(i) == Some(&b'.') {
                    let start = i + 1;
                    let mut end = start;
                    while end < b.len() && b[end].is_ascii_digit() {
                        end += 1;
                    }
                    if end == start {
                        return Err(bad());
                    }
                    let mut digits = value[start..end].to_string();
                    digits.truncate(9);
                    while digits.len() < 9 {
                        digits.push('0');
                    }
                    nanos = digits.parse().map_err(|_| bad())?;
                    i = end;
                }
            }
        }
        if h > 23 || mi > 59 || s > 59 {
            return Err(format!("parsing time {value:?}: hour, minute or second out of range"));
        }
    }
    let local = (y, mo, d, h, mi, s);
    let days = days_from_civil(local.0, local.1, local.2);
    let wall = days * 86400 + h * 3600 + mi * 60 + s;
    let offset = match &value[i..] {
        "" => local_offset(reference),
        "Z" | "z" => 0,
        zone => {
            let zb = zone.as_bytes();
            if zone.len() != 6 || !(zb[0] == b'+' || zb[0] == b'-') || zb[3] != b':' {
                return Err(bad());
            }
            let hh = num(i + 1..i + 3)?;
            let mm = num(i + 4..i + 6)?;
            let off = hh * 3600 + mm * 60;
            if zb[0] == b'-' {
                -off
            } else {
                off
            }
        }
    };
    Ok((wall - offset, nanos))
}

/// Whether `value` is a unix timestamp `seconds[.nanoseconds]` (the client's last resort).
fn is_unix_timestamp(value: &str) -> bool {
    let (s, n) = value.split_once('.').unwrap_or((value, ""));
    s.parse::<i64>().is_ok() && (n.is_empty() && !value.ends_with('.') || n.parse::<i64>().is_ok())
}

/// The client's conversion of a `--since`/`--until` value (Docker's `GetTimestamp`): a
/// duration counts back from `now` (whole seconds), a time becomes `seconds.nanoseconds`, a
/// unix timestamp passes as it is.
pub fn client_timestamp(value: &str, now: SystemTime) -> Result<String, String> {
    if value != "0" {
        if let Some(d) = parse_go_duration(value) {
            let now_ns = now.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0);
            return Ok((now_ns - d).div_euclid(1_000_000_000).to_string());
        }
    }
    let looks_like_time = value.contains('-') || value.contains('T');
    match parse_time(value, now) {
        Ok((secs, nanos)) => Ok(format!("{secs}.{nanos:09}")),
        Err(e) if value.contains('-') && looks_like_time => Err(e),
        Err(_) if is_unix_timestamp(value) => Ok(value.to_string()),
        Err(_) => Err(format!("failed to parse value as time or duration: {value:?}")),
    }
}

/// The daemon's reading of a `since`/`until` query value: `seconds[.fraction]` (the fraction
/// cut or padded to nanoseconds).
pub fn parse_unix_timestamp(value: &str) -> Result<SystemTime, String> {
    let invalid = |why: String| format!("invalid timestamp {value:?}: {why}");
    let (s, n) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = s.parse().map_err(|_| invalid(format!("invalid seconds {s:?}: invalid syntax")))?;
    if n.len() > 20 {
        return Err(invalid(format!("invalid nanoseconds: length {} exceeds maximum 20", n.len())));
    }
    if let Some((i, c)) = n.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        return Err(invalid(format!("invalid nanoseconds: invalid character {c:?} at position {i}")));
    }
    let mut digits: String = n.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let nanos: u32 = digits.parse().unwrap_or(0);
    Ok(if secs >= 0 { UNIX_EPOCH + Duration::new(secs as u64, nanos) } else { UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nanos as u64) })
}

/// The daemon's reading of a filter's `until` value, which clients pass as typed (Docker
/// applies `GetTimestamp` there too): a duration before `now`, a time, or unix seconds.
pub fn parse_filter_time(value: &str, now: SystemTime) -> Result<SystemTime, String> {
    parse_unix_timestamp(&client_timestamp(value, now)?)
}

/// Nanoseconds since the epoch (an event's `timeNano`; 0 before the epoch).
pub fn unix_nanos(t: SystemTime) -> i128 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_go_duration("10m"), Some(600_000_000_000));
        assert_eq!(parse_go_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_go_duration("-2ms"), Some(-2_000_000));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("m"), None);
        assert_eq!(parse_go_duration("2024-01-01"), None);
    }

    #[test]
    fn client_values_become_unix_timestamps() {
        let now = UNIX_EPOCH + Duration::new(1_700_000_000, 500);
        assert_eq!(client_timestamp("10m", now).unwrap(), "1699999400");
        assert_eq!(client_timestamp("2023-11-14T22:13:20Z", now).unwrap(), "1700000000.000000000");
        assert_eq!(client_timestamp("2023-11-14T22:13:20.5+01:00", now).unwrap(), "1699996400.500000000");
        assert_eq!(client_timestamp("2023-11-14Z", now).unwrap(), "1699920000.000000000");
        assert_eq!(client_timestamp("1700000000.25", now).unwrap(), "1700000000.25");
        assert_eq!(client_timestamp("0", now).unwrap(), "0");
        assert_eq!(client_timestamp("abc", now).unwrap_err(), "failed to parse value as time or duration: \"abc\"");
        assert!(client_timestamp("2023-13-01", now).is_err());
    }

    #[test]
    fn daemon_reads_unix_timestamps() {
        assert_eq!(parse_unix_timestamp("1700000000.5").unwrap(), UNIX_EPOCH + Duration::new(1_700_000_000, 500_000_000));
        assert_eq!(parse_unix_timestamp("12").unwrap(), UNIX_EPOCH + Duration::from_secs(12));
        assert!(parse_unix_timestamp("12.x").unwrap_err().contains("invalid character"));
        assert!(parse_unix_timestamp("abc").unwrap_err().starts_with("invalid timestamp \"abc\": invalid seconds"));
    }

    #[test]
    fn filter_times_are_read_as_clients_send_them() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_filter_time("10m", now).unwrap(), UNIX_EPOCH + Duration::from_secs(1_699_999_400));
        assert_eq!(parse_filter_time("1700000000.5", now).unwrap(), UNIX_EPOCH + Duration::new(1_700_000_000, 500_000_000));
        assert!(parse_filter_time("yesterday", now).is_err());
    }
}
