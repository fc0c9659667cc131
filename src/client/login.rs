//! `docker login` and `docker logout`: the daemon checks credentials against the registry
//! (POST /auth); the client keeps them in `~/.docker/config.json`.

use super::flags::{flag, Kind, Parsed, Spec};
use super::{out, Args, Command, Ctx, Failure};
use serde_json::json;
use std::io::Read;

pub const COMMANDS: &[Command] = &[
    Command {
        name: "login",
        usage: "docker login [OPTIONS] [SERVER]",
        short: "Log in to a registry",
        args: Args::AtMost(1),
        interspersed: true,
        flags: LOGIN_FLAGS,
        run: login_cmd,
    },
    Command {
        name: "logout",
        usage: "docker logout [SERVER]",
        short: "Log out from a registry",
        args: Args::AtMost(1),
        interspersed: true,
        flags: &[],
        run: logout_cmd,
    },
];

const LOGIN_FLAGS: &[Spec] = &[
    flag("username", Some('u'), Kind::Value, "Username"),
    flag("password", Some('p'), Kind::Value, "Password"),
    flag("password-stdin", None, Kind::Bool, "Take the password from stdin"),
];

fn server_arg(p: &Parsed) -> String {
    p.args.first().cloned().unwrap_or_default()
}

fn login_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let server = server_arg(p);
    let domain = crate::auth::registry_domain(&server);
    let mut password = p.value("password").map(str::to_string);
    if p.bool("password-stdin") {
        if password.is_some() {
            return Err(Failure::new("--password and --password-stdin are mutually exclusive", 1));
        }
        if p.value("username").is_none() {
            return Err(Failure::new("Must provide --username with --password-stdin", 1));
        }
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| Failure::new(e.to_string(), 1))?;
        password = Some(s.trim_end_matches(['\n', '\r']).to_string());
    } else if password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let stored = crate::auth::load_credentials(&domain);
    let (user, password) = match (p.value("username"), password) {
        (Some(u), Some(pw)) => (u.to_string(), pw),
        (None, None) if stored.is_some() => stored.unwrap_or_default(),
        (None, Some(_)) => return Err(Failure::new("Error: Cannot perform an interactive login from a non TTY device", 1)),
        _ => return Err(Failure::new("Error: Cannot perform an interactive login from a non TTY device", 1)),
    };
    let server_address = if domain == crate::reference::DEFAULT_DOMAIN { crate::auth::DOCKER_HUB_KEY.to_string() } else { domain.clone() };
    let body = json!({ "username": user, "password": password, "serveraddress": server_address });
    ctx.api()?.json("POST", "/auth", &[], Some(&body))?;
    crate::auth::store_credentials(&domain, &user, &password).map_err(|e| Failure::new(format!("Error saving credentials: {e}"), 1))?;
    out("Login Succeeded\n");
    Ok(0)
}

fn logout_cmd(_ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let server = server_arg(p);
    let domain = crate::auth::registry_domain(&server);
    let shown = if domain == crate::reference::DEFAULT_DOMAIN { crate::auth::DOCKER_HUB_KEY.to_string() } else { domain.clone() };
    match crate::auth::remove_credentials(&domain) {
        Ok(true) => out(&format!("Removing login credentials for {shown}\n")),
        Ok(false) => out(&format!("Not logged in to {shown}\n")),
        Err(e) => return Err(Failure::new(format!("WARNING: could not erase credentials: {e}"), 1)),
    }
    Ok(0)
}
