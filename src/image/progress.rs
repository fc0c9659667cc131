//! Docker's pull progress messages: the JSON objects and the text of jsonmessage's bar.

use serde_json::{json, Value};

/// `units.HumanSize`: decimal units, at most four significant digits.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut i = 0;
    while size >= 1000.0 && i < UNITS.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", format_g4(size), UNITS[i])
}

/// Go's `%.4g` for values below 10000: four significant digits, no trailing zeros.
fn format_g4(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let sci = format!("{v:.3e}");
    let exp: i32 = sci.split_once('e').and_then(|(_, e)| e.parse().ok()).unwrap_or(0);
    let decimals = (3 - exp).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The bar text jsonmessage prints for a wide terminal: `[====>    ]  1.2MB/2.4MB`.
pub fn progress_bar(current: u64, total: u64) -> String {
    if total == 0 {
        return format!("{:>8}", human_size(current));
    }
    let filled = ((current as f64 / total as f64 * 100.0) as usize / 2).min(50);
    let bar = format!("[{}>{}] ", "=".repeat(filled), " ".repeat(50 - filled));
    let numbers = if current > total {
        format!("{:>8}", human_size(current))
    } else {
        format!("{:>8}/{}", human_size(current), human_size(total))
    };
    bar + &numbers
}

pub fn status(text: &str) -> Value {
    json!({ "status": text })
}

pub fn with_id(text: &str, id: &str) -> Value {
    json!({ "status": text, "progressDetail": {}, "id": id })
}

pub fn bytes(text: &str, id: &str, current: u64, total: u64) -> Value {
    json!({
        "status": text,
        "progressDetail": { "current": current, "total": total },
        "progress": progress_bar(current, total),
        "id": id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_go_units() {
        assert_eq!(human_size(971), "971B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1031468), "1.031MB");
        assert_eq!(human_size(2_500_000), "2.5MB");
        assert_eq!(human_size(999_950), "1000kB");
        assert_eq!(human_size(12_345_678), "12.35MB");
    }

    #[test]
    fn bar_matches_jsonmessage() {
        assert_eq!(progress_bar(971, 971), format!("[{}>]     971B/971B", "=".repeat(50)));
        assert_eq!(progress_bar(500, 1000), format!("[{}>{}]     500B/1kB", "=".repeat(25), " ".repeat(25)));
        assert_eq!(progress_bar(0, 1000), format!("[>{}]       0B/1kB", " ".repeat(50)));
    }
}
