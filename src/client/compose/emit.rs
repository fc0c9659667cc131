//! The resolved project as YAML, the way `docker compose config` prints it: two-space
//! indents, block style, strings quoted only when YAML would read them as something else.

use serde_json::Value;

/// The document for `value` (a mapping at the top), keys in the order given.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    block(value, 0, &mut out);
    out
}

fn block(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                out.push_str(&pad);
                out.push_str(&scalar_string(k));
                out.push(':');
                entry(x, indent, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                out.push_str(&pad);
                out.push('-');
                match x {
                    Value::Object(m) if !m.is_empty() => {
                        // The first key on the dash's line, the rest aligned under it.
                        let mut first = true;
                        for (k, y) in m {
                            if first {
                                out.push(' ');
                                first = false;
                            } else {
                                out.push_str(&" ".repeat(indent + 2));
                            }
                            out.push_str(&scalar_string(k));
                            out.push(':');
                            entry(y, indent + 2, out);
                        }
                    }
                    other => entry(other, indent, out),
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

/// What follows `key:` or `-`: a scalar on the same line, or a nested block.
fn entry(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            block(v, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            block(v, indent + 2, out);
        }
        Value::Object(_) => out.push_str(" {}\n"),
        Value::Array(_) => out.push_str(" []\n"),
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_string(s),
        _ => String::new(),
    }
}

/// A string plain when YAML reads it back as the same string, else double-quoted.
pub fn scalar_string(s: &str) -> String {
    if needs_quotes(s) {
        serde_json::to_string(s).unwrap_or_default()
    } else {
        s.to_string()
    }
}

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() || s.trim() != s {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(lower.as_str(), "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~") {
        return true;
    }
    let numeric = s.parse::<f64>().is_ok() || s.starts_with("0x") || s.starts_with("0o") || s.starts_with('.') || s.chars().all(|c| c.is_ascii_digit() || c == '_' || c == ':');
    if numeric {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        // `-x` and `?x` are plain unless followed by a space; quote them all for simplicity.
        return true;
    }
    s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.chars().any(|c| c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_style_as_compose_prints() {
        let v = json!({"name": "p", "services": {"web": {"command": ["sh", "-c"], "environment": {"A": "1", "B": "x y"}, "ports": [{"mode": "ingress", "target": 80, "published": "8080"}], "networks": {"default": null}}}});
        let text = to_yaml(&v);
        let want = "name: p\nservices:\n  web:\n    command:\n      - sh\n      - \"-c\"\n    environment:\n      A: \"1\"\n      B: x y\n    networks:\n      default: null\n    ports:\n      - mode: ingress\n        published: \"8080\"\n        target: 80\n";
        assert_eq!(text, want);
        // And YAML reads it back as the same value.
        let back = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
        assert_eq!(back[0]["services"]["web"]["environment"]["A"].as_str(), Some("1"));
        assert_eq!(back[0]["services"]["web"]["command"][1].as_str(), Some("-c"));
        assert_eq!(back[0]["services"]["web"]["ports"][0]["target"].as_i64(), Some(80));
    }

    #[test]
    fn quoting() {
        for s in ["", "true", "no", "1.5", "123", "-x", "a: b", "*x", " x", "1:2"] {
            assert!(needs_quotes(s), "{s}");
        }
        for s in ["busybox:latest", "x y", "/data", "a-b", "http://x"] {
            assert!(!needs_quotes(s), "{s}");
        }
    }
}
