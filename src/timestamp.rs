//! Docker's time arguments (`--since`, `--until`, the `until` filter): a Go duration before a
//! reference time, an RFC 3339 time or date, or Unix seconds, all read as Unix
//! `seconds[.nanoseconds]` the way the Engine API carries them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A Go duration (`300ms`, `1h30m`, `-1.5h`); a bare number other than 0 is not one.
pub fn parse_go_duration(s: &str) -> Option<(bool, Duration)> {
    let (negative, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some((false, Duration::ZERO));
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let nanos_per = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * nanos_per;
    }
    Some((negative, Duration::from_nanos(total as u64)))
}

/// Unix `seconds[.fraction]` → time.
pub fn parse_unix(s: &str) -> Option<SystemTime> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let negative = secs.starts_with('-');
    let secs: i64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    let nanos: u32 = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse().ok()? };
    if negative || secs < 0 {
        return Some(UNIX_EPOCH);
    }
    Some(UNIX_EPOCH + Duration::new(secs as u64, nanos))
}

/// Go's `GetTimestamp`: what the client sends for a time argument, `reference` being now.
/// Times without a zone are read as UTC.
pub fn api_timestamp(value: &str, reference: SystemTime) -> Result<String, String> {
    if let Some((negative, d)) = parse_go_duration(value).filter(|_| value != "0") {
        let t = if negative { reference + d } else { reference.checked_sub(d).unwrap_or(UNIX_EPOCH) };
        return Ok(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs().to_string());
    }
    if let Some(t) = parse_time(value) {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        return Ok(format!("{}.{:09}", d.as_secs(), d.subsec_nanos()));
    }
    if value.contains('-') || parse_unix(value).is_none() {
        return Err(format!("failed to parse value as time or duration: \"{value}\""));
    }
    Ok(value.to_string())
}

/// An RFC 3339 time, with the seconds, minutes or the whole clock left out, or a date.
fn parse_time(value: &str) -> Option<SystemTime> {
    if value.len() < 10 || value.as_bytes().get(4) != Some(&b'-') {
        return None;
    }
    let (date, rest) = value.split_at(10);
    let (clock, zone) = match rest.strip_prefix('T') {
        None if rest.is_empty() => ("00:00:00".to_string(), "Z"),
        None => (String::from("00:00:00"), rest),
        Some(r) => {
            let end = r.find(['Z', 'z', '+', '-']).unwrap_or(r.len());
            let (clock, zone) = r.split_at(end);
            let clock = match clock.matches(':').count() {
                0 => format!("{clock}:00:00"),
                1 => format!("{clock}:00"),
                _ => clock.to_string(),
            };
            (clock, if zone.is_empty() { "Z" } else { zone })
        }
    };
    let zone = if zone.eq_ignore_ascii_case("z") { "Z" } else { zone };
    crate::sys::parse_rfc3339(&format!("{date}T{clock}{zone}"))
}

/// A time argument the daemon receives (`until=...` in filters): Unix seconds, an RFC 3339
/// time or a duration before now, as Docker's `GetTimestamp` then `ParseTimestamps`.
pub fn parse_filter_time(value: &str, now: SystemTime) -> Result<SystemTime, String> {
    let ts = api_timestamp(value, now)?;
    parse_unix(&ts).ok_or_else(|| format!("failed to parse value as time or duration: \"{value}\""))
}

/// A time as the Engine API's `seconds.nanoseconds`.
pub fn unix_nanos(t: SystemTime) -> i128 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_dates_and_numbers_become_unix_seconds() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(api_timestamp("10m", now).unwrap(), "1699999400");
        assert_eq!(api_timestamp("1h30m", now).unwrap(), "1699994600");
        assert_eq!(api_timestamp("1700000000.5", now).unwrap(), "1700000000.5");
        assert_eq!(api_timestamp("2023-11-14T22:13:20Z", now).unwrap(), "1700000000.000000000");
        assert_eq!(api_timestamp("2023-11-14T22:13:20.25+00:00", now).unwrap(), "1700000000.250000000");
        assert_eq!(api_timestamp("2023-11-14", now).unwrap(), "1699920000.000000000");
        assert_eq!(api_timestamp("2023-11-14T22:13", now).unwrap(), "1699999980.000000000");
        assert!(api_timestamp("yesterday", now).is_err());
        assert!(api_timestamp("2023-13-99x", now).is_err());
        assert_eq!(parse_unix("12.5"), Some(UNIX_EPOCH + Duration::from_millis(12_500)));
    }
}
