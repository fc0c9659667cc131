//! `docker diff`: a container's changed paths, `A`dded, `C`hanged or `D`eleted.

use super::api::seg;
use super::flags::Parsed;
use super::{out, Args, Command, Ctx, Failure};

pub const COMMANDS: &[Command] = &[Command {
    name: "diff",
    usage: "docker diff CONTAINER",
    short: "Inspect changes to files or directories on a container's filesystem",
    args: Args::Exact(1),
    interspersed: true,
    flags: &[],
    run: diff_cmd,
}];

fn diff_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let list = ctx.api()?.json("GET", &format!("/containers/{}/changes", seg(&p.args[0])), &[], None)?;
    let mut text = String::new();
    for c in list.as_array().cloned().unwrap_or_default() {
        let kind = match c["Kind"].as_u64() {
            Some(0) => 'C',
            Some(1) => 'A',
            Some(2) => 'D',
            _ => '?',
        };
        text.push_str(&format!("{kind} {}\n", c["Path"].as_str().unwrap_or("")));
    }
    out(&text);
    Ok(0)
}
