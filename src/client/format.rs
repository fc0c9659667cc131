//! Output formats: Docker's 4-space indented JSON for `inspect` (keeping the daemon's key
//! order, which a parsed map would lose), `--format` Go templates ([`crate::template`]) and
//! the `table` layout of Docker's tabwriter for lists.

use serde_json::Value;

/// Calls `f` with each character of JSON text but the whitespace between tokens, and whether
/// it belongs to a string (its quotes included).
fn scan_json(raw: &str, mut f: impl FnMut(char, bool)) {
    let (mut in_string, mut escaped) = (false, false);
    for c in raw.chars() {
        if in_string {
            f(c, true);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            f(c, true);
        } else if !c.is_whitespace() {
            f(c, false);
        }
    }
}

/// Go's `json.Compact`: whitespace outside strings removed, key order kept.
pub fn compact_json(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    scan_json(raw, |c, _| out.push(c));
    out
}

/// Re-indents compact or indented JSON text the way Go's json.Indent does with four spaces.
pub fn indent_json(raw: &str) -> String {
    let mut chars = Vec::with_capacity(raw.len());
    scan_json(raw, |c, in_string| chars.push((c, in_string)));
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("    ");
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let (c, in_string) = chars[i];
        i += 1;
        if in_string {
            out.push(c);
            continue;
        }
        match c {
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                // Empty containers stay on one line.
                if chars.get(i) == Some(&(close, false)) {
                    out.push(close);
                    i += 1;
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out
}

/// Renders a Go template over `v` (`inspect`'s `--format`, taken as written).
pub fn render_template(template: &str, v: &Value) -> Result<String, String> {
    let t = crate::template::Template::parse(template).map_err(|e| format!("template parsing error: {e}"))?;
    t.execute(v, &[])
}

/// The CLI turns the two characters `\t` and `\n` of a format into a tab and a newline.
pub fn expand_escapes(format: &str) -> String {
    format.replace("\\t", "\t").replace("\\n", "\n")
}

/// Renders a list as Docker's formatter does: `table ...` gets a header row (the template
/// run on `titles`) and the tabwriter's columns, `json` is `{{json .}}`, anything else is
/// one rendering per item; `\t` and `\n` in the format are a tab and a newline.
pub fn write_list(format: &str, items: &[Value], titles: &serde_json::Map<String, Value>, methods: &[crate::template::Method]) -> Result<String, String> {
    let (table, body) = match format {
        f if f.starts_with("table") => (true, &f["table".len()..]),
        "json" => (false, "{{json .}}"),
        f => (false, f),
    };
    let body = expand_escapes(body.trim_matches(' '));
    let t = crate::template::Template::parse(&body).map_err(|e| format!("template parsing error: {e}"))?;
    let mut out = String::new();
    for item in items {
        out.push_str(&t.execute(item, methods).map_err(|e| format!("template parsing error: {e}"))?);
        out.push('\n');
    }
    if !table {
        return Ok(out);
    }
    let header = crate::template::header_row(&body, titles);
    Ok(tabwrite(&format!("{header}\n{out}")))
}

/// Go's text/tabwriter as the docker CLI sets it up (minimum width 10, padding 3, spaces):
/// tab-terminated cells align in columns over the consecutive lines that have them; the text
/// after a line's last tab is not padded.
pub fn tabwrite(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    let mut out = String::new();
    format_block(&lines, 0, lines.len(), &mut widths, &mut out);
    // split('\n') gave one more (empty) line than the text ends with.
    if out.ends_with('\n') && !text.ends_with('\n') {
        out.pop();
    }
    out
}

fn width_of(cell: &str) -> usize {
    cell.chars().count()
}

fn format_block(lines: &[Vec<&str>], mut line0: usize, line1: usize, widths: &mut Vec<usize>, out: &mut String) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut width = 10;
        while this < line1 && column + 1 < lines[this].len() {
            width = width.max(width_of(lines[this][column]) + 3);
            this += 1;
        }
        widths.push(width);
        format_block(lines, line0, this, widths, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for (i, line) in lines.iter().enumerate().take(to).skip(from) {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j + 1 < line.len() {
                if let Some(w) = widths.get(j) {
                    out.push_str(&" ".repeat(w.saturating_sub(width_of(cell))));
                }
            }
        }
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
}

/// Go's `time.Time.String()` of a unix time in the local zone: `2006-01-02 15:04:05 -0700 MST`.
pub fn go_time_string(secs: i64) -> String {
    let Some(tm) = crate::time64::localtime(secs) else { return String::new() };
    let off = crate::time64::gmtoff(&tm);
    let zone = if tm.tm_zone.is_null() {
        String::new()
    } else {
        // SAFETY: tm_zone points to a NUL-terminated string owned by libc's zone data.
        unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) }.to_string_lossy().into_owned()
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {}{:02}{:02} {zone}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        if off < 0 { '-' } else { '+' },
        off.abs() / 3600,
        off.abs() % 3600 / 60
    )
}

