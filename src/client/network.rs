//! `docker network create|ls|inspect|rm|connect|disconnect|prune`, with the docker CLI 28's
//! flags, requests, output and errors.

use super::api::seg;
use super::flags::{check_args_cli28, flag, map_flag, Kind, Parsed};
use super::format::{self, titles};
use super::{out, Args, Command, Ctx, Failure};
use crate::network::IpNet;
use serde_json::{json, Map, Value};
use std::net::IpAddr;

pub const COMMANDS: &[Command] = &[
    Command {
        name: "network create",
        usage: "docker network create [OPTIONS] NETWORK",
        short: "Create a network",
        args: Args::AtLeast(0),
        interspersed: true,
        flags: &[
            flag("attachable", None, Kind::Bool, "Enable manual container attachment"),
            flag("aux-address", None, Kind::List, "Auxiliary IPv4 or IPv6 addresses used by Network driver (default map[])"),
            flag("config-from", None, Kind::Value, "The network from which to copy the configuration"),
            flag("config-only", None, Kind::Bool, "Create a configuration only network"),
            flag("driver", Some('d'), Kind::Value, "Driver to manage the Network (default \"bridge\")"),
            flag("gateway", None, Kind::List, "IPv4 or IPv6 Gateway for the master subnet"),
            flag("ingress", None, Kind::Bool, "Create swarm routing-mesh network"),
            flag("internal", None, Kind::Bool, "Restrict external access to the network"),
            flag("ip-range", None, Kind::List, "Allocate container ip from a sub-range"),
            flag("ipam-driver", None, Kind::Value, "IP Address Management Driver (default \"default\")"),
            flag("ipam-opt", None, Kind::List, "Set IPAM driver specific options (default map[])"),
            flag("ipv4", None, Kind::Bool, "Enable or disable IPv4 address assignment (default true)"),
            flag("ipv6", None, Kind::Bool, "Enable or disable IPv6 address assignment"),
            flag("label", None, Kind::List, "Set metadata on a network"),
            flag("opt", Some('o'), Kind::List, "Set driver specific options (default map[])"),
            flag("scope", None, Kind::Value, "Control the network's scope"),
            flag("subnet", None, Kind::List, "Subnet in CIDR format that represents a network segment"),
        ],
        run: create_cmd,
    },
    Command {
        name: "network ls",
        usage: "docker network ls [OPTIONS]",
        short: "List networks",
        args: Args::AtLeast(0),
        interspersed: true,
        flags: &[
            flag("filter", Some('f'), Kind::List, "Provide filter values (e.g. \"driver=bridge\")"),
            flag("format", None, Kind::Value, "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates"),
            flag("no-trunc", None, Kind::Bool, "Do not truncate the output"),
            flag("quiet", Some('q'), Kind::Bool, "Only display network IDs"),
        ],
        run: ls_cmd,
    },
    Command {
        name: "network inspect",
        usage: "docker network inspect [OPTIONS] NETWORK [NETWORK...]",
        short: "Display detailed information on one or more networks",
        args: Args::AtLeast(0),
        interspersed: true,
        flags: &[
            flag("format", Some('f'), Kind::Value, "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates"),
            flag("verbose", Some('v'), Kind::Bool, "Verbose output for diagnostics"),
        ],
        run: inspect_cmd,
    },
    Command {
        name: "network rm",
        usage: "docker network rm NETWORK [NETWORK...]",
        short: "Remove one or more networks",
        args: Args::AtLeast(0),
        interspersed: true,
        flags: &[flag("force", Some('f'), Kind::Bool, "Do not error if the network does not exist")],
        run: rm_cmd,
    },
    Command {
        name: "network connect",
        usage: "docker network connect [OPTIONS] NETWORK CONTAINER",
        short: "Connect a container to a network",
        args: Args::AtLeast(0),
        interspersed: true,
        flags: &[
            flag("alias", None, Kind::List, "Add network-scoped alias for the container"),
            flag("driver-opt", None, Kind::List, "driver options for the network"),
            flag("gw-priority", None, Kind::Value, "Highest gw-priority provides the default gateway. Accepts positive and negative values."),
            flag("ip", None, Kind::Value, "IPv4 address (e.g., \"172.30.100.104\")"),
            flag("ip6", None, Kind::Value, "IPv6 address (e.g., \"2001:db8::33\")"),
            flag("link", None, Kind::List, "Add link to another container"),
            flag("link-local-ip", None, Kind::List, "Add a link-local address for the container"),
        ],
        run: connect_cmd,
    },
    Command {
        name: "network disconnect",
        usage: "docker network disconnect [OPTIONS] NETWORK CONTAINER",
        short: "Disconnect a container from a network",
        args: Args::AtLeast(0),
        interspersed: true,
        flags: &[flag("force", Some('f'), Kind::Bool, "Force the container to disconnect from a network")],
        run: disconnect_cmd,
    },
    Command {
        name: "network prune",
        usage: "docker network prune [OPTIONS]",
        short: "Remove all unused networks",
        args: Args::AtLeast(0),
        interspersed: true,
        flags: &[
            flag("filter", None, Kind::List, "Provide filter values (e.g. \"until=<timestamp>\")"),
            flag("force", Some('f'), Kind::Bool, "Do not prompt for confirmation"),
        ],
        run: prune_cmd,
    },
];

