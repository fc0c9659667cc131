//! Human-readable sizes and durations the way Docker's tables print them ("4.26MB",
//! "About a minute ago"), plus the column layout of its tabwriter.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A size in decimal units with three significant digits, like go-units' HumanSize.
pub fn human_size(bytes: f64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", format_g(size, 3), UNITS[unit])
}

/// Go's `%.{precision}g`: shortest of fixed or exponent form, trailing zeros dropped.
fn format_g(v: f64, precision: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let sci = format!("{:.*e}", precision - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= precision as i32 {
        let m = trim_zeros(mantissa);
        return format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    let decimals = (precision as i32 - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// An elapsed time in words, like go-units' HumanDuration.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (d.as_secs_f64() / 3600.0 + 0.5) as u64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", seconds / 3600 / 24 / 365)
}

/// "2 minutes ago" for a unix timestamp in seconds.
pub fn ago_from_unix(secs: i64) -> String {
    let then = UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64);
    ago(then)
}

pub fn ago(then: SystemTime) -> String {
    let d = SystemTime::now().duration_since(then).unwrap_or_default();
    format!("{} ago", human_duration(d))
}

/// Lays out rows like Docker's tabwriter (minimum cell width 10, padding 3); the last
/// column is not padded.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                widths[i] = widths[i].max((cell.chars().count() + 3).max(10));
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                line.push_str(&format!("{cell:<w$}", w = widths[i]));
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Shortens to `max` characters, ending in "…", as Docker's ellipsis helper does.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_go_units() {
        assert_eq!(human_size(1_980_000.0), "1.98MB");
        assert_eq!(human_size(4_261_000.0), "4.26MB");
        assert_eq!(human_size(999.0), "999B");
        assert_eq!(human_size(1000.0), "1kB");
        assert_eq!(human_size(12_000.0), "12kB");
        assert_eq!(human_size(123_456_789.0), "123MB");
        assert_eq!(human_size(999_600.0), "1e+03kB");
        assert_eq!(human_size(0.0), "0B");
    }

    #[test]
    fn durations_match_go_units() {
        let s = |n| human_duration(Duration::from_secs(n));
        assert_eq!(human_duration(Duration::from_millis(300)), "Less than a second");
        assert_eq!(s(1), "1 second");
        assert_eq!(s(59), "59 seconds");
        assert_eq!(s(60), "About a minute");
        assert_eq!(s(150), "2 minutes");
        assert_eq!(s(3600), "About an hour");
        assert_eq!(s(2 * 3600), "2 hours");
        assert_eq!(s(3 * 86400), "3 days");
        assert_eq!(s(20 * 86400), "2 weeks");
        assert_eq!(s(90 * 86400), "3 months");
        assert_eq!(s(800 * 86400), "2 years");
    }

    #[test]
    fn tables_pad_like_tabwriter() {
        let t = table(&[vec!["REPOSITORY".into(), "TAG".into(), "SIZE".into()], vec!["busybox".into(), "latest".into(), "1.98MB".into()]]);
        assert_eq!(t, "REPOSITORY   TAG       SIZE\nbusybox      latest    1.98MB\n");
        assert_eq!(ellipsis("abcdefghijklmnopqrstuvwxyz", 20), "abcdefghijklmnopqrs…");
    }
}
