//! Docker's pull progress messages: the JSON objects and the text of jsonmessage's bar.

use serde_json::{json, Value};

/// A size as jsonmessage prints it in progress bars (four significant digits).
pub fn human_size(bytes: u64) -> String {
    crate::units::human_size_with_precision(bytes as f64, 4)
}

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
    fn bar_matches_jsonmessage() {
        assert_eq!(progress_bar(971, 971), format!("[{}>]     971B/971B", "=".repeat(50)));
        assert_eq!(progress_bar(500, 1000), format!("[{}>{}]     500B/1kB", "=".repeat(25), " ".repeat(25)));
        assert_eq!(progress_bar(0, 1000), format!("[>{}]       0B/1kB", " ".repeat(50)));
    }
}