/// `docker network X` → the command's name in the table.
pub fn management_alias(group: &str, sub: &str) -> Option<&'static str> {
    if group != "network" {
        return None;
    }
    Some(match sub {
        "create" => "network create",
        "ls" | "list" => "network ls",
        "inspect" => "network inspect",
        "rm" | "remove" => "network rm",
        "connect" => "network connect",
        "disconnect" => "network disconnect",
        "prune" => "network prune",
        _ => return None,
    })
}


fn flag_error(value: &str, long: &str, why: &str, cmd: &str) -> Failure {
    Failure::new(format!("invalid argument \"{value}\" for \"{long}\" flag: {why}\nSee 'docker {cmd} --help'."), 125)
}

/// The CLI's `subnetMatches`: whether `data` (an address or CIDR) is inside `subnet`.
fn subnet_matches(subnet: &str, data: &str) -> Result<bool, String> {
    let s: IpNet = subnet.parse().map_err(|_| format!("invalid subnet: invalid CIDR address: {subnet}"))?;
    let ip: IpAddr = if data.contains('/') {
        data.parse::<IpNet>().map_err(|_| format!("invalid CIDR address: {data}"))?.addr
    } else {
        data.parse().map_err(|_| format!("invalid address: {data}"))?
    };
    Ok(s.contains(&ip))
}

/// `createIPAMConfig`: subnets with their ranges, gateways and aux addresses.
fn ipam_config(subnets: &[&str], ranges: &[&str], gateways: &[&str], aux: &Map<String, Value>) -> Result<Vec<Value>, String> {
    if subnets.len() < ranges.len() || subnets.len() < gateways.len() {
        return Err("every ip-range or gateway must have a corresponding subnet".into());
    }
    let mut configs: Vec<(String, Map<String, Value>)> = Vec::new();
    for s in subnets {
        for (k, _) in &configs {
            if subnet_matches(s, k)? || subnet_matches(k, s)? {
                return Err("multiple overlapping subnet configuration is not supported".into());
            }
        }
        configs.push((s.to_string(), Map::from_iter([("Subnet".to_string(), json!(s)), ("AuxiliaryAddresses".to_string(), json!({}))])));
    }
    let mut attach = |values: &[&str], key: &str, what: &str| -> Result<(), String> {
        for v in values {
            let mut matched = false;
            for (s, c) in configs.iter_mut() {
                if key == "IPRange" {
                    v.parse::<IpNet>().map_err(|_| format!("invalid CIDR address: {v}"))?;
                }
                if !subnet_matches(s, v)? {
                    continue;
                }
                if let Some(old) = c.get(key).and_then(Value::as_str) {
                    return Err(match key {
                        "IPRange" => format!("cannot configure multiple ranges ({v}, {old}) on the same subnet ({s})"),
                        _ => format!("cannot configure multiple gateways ({v}, {old}) for the same subnet ({s})"),
                    });
                }
                c.insert(key.to_string(), json!(v));
                matched = true;
            }
            if !matched {
                return Err(format!("no matching subnet for {what} {v}"));
            }
        }
        Ok(())
    };
    attach(ranges, "IPRange", "range")?;
    attach(gateways, "Gateway", "gateway")?;
    for (name, addr) in aux {
        let addr = addr.as_str().unwrap_or("");
        let mut matched = false;
        for (s, c) in configs.iter_mut() {
            if subnet_matches(s, addr)? {
                if let Some(m) = c.get_mut("AuxiliaryAddresses").and_then(Value::as_object_mut) {
                    m.insert(name.clone(), json!(addr));
                }
                matched = true;
            }
        }
        if !matched {
            return Err(format!("no matching subnet for aux-address {addr}"));
        }
    }
    Ok(configs.into_iter().map(|(_, c)| Value::Object(c)).collect())
}

