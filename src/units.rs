//! Sizes and durations in words as Docker prints them (go-units): "4.26MB", "About a minute".

use std::time::Duration;

/// A size with three significant digits, as Docker's tables print sizes.
pub fn human_size(bytes: f64) -> String {
    human_size_with_precision(bytes, 3)
}

/// A size in decimal units with `precision` significant digits, like go-units'
/// HumanSizeWithPrecision: `docker images` uses 3 ("4.26MB"), progress bars 4 ("1.031MB").
pub fn human_size_with_precision(bytes: f64, precision: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", format_g(size, precision), UNITS[unit])
}

/// A size in binary units with four significant digits, like go-units' BytesSize
/// (`docker stats`' memory: "1.484MiB").
pub fn bytes_size(bytes: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut size = bytes;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{}{}", format_g(size, 4), UNITS[unit])
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
    fn four_digit_sizes_match_progress_bars() {
        assert_eq!(human_size_with_precision(971.0, 4), "971B");
        assert_eq!(human_size_with_precision(1031468.0, 4), "1.031MB");
        assert_eq!(human_size_with_precision(2_500_000.0, 4), "2.5MB");
        assert_eq!(human_size_with_precision(999_950.0, 4), "1000kB");
        assert_eq!(human_size_with_precision(12_345_678.0, 4), "12.35MB");
    }
}
