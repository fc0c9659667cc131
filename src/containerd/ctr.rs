//! ctr: a command-line client of docker-containerd (version, tasks list/kill/delete, events).

use super::client::Client;
use std::path::PathBuf;

const USAGE: &str = "Usage: ctr [--address SOCKET] COMMAND

containerd CLI

Commands:
  version                        print the client and server versions
  tasks list                     list tasks (alias: tasks ls)
  tasks kill ID [-s SIGNAL] [-a] signal a task (default SIGTERM; -a: all its processes)
  tasks delete ID                delete a stopped task (alias: tasks rm)
  events                         print task events as they happen
";

const DEFAULT_ADDRESS: &str = "/run/containerd/containerd.sock";

pub fn main(args: Vec<String>) -> i32 {
    let mut address = PathBuf::from(std::env::var("CONTAINERD_ADDRESS").unwrap_or_else(|_| DEFAULT_ADDRESS.to_string()));
    let mut rest: Vec<String> = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        if a == "--address" || a == "-a" {
            i += 1;
            match args.get(i) {
                Some(v) => address = PathBuf::from(v),
                None => return usage_error("--address needs a value"),
            }
        } else if let Some(v) = a.strip_prefix("--address=") {
            address = PathBuf::from(v);
        } else if (a == "--help" || a == "-h") && rest.is_empty() {
            print!("{USAGE}");
            return 0;
        } else if (a == "--version" || a == "-v") && rest.is_empty() {
            println!("ctr dockbox {}", crate::version::DOCKBOX);
            return 0;
        } else {
            rest.extend(args[i..].iter().cloned());
            break;
        }
        i += 1;
    }
    let client = Client::new(&address);
    let words: Vec<&str> = rest.iter().map(String::as_str).collect();
    let result = match words.as_slice() {
        ["version"] => version(&client),
        ["tasks" | "task" | "t", "list" | "ls"] => list(&client),
        ["tasks" | "task" | "t", "kill", more @ ..] => kill(&client, more),
        ["tasks" | "task" | "t", "delete" | "rm", id] => client.delete(id).map(|e| println!("{}\t{}", id, e.exit_status)).map_err(|e| e.to_string()),
        ["events"] => events(&client),
        _ => return usage_error("unknown or incomplete command"),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ctr: {e}");
            1
        }
    }
}

fn usage_error(msg: &str) -> i32 {
    eprintln!("ctr: {msg}\n\n{USAGE}");
    2
}

fn version(client: &Client) -> Result<(), String> {
    println!("Client:\n  Version:  {}\n", crate::version::DOCKBOX);
    let server = client.version().map_err(|e| e.to_string())?;
    println!("Server:\n  Version:  {server}");
    Ok(())
}

fn list(client: &Client) -> Result<(), String> {
    let tasks = client.list().map_err(|e| e.to_string())?;
    println!("{:<66} {:<8} STATUS", "TASK", "PID");
    for t in tasks {
        println!("{:<66} {:<8} {}", t.id, t.pid, t.status.to_uppercase());
    }
    Ok(())
}

/// A signal given as a number, `KILL` or `SIGKILL`.
fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return Some(n);
    }
    let upper = s.to_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    name.parse::<nix::sys::signal::Signal>().ok().map(|s| s as i32)
}

fn kill(client: &Client, args: &[&str]) -> Result<(), String> {
    let mut id = None;
    let mut signal = 15;
    let mut all = false;
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "-s" | "--signal" => {
                i += 1;
                let s = args.get(i).ok_or("-s needs a signal")?;
                signal = parse_signal(s).ok_or_else(|| format!("unknown signal {s:?}"))?;
            }
            "-a" | "--all" => all = true,
            other if id.is_none() => id = Some(other),
            other => return Err(format!("unexpected argument {other:?}")),
        }
        i += 1;
    }
    let id = id.ok_or("tasks kill needs a task id")?;
    client.kill(id, signal, all).map_err(|e| e.to_string())
}

fn events(client: &Client) -> Result<(), String> {
    use std::io::Write;
    let mut out = std::io::stdout();
    client
        .raw_events(&mut |v| {
            let topic = v.get("topic").and_then(|t| t.as_str()).unwrap_or("");
            if topic == "/subscribed" {
                return true;
            }
            let now = crate::sys::rfc3339_nanos(std::time::SystemTime::now());
            writeln!(out, "{now} moby {topic} {v}").is_ok() && out.flush().is_ok()
        })
        .map_err(|e| e.to_string())
}