fn create_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    check_args_cli28(p, "network create", "docker network create [OPTIONS] NETWORK", Args::Exact(1))?;
    let opts = map_flag(p, "opt");
    let ipam_opts = map_flag(p, "ipam-opt");
    let aux = map_flag(p, "aux-address");
    let labels = map_flag(p, "label");
    let split = |long: &str| -> Vec<&str> { p.list(long).into_iter().flat_map(|v| v.split(',')).filter(|s| !s.is_empty()).collect() };
    let config = ipam_config(&split("subnet"), &split("ip-range"), &split("gateway"), &aux).map_err(|e| Failure::new(e, 1))?;
    let mut body = json!({
        "Driver": p.value("driver").unwrap_or("bridge"),
        "Scope": p.value("scope").unwrap_or(""),
        "IPAM": {"Driver": p.value("ipam-driver").unwrap_or("default"), "Options": ipam_opts, "Config": config},
        "Internal": p.bool("internal"),
        "Attachable": p.bool("attachable"),
        "Ingress": p.bool("ingress"),
        "ConfigOnly": p.bool("config-only"),
        "ConfigFrom": p.value("config-from").filter(|c| !c.is_empty()).map(|c| json!({"Network": c})),
        "Options": opts,
        "Labels": labels,
        "Name": p.args[0],
    });
    // As the CLI 28 sends them: only when given.
    if p.has("ipv4") {
        body["EnableIPv4"] = json!(p.bool("ipv4"));
    }
    if p.has("ipv6") {
        body["EnableIPv6"] = json!(p.bool("ipv6"));
    }
    let v = ctx.api()?.json("POST", "/networks/create", &[], Some(&body))?;
    out(&format!("{}\n", v["Id"].as_str().unwrap_or("")));
    Ok(0)
}

/// The network formatter's context: the fields `--format` may name.
fn context(n: &Value, trunc: bool) -> Value {
    let id = n["Id"].as_str().unwrap_or("");
    let mut labels: Vec<String> = n["Labels"].as_object().into_iter().flatten().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect();
    labels.sort();
    let created = n["Created"].as_str().unwrap_or("");
    json!({
        "ID": if trunc { id.chars().take(12).collect::<String>() } else { id.to_string() },
        "Name": n["Name"],
        "Driver": n["Driver"],
        "Scope": n["Scope"],
        // API 1.44 has no EnableIPv4: absent reads false, as the CLI 28 shows it.
        "IPv4": n["EnableIPv4"].as_bool().unwrap_or(false).to_string(),
        "IPv6": n["EnableIPv6"].as_bool().unwrap_or(false).to_string(),
        "Internal": n["Internal"].as_bool().unwrap_or(false).to_string(),
        "Labels": labels.join(","),
        "CreatedAt": go_time_nanos(created),
        "_labels": n["Labels"],
        (crate::template::GO_MARSHAL): true,
    })
}

/// Go's `time.Time.String()` of an RFC 3339 time with nanoseconds:
/// `2026-12-07 13:34:34.466519582 +0000 UTC` (trailing zeros of the fraction dropped).
fn go_time_nanos(rfc3339: &str) -> String {
    let secs = crate::sys::parse_rfc3339(rfc3339).and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs() as i64).unwrap_or(0);
    let whole = format::go_time_string(secs);
    let fraction: String = rfc3339.split_once('.').map(|(_, f)| f.chars().take_while(char::is_ascii_digit).collect()).unwrap_or_default();
    let fraction = fraction.trim_end_matches('0');
    match (fraction.is_empty(), whole.get(..19)) {
        (false, Some(head)) => format!("{head}.{fraction}{}", &whole[19..]),
        _ => whole,
    }
}

