//! Output formats of `inspect`: Docker's 4-space indented JSON (keeping the daemon's key
//! order, which a parsed map would lose) and a small subset of Go templates
//! (`{{.State.Status}}`, `{{json .Config}}`, literal text between actions).

use serde_json::Value;

/// Re-indents compact or indented JSON text the way Go's json.Indent does with four spaces.
pub fn indent_json(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let chars: Vec<char> = raw.chars().collect();
    let mut i = 0;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("    ");
        }
    };
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            ' ' | '\t' | '\n' | '\r' => {}
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                // Empty containers stay on one line.
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                if j < chars.len() && chars[j] == close {
                    out.push(close);
                    i = j + 1;
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

/// Renders a Go template over `v`. Supports literal text, `{{.A.B}}`, `{{.}}`,
/// `{{json .A}}`, `{{upper .A}}`/`{{lower .A}}`, `{{index .A "k"}}`, `{{len .A}}` and `{{println ...}}`.
pub fn render_template(template: &str, v: &Value) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| format!("template parsing error: template: :1: unclosed action in {template:?}"))?;
        let action = after[..end].trim().trim_start_matches('-').trim_end_matches('-').trim();
        out.push_str(&eval_action(action, v)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn eval_action(action: &str, v: &Value) -> Result<String, String> {
    let words = split_words(action);
    let Some(first) = words.first() else { return Err("template: missing value for command".into()) };
    match first.as_str() {
        "json" => {
            let target = resolve(words.get(1).map(String::as_str).unwrap_or("."), v)?;
            Ok(serde_json::to_string(&target).unwrap_or_default())
        }
        "upper" | "lower" => {
            let s = go_string(&resolve(words.get(1).map(String::as_str).unwrap_or("."), v)?);
            Ok(if first == "upper" { s.to_uppercase() } else { s.to_lowercase() })
        }
        "len" => match resolve(words.get(1).map(String::as_str).unwrap_or("."), v)? {
            Value::Array(a) => Ok(a.len().to_string()),
            Value::Object(m) => Ok(m.len().to_string()),
            Value::String(s) => Ok(s.len().to_string()),
            other => Err(format!("template: :1:2: executing \"\" at <len>: error calling len: len of type {}", go_type(&other))),
        },
        "println" => {
            let parts: Result<Vec<String>, String> = words[1..].iter().map(|w| resolve(w, v).map(|x| go_string(&x))).collect();
            Ok(format!("{}\n", parts?.join(" ")))
        }
        "index" => {
            let base = resolve(words.get(1).map(String::as_str).unwrap_or("."), v)?;
            let key = words.get(2).map(|k| k.trim_matches('"')).unwrap_or("");
            let found = match &base {
                Value::Array(a) => key.parse::<usize>().ok().and_then(|n| a.get(n)).cloned(),
                Value::Object(m) => m.get(key).cloned(),
                _ => None,
            };
            Ok(found.map(|x| go_string(&x)).unwrap_or_else(|| "<no value>".into()))
        }
        path if path.starts_with('.') => Ok(go_string(&resolve(path, v)?)),
        s if s.starts_with('"') => Ok(s.trim_matches('"').to_string()),
        other => Err(format!("template: :1: function \"{other}\" not defined")),
    }
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        _ => "string",
    }
}

fn split_words(action: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in action.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

fn resolve(path: &str, v: &Value) -> Result<Value, String> {
    if path == "." {
        return Ok(v.clone());
    }
    let mut cur = v.clone();
    for field in path.trim_start_matches('.').split('.') {
        cur = match &cur {
            Value::Object(m) => match m.get(field) {
                Some(x) => x.clone(),
                None => return Ok(Value::Null),
            },
            Value::Null => return Ok(Value::Null),
            _ => return Err(format!("template: :1:2: executing \"\" at <{path}>: can't evaluate field {field}")),
        };
    }
    Ok(cur)
}

/// How Go's text/template prints a value.
fn go_string(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_string).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!("map[{}]", m.iter().map(|(k, x)| format!("{k}:{}", go_string(x))).collect::<Vec<_>>().join(" ")),
    }
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
    }

    #[test]
    fn templates_resolve_fields() {
        let v = json!({"Id": "abc", "State": {"Status": "running", "ExitCode": 0}, "Config": {"Cmd": ["sh", "-c"]}});
        assert_eq!(render_template("{{.Id}}", &v).unwrap(), "abc");
        assert_eq!(render_template("s={{.State.Status}} c={{ .State.ExitCode }}", &v).unwrap(), "s=running c=0");
        assert_eq!(render_template("{{json .Config.Cmd}}", &v).unwrap(), "[\"sh\",\"-c\"]");
        assert_eq!(render_template("{{.Config.Cmd}}", &v).unwrap(), "[sh -c]");
        assert_eq!(render_template("{{.Nope}}", &v).unwrap(), "<no value>");
        assert_eq!(render_template("{{index .Config.Cmd 1}}", &v).unwrap(), "-c");
        assert_eq!(render_template("{{len .Config.Cmd}} {{len .State}}", &v).unwrap(), "2 2");
        assert!(render_template("{{len .State.ExitCode}}", &v).unwrap_err().contains("len of type float64"));
    }
}