/// Titles for a table header, from `(field, title)` pairs.
pub fn titles(pairs: &[(&str, &str)]) -> serde_json::Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect()
}

/// A default format from the client's config.json (`psFormat`, `imagesFormat`).
pub fn config_format(key: &str) -> Option<String> {
    let b = std::fs::read(crate::auth::config_file()).ok()?;
    let v: Value = serde_json::from_slice(&b).ok()?;
    v.get(key).and_then(Value::as_str).filter(|f| !f.is_empty()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn indents_like_go_and_keeps_order() {
        let raw = r#"[{"Id":"abc","Args":[],"State":{"Status":"exited","Note":"a, b: {c}"},"Z":1}]"#;
        assert_eq!(
            indent_json(raw),
            "[\n    {\n        \"Id\": \"abc\",\n        \"Args\": [],\n        \"State\": {\n            \"Status\": \"exited\",\n            \"Note\": \"a, b: {c}\"\n        },\n        \"Z\": 1\n    }\n]"
        );
        let spaced = "{ \"A\" : [ ] ,\n \"B\": \"x \\\" y\" }";
        assert_eq!(indent_json(spaced), "{\n    \"A\": [],\n    \"B\": \"x \\\" y\"\n}");
        assert_eq!(compact_json(spaced), "{\"A\":[],\"B\":\"x \\\" y\"}");
    }

    #[test]
    fn templates_resolve_fields() {
        let v = json!({"Id": "abc", "State": {"Status": "running", "ExitCode": 0}, "Config": {"Cmd": ["sh", "-c"]}});
        assert_eq!(render_template("{{.Id}}", &v).unwrap(), "abc");
        assert_eq!(render_template("s={{.State.Status}} c={{ .State.ExitCode }}", &v).unwrap(), "s=running c=0");
        assert_eq!(render_template("{{json .Config.Cmd}}", &v).unwrap(), "[\"sh\",\"-c\"]");
        assert_eq!(render_template("{{.Config.Cmd}}", &v).unwrap(), "[sh -c]");
        assert!(render_template("{{.Nope}}", &v).unwrap_err().contains("map has no entry for key \"Nope\""));
        assert_eq!(render_template("{{index .Config.Cmd 1}}", &v).unwrap(), "-c");
        assert_eq!(render_template("{{len .Config.Cmd}} {{len .State}}", &v).unwrap(), "2 2");
        assert!(render_template("{{len .State.ExitCode}}", &v).unwrap_err().contains("len of type int"));
    }

    #[test]
    fn tabwriter_columns_like_go() {
        assert_eq!(tabwrite("A\tBB\tC\nlonger-than-ten\tx\ty\n"), "A                 BB        C\nlonger-than-ten   x         y\n");
        // A line without the column ends its block.
        assert_eq!(tabwrite("a\tb\nplain\nccccccccccccc\td\n"), "a         b\nplain\nccccccccccccc   d\n");
        let items = vec![serde_json::json!({"ID": "abc", "Names": "web"})];
        let t = titles(&[("ID", "CONTAINER ID"), ("Names", "NAMES")]);
        assert_eq!(write_list("table {{.ID}}\\t{{.Names}}", &items, &t, &[]).unwrap(), "CONTAINER ID   NAMES\nabc            web\n");
        assert_eq!(write_list("{{.ID}}:{{.Names}}", &items, &t, &[]).unwrap(), "abc:web\n");
        assert_eq!(write_list("json", &items, &t, &[]).unwrap(), "{\"ID\":\"abc\",\"Names\":\"web\"}\n");
    }
}