/// `{{.Label "k"}}`.
fn label(dot: &Value, args: &[Value]) -> Result<Value, String> {
    let key = args.first().and_then(Value::as_str).unwrap_or("");
    Ok(dot["_labels"].get(key).cloned().unwrap_or(json!("")))
}

const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

fn ls_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    check_args_cli28(p, "network ls", "docker network ls [OPTIONS]", Args::None)?;
    let filters = super::verbs::filter_flags(p, &[], "-f, --filter", "network ls", "docker network ls [OPTIONS]")?;
    let query: Vec<(&str, String)> = filters.map(|f| vec![("filters", f)]).unwrap_or_default();
    let list = ctx.api()?.json("GET", "/networks", &query, None)?;
    let mut nets = list.as_array().cloned().unwrap_or_default();
    nets.sort_by(|a, b| crate::sortorder::natural_cmp(a["Name"].as_str().unwrap_or(""), b["Name"].as_str().unwrap_or("")));
    let custom = p.value("format").filter(|f| !f.is_empty()).map(str::to_string).or_else(|| if p.bool("quiet") { None } else { format::config_format("networksFormat") });
    let format = match custom.as_deref() {
        None | Some("table") if p.bool("quiet") => "{{.ID}}".to_string(),
        Some("raw") if p.bool("quiet") => "network_id: {{.ID}}".to_string(),
        Some("raw") => "network_id: {{.ID}}\nname: {{.Name}}\ndriver: {{.Driver}}\nscope: {{.Scope}}\n".to_string(),
        None | Some("table") => DEFAULT_TABLE.to_string(),
        Some(f) => f.to_string(),
    };
    let items: Vec<Value> = nets.iter().map(|n| context(n, !p.bool("no-trunc"))).collect();
    let t = titles(&[("ID", "NETWORK ID"), ("Name", "NAME"), ("Driver", "DRIVER"), ("Scope", "SCOPE"), ("IPv4", "IPV4"), ("IPv6", "IPV6"), ("Internal", "INTERNAL"), ("Labels", "LABELS"), ("CreatedAt", "CREATED AT")]);
    out(&format::write_list(&format, &items, &t, &[("Label", label)]).map_err(|e| Failure::new(e, 1))?);
    Ok(0)
}

fn inspect_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    check_args_cli28(p, "network inspect", "docker network inspect [OPTIONS] NETWORK [NETWORK...]", Args::AtLeast(1))?;
    let api = ctx.api()?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let query: Vec<(&str, String)> = if p.bool("verbose") { vec![("verbose", "true".into())] } else { vec![] };
    for name in &p.args {
        match api.call("GET", &format!("/networks/{}", seg(name)), &query, None, &[]) {
            Ok(r) => found.push(r.bytes().map(|b| String::from_utf8_lossy(&b).trim().to_string()).map_err(|e| Failure::new(e.to_string(), 1))?),
            Err(e) if e.is_not_found() => errors.push(format!("Error response from daemon: network {name} not found")),
            Err(e) => errors.push(e.to_string()),
        }
    }
    super::system::print_inspected(&found, p.value("format").filter(|f| !f.is_empty()), errors)
}

