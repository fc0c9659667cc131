//! Docker's table output: times ago, ellipsis, and the column layout of its tabwriter.
//! Sizes and durations in words come from [`crate::units`].

pub use crate::units::{human_duration, human_size};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    fn tables_pad_like_tabwriter() {
        let t = table(&[vec!["REPOSITORY".into(), "TAG".into(), "SIZE".into()], vec!["busybox".into(), "latest".into(), "1.98MB".into()]]);
        assert_eq!(t, "REPOSITORY   TAG       SIZE\nbusybox      latest    1.98MB\n");
        assert_eq!(ellipsis("abcdefghijklmnopqrstuvwxyz", 20), "abcdefghijklmnopqrs…");
    }
}
