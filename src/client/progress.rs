//! Draws the daemon's JSON progress stream (pull) the way Docker's jsonmessage does: one
//! line per layer redrawn in place with cursor moves on a terminal, plain status lines
//! (no bars) otherwise.

use serde_json::Value;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};

/// Copies the stream to `out`; an `error` message in the stream becomes the error.
pub fn display(stream: impl Read, out: &mut dyn Write, terminal: bool) -> io::Result<Result<(), String>> {
    let mut reader = BufReader::new(stream);
    // Line index of each layer id on screen, counted from the first drawn line.
    let mut lines: HashMap<String, usize> = HashMap::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(Ok(()));
        }
        let Ok(msg) = serde_json::from_str::<Value>(line.trim()) else { continue };
        if let Some(err) = msg.get("errorDetail").and_then(|d| d.get("message")).or_else(|| msg.get("error")).and_then(Value::as_str) {
            return Ok(Err(err.to_string()));
        }
        // Auxiliary data (push's Tag/Digest/Size) is for the program, not the screen.
        if msg.get("aux").is_some() {
            continue;
        }
        let id = msg.get("id").and_then(Value::as_str).unwrap_or("");
        let status = msg.get("status").and_then(Value::as_str).unwrap_or("");
        let stream_text = msg.get("stream").and_then(Value::as_str);
        let progress = msg.get("progressDetail").filter(|p| p.get("total").is_some() || p.get("current").is_some());
        if !terminal {
            // Without a terminal, progress updates are dropped entirely.
            if progress.is_some() {
                continue;
            }
            if let Some(s) = stream_text {
                write!(out, "{s}")?;
            } else if id.is_empty() {
                writeln!(out, "{status}")?;
            } else {
                writeln!(out, "{id}: {status}")?;
            }
            out.flush()?;
            continue;
        }
        if id.is_empty() {
            lines.clear();
            match stream_text {
                Some(s) => write!(out, "{s}")?,
                None => writeln!(out, "{status}")?,
            }
            out.flush()?;
            continue;
        }
        let count = lines.len();
        let index = *lines.entry(id.to_string()).or_insert_with(|| {
            let _ = writeln!(out);
            count
        });
        let up = lines.len() - index;
        // Cursor up to the layer's line, clear it, draw, and come back down.
        write!(out, "\x1b[{up}A\x1b[2K\r{id}: {status}")?;
        if let Some(p) = progress {
            write!(out, " {}", bar(p))?;
        }
        write!(out, "\r\x1b[{up}B")?;
        out.flush()?;
    }
}

/// `[=====>      ]  1.2MB/4.3MB`.
fn bar(p: &Value) -> String {
    let current = p.get("current").and_then(Value::as_f64).unwrap_or(0.0);
    let total = p.get("total").and_then(Value::as_f64).unwrap_or(0.0);
    if total <= 0.0 {
        return super::human::human_size(current);
    }
    const WIDTH: usize = 50;
    let filled = ((current / total) * WIDTH as f64).clamp(0.0, WIDTH as f64) as usize;
    let mut b = "=".repeat(filled);
    if filled < WIDTH {
        b.push('>');
        b.push_str(&" ".repeat(WIDTH - filled - 1));
    }
    format!("[{b}]  {}/{}", super::human::human_size(current), super::human::human_size(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = concat!(
        "{\"status\":\"Pulling from library/hello-world\",\"id\":\"latest\"}\n",
        "{\"status\":\"Pulling fs layer\",\"progressDetail\":{},\"id\":\"78445dd45222\"}\n",
        "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":10,\"total\":100},\"progress\":\"[=>  ]\",\"id\":\"78445dd45222\"}\n",
        "{\"status\":\"Pull complete\",\"progressDetail\":{},\"id\":\"78445dd45222\"}\n",
        "{\"status\":\"Digest: sha256:abc\"}\n",
        "{\"status\":\"Status: Downloaded newer image for hello-world:latest\"}\n",
    );

    #[test]
    fn plain_output_has_no_bars() {
        let mut out = Vec::new();
        display(STREAM.as_bytes(), &mut out, false).unwrap().unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "latest: Pulling from library/hello-world\n78445dd45222: Pulling fs layer\n78445dd45222: Pull complete\nDigest: sha256:abc\nStatus: Downloaded newer image for hello-world:latest\n"
        );
    }

    #[test]
    fn terminal_output_redraws_and_errors_stop() {
        let mut out = Vec::new();
        display(STREAM.as_bytes(), &mut out, true).unwrap().unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("\x1b[1A\x1b[2K\r78445dd45222: Downloading [=====>"));
        let err = display(&b"{\"error\":\"boom\",\"errorDetail\":{\"message\":\"boom\"}}\n"[..], &mut Vec::new(), false).unwrap();
        assert_eq!(err, Err("boom".to_string()));
    }
}