fn rm_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    check_args_cli28(p, "network rm", "docker network rm NETWORK [NETWORK...]", Args::AtLeast(1))?;
    let api = ctx.api()?;
    let force = p.bool("force");
    // Errors as they come (the CLI prints each at once), names of the removed ones.
    let mut failed = false;
    for name in &p.args {
        match api.call("DELETE", &format!("/networks/{}", seg(name)), &[], None, &[]) {
            Ok(_) => out(&format!("{name}\n")),
            Err(e) if force && e.is_not_found() => {}
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    // The CLI 28 ends a partial failure with its StatusError's text.
    if failed {
        return Err(Failure::new("exit status 1", 1));
    }
    Ok(0)
}

fn connect_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    check_args_cli28(p, "network connect", "docker network connect [OPTIONS] NETWORK CONTAINER", Args::Exact(2))?;
    let cmd = "network connect";
    let mut driver_opts = Map::new();
    for o in p.list("driver-opt") {
        let Some((k, v)) = o.split_once('=') else {
            return Err(Failure::new("invalid key/value pair format in driver options", 1));
        };
        driver_opts.insert(k.trim().to_lowercase(), json!(v.trim()));
    }
    let gw_priority = match p.value("gw-priority") {
        Some(v) => v.parse::<i64>().map_err(|_| flag_error(v, "--gw-priority", &format!("strconv.ParseInt: parsing \"{v}\": invalid syntax"), cmd))?,
        None => 0,
    };
    let ip = p.value("ip").unwrap_or("");
    let ip6 = p.value("ip6").unwrap_or("");
    let link_local: Vec<&str> = p.list("link-local-ip").into_iter().flat_map(|v| v.split(',')).collect();
    let ipam = if !ip.is_empty() || !ip6.is_empty() || !link_local.is_empty() {
        let mut m = Map::new();
        if !ip.is_empty() {
            m.insert("IPv4Address".into(), json!(ip));
        }
        if !ip6.is_empty() {
            m.insert("IPv6Address".into(), json!(ip6));
        }
        if !link_local.is_empty() {
            m.insert("LinkLocalIPs".into(), json!(link_local));
        }
        Value::Object(m)
    } else {
        Value::Null
    };
    let links: Vec<&str> = p.list("link");
    let aliases: Vec<&str> = p.list("alias").into_iter().flat_map(|v| v.split(',')).collect();
    let body = json!({
        "Container": p.args[1],
        "EndpointConfig": {
            "IPAMConfig": ipam,
            "Links": if links.is_empty() { Value::Null } else { json!(links) },
            "Aliases": if aliases.is_empty() { Value::Null } else { json!(aliases) },
            "MacAddress": "",
            "DriverOpts": driver_opts,
            "GwPriority": gw_priority,
            "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null,
        },
    });
    ctx.api()?.call("POST", &format!("/networks/{}/connect", seg(&p.args[0])), &[], Some(&body), &[])?;
    Ok(0)
}

fn disconnect_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    check_args_cli28(p, "network disconnect", "docker network disconnect [OPTIONS] NETWORK CONTAINER", Args::Exact(2))?;
    let body = json!({"Container": p.args[1], "Force": p.bool("force")});
    ctx.api()?.call("POST", &format!("/networks/{}/disconnect", seg(&p.args[0])), &[], Some(&body), &[])?;
    Ok(0)
}

fn prune_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    check_args_cli28(p, "network prune", "docker network prune [OPTIONS]", Args::None)?;
    let filters = super::verbs::filter_flags(p, &[], "--filter", "network prune", "docker network prune [OPTIONS]")?;
    if !p.bool("force") {
        out("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            // The CLI 28 treats a "no" as a cancel: nothing printed, status 0.
            return Ok(0);
        }
    }
    let query: Vec<(&str, String)> = filters.map(|f| vec![("filters", f)]).unwrap_or_default();
    let v = ctx.api()?.json("POST", "/networks/prune", &query, None)?;
    let deleted: Vec<&str> = v["NetworksDeleted"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if !deleted.is_empty() {
        let mut text = String::from("Deleted Networks:\n");
        for n in deleted {
            text.push_str(n);
            text.push('\n');
        }
        text.push('\n');
        out(&text);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipam_flags_group_as_the_cli_groups_them() {
        let aux: Map<String, Value> = Map::from_iter([("h".to_string(), json!("10.5.0.9"))]);
        let c = ipam_config(&["10.5.0.0/16"], &["10.5.1.0/24"], &["10.5.0.1"], &aux).unwrap();
        assert_eq!(c, [json!({"Subnet": "10.5.0.0/16", "IPRange": "10.5.1.0/24", "Gateway": "10.5.0.1", "AuxiliaryAddresses": {"h": "10.5.0.9"}})]);
        assert_eq!(ipam_config(&[], &[], &["10.0.0.1"], &Map::new()).unwrap_err(), "every ip-range or gateway must have a corresponding subnet");
        assert_eq!(ipam_config(&["10.0.0.0/8", "10.1.0.0/16"], &[], &[], &Map::new()).unwrap_err(), "multiple overlapping subnet configuration is not supported");
        assert_eq!(ipam_config(&["10.0.0.0/8"], &[], &["11.0.0.1"], &Map::new()).unwrap_err(), "no matching subnet for gateway 11.0.0.1");
    }
}
