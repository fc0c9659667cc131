//! Published and exposed ports as Docker writes them: `-p/--publish` specs
//! (`[ip:][hostPort[-range]:]containerPort[-range][/proto]`, `[v6]` host addresses), parsed
//! as docker/go-connections' `nat.ParsePortSpecs` parses them (with its errors), `--expose`
//! ranges, and the two ways the CLI prints ports: `docker ps`'s PORTS column and `docker
//! port`'s lines.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// One host side of a published port (`HostConfig.PortBindings` entries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortBinding {
    pub host_ip: String,
    /// A port, a range to pick one from (`8000-8010`), or empty for an ephemeral one.
    pub host_port: String,
}

/// What `-p` values come to: the ports to expose (`80/tcp`) and their bindings, both keyed
/// by port as Docker's maps are (JSON keys sorted, as Go writes maps).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortSpecs {
    pub exposed: Vec<String>,
    pub bindings: BTreeMap<String, Vec<PortBinding>>,
}

/// `nat.SplitProtoPort`: `80/udp` → (`udp`, `80`); no protocol is tcp.
pub fn split_proto_port(raw: &str) -> (String, String) {
    let parts: Vec<&str> = raw.split('/').collect();
    if raw.is_empty() || parts[0].is_empty() {
        return (String::new(), String::new());
    }
    if parts.len() == 1 || parts[1].is_empty() {
        return ("tcp".into(), parts[0].into());
    }
    (parts[1].into(), parts[0].into())
}

fn parse_u16(s: &str) -> Result<u16, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseUint: parsing \"{s}\": invalid syntax"));
    }
    s.parse::<u16>().map_err(|_| format!("strconv.ParseUint: parsing \"{s}\": value out of range"))
}

/// `nat.ParsePortRange`: `80` or `8000-8010`.
pub fn parse_port_range(ports: &str) -> Result<(u16, u16), String> {
    if ports.is_empty() {
        return Err("empty string specified for ports".into());
    }
    let Some((a, b)) = ports.split_once('-') else {
        let p = parse_u16(ports)?;
        return Ok((p, p));
    };
    let b = b.split('-').next().unwrap_or(b);
    let (start, end) = (parse_u16(a)?, parse_u16(b)?);
    if end < start {
        return Err(format!("invalid range specified for port: {ports}"));
    }
    Ok((start, end))
}

fn valid_proto(p: &str) -> bool {
    matches!(p, "tcp" | "udp" | "sctp")
}

/// `ip`, `hostPort`, `containerPort` of a spec split at its colons, as `nat.splitParts`.
fn split_parts(raw: &str) -> (String, String, String) {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let container = parts[n - 1].to_string();
    match n {
        1 => (String::new(), String::new(), container),
        2 => (String::new(), parts[0].into(), container),
        3 => (parts[0].into(), parts[1].into(), container),
        _ => (parts[..n - 2].join(":"), parts[n - 2].into(), container),
    }
}

/// One `-p` value as `(port, binding)` pairs (`nat.ParsePortSpec`).
pub fn parse_port_spec(raw: &str) -> Result<Vec<(String, PortBinding)>, String> {
    let (mut ip, host_port, container) = split_parts(raw);
    let (proto, container) = split_proto_port(&container);
    if ip.starts_with('[') {
        match ip.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            Some(inner) if !inner.contains('[') && !inner.contains(']') => ip = inner.to_string(),
            _ => return Err(format!("invalid IP address {ip}: address {ip}:: missing port in address")),
        }
    }
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    if container.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }
    let (start, end) = parse_port_range(&container).map_err(|_| format!("invalid containerPort: {container}"))?;
    let (mut host_start, mut host_end) = (0u16, 0u16);
    if !host_port.is_empty() {
        (host_start, host_end) = parse_port_range(&host_port).map_err(|_| format!("invalid hostPort: {host_port}"))?;
    }
    if !host_port.is_empty() && end - start != host_end - host_start && end != start {
        return Err(format!("invalid ranges specified for container and host Ports: {container} and {host_port}"));
    }
    let proto = proto.to_lowercase();
    if !valid_proto(&proto) {
        return Err(format!("invalid proto: {proto}"));
    }
    let mut out = Vec::new();
    for i in 0..=(end - start) {
        let mut host = String::new();
        if !host_port.is_empty() {
            host = (host_start as u32 + i as u32).to_string();
        }
        // A single container port with a host range: the range is where to pick one.
        if start == end && host_start != host_end {
            host = format!("{host}-{host_end}");
        }
        out.push((format!("{}/{proto}", start + i), PortBinding { host_ip: ip.clone(), host_port: host }));
    }
    Ok(out)
}

/// The long syntax `target=80,published=8080,protocol=udp` in the short one, as the CLI
/// converts it before parsing.
pub fn standard_notation(publish: &str) -> Result<String, String> {
    if !publish.contains('=') {
        return Ok(publish.to_string());
    }
    let mut params: BTreeMap<&str, &str> = BTreeMap::from([("protocol", "tcp")]);
    for param in publish.split(',') {
        match param.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                params.insert(k, v);
            }
            _ => return Err(format!("invalid publish opts format (should be name=value but got '{param}')")),
        }
    }
    let get = |k: &str| params.get(k).copied().unwrap_or("");
    Ok(format!("{}:{}/{}", get("published"), get("target"), get("protocol")))
}

/// `nat.ParsePortSpecs` over every `-p` value (in the long syntax or the short one).
pub fn parse_port_specs<S: AsRef<str>>(specs: &[S]) -> Result<PortSpecs, String> {
    let mut out = PortSpecs::default();
    for spec in specs {
        let spec = standard_notation(spec.as_ref())?;
        for (port, binding) in parse_port_spec(&spec)? {
            if !out.exposed.contains(&port) {
                out.exposed.push(port.clone());
            }
            out.bindings.entry(port).or_default().push(binding);
        }
    }
    out.exposed.sort();
    Ok(out)
}

/// One `--expose` value (`80`, `80/udp`, `8000-8010/tcp`) as the ports it exposes.
pub fn parse_expose(spec: &str) -> Result<Vec<String>, String> {
    if spec.contains(':') {
        return Err(format!("invalid port format for --expose: {spec}"));
    }
    let (proto, port) = split_proto_port(spec);
    let (start, end) = parse_port_range(&port).map_err(|e| format!("invalid range format for --expose: {spec}, error: {e}"))?;
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// One entry of a container's `Ports` list (`GET /containers/json`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSummary {
    /// The host address, empty when the port is only exposed.
    pub ip: String,
    pub private_port: u16,
    /// 0 when not published.
    pub public_port: u16,
    pub proto: String,
}

/// Go's `net.JoinHostPort`: brackets around an address with a colon.
pub fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// `docker ps`'s PORTS column as the CLI 28 writes it: sorted by private port, address,
/// public port and protocol; consecutive ports mapped to themselves collapsed into ranges
/// (`0.0.0.0:8000-8001->8000-8001/tcp`, `80-81/tcp`); others as `host:port->port/proto`
/// after them.
pub fn displayable_ports(ports: &[PortSummary]) -> String {
    let mut ports = ports.to_vec();
    ports.sort_by(|a, b| (a.private_port, &a.ip, a.public_port, &a.proto).cmp(&(b.private_port, &b.ip, b.public_port, &b.proto)));
    let mut groups: BTreeMap<String, (u16, u16)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let (mut result, mut host_mappings) = (Vec::new(), Vec::new());
    for p in &ports {
        let current = p.private_port;
        let mut key = p.proto.clone();
        if !p.ip.is_empty() {
            if p.public_port != current {
                host_mappings.push(format!("{}->{}/{}", join_host_port(&p.ip, &p.public_port.to_string()), p.private_port, p.proto));
                continue;
            }
            key = format!("{}/{}", p.ip, p.proto);
        }
        match groups.get_mut(&key) {
            None => {
                groups.insert(key.clone(), (current, current));
                order.push(key);
            }
            Some(g) if g.1.checked_add(1) == Some(current) => g.1 = current,
            Some(g) => {
                result.push(form_group(&key, g.0, g.1));
                *g = (current, current);
            }
        }
    }
    for key in &order {
        let g = groups[key];
        result.push(form_group(key, g.0, g.1));
    }
    result.extend(host_mappings);
    result.join(", ")
}

fn form_group(key: &str, first: u16, last: u16) -> String {
    let (ip, proto) = key.rsplit_once('/').unwrap_or(("", key));
    let mut group = first.to_string();
    if first != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{}->{group}", join_host_port(ip, &group));
    }
    format!("{group}/{proto}")
}

/// `docker port CONTAINER` without a port: `80/tcp -> 0.0.0.0:8080` lines from
/// `NetworkSettings.Ports` (port → [(HostIp, HostPort)]), in natural order as the CLI sorts.
pub fn port_lines(ports: &BTreeMap<String, Vec<(String, String)>>) -> Vec<String> {
    let mut out: Vec<String> = ports.iter().flat_map(|(port, fronts)| fronts.iter().map(move |(ip, hp)| format!("{port} -> {}", join_host_port(ip, hp)))).collect();
    out.sort_by(|a, b| crate::sortorder::natural_cmp(a, b));
    out
}

/// `docker port CONTAINER PORT[/PROTO]`: the host addresses of that port, or the CLI's error.
pub fn port_lines_for(ports: &BTreeMap<String, Vec<(String, String)>>, port: &str, container: &str) -> Result<Vec<String>, String> {
    let (proto, p) = split_proto_port(port);
    let key = format!("{p}/{}", if proto.is_empty() { "tcp" } else { &proto });
    match ports.get(&key).filter(|f| !f.is_empty()) {
        Some(fronts) => {
            let mut out: Vec<String> = fronts.iter().map(|(ip, hp)| join_host_port(ip, hp)).collect();
            out.sort_by(|a, b| crate::sortorder::natural_cmp(a, b));
            Ok(out)
        }
        None => Err(format!("Error: No public port '{port}' published for {container}")),
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    fn b(ip: &str, port: &str) -> PortBinding {
        PortBinding { host_ip: ip.into(), host_port: port.into() }
    }

    #[test]
    fn specs_parse_as_go_connections() {
        let s = parse_port_specs(&["127.0.0.1:8080:80", "9000-9001:9000-9001/udp", "[::1]:53:53/udp", "80", "1.2.3.4::81", "8000-8001:90"]).unwrap();
        assert_eq!(s.exposed, ["53/udp", "80/tcp", "81/tcp", "90/tcp", "9000/udp", "9001/udp"]);
        assert_eq!(s.bindings["80/tcp"], [b("127.0.0.1", "8080"), b("", "")]);
        assert_eq!(s.bindings["9001/udp"], [b("", "9001")]);
        assert_eq!(s.bindings["53/udp"], [b("::1", "53")]);
        assert_eq!(s.bindings["81/tcp"], [b("1.2.3.4", "")]);
        assert_eq!(s.bindings["90/tcp"], [b("", "8000-8001")]);
        let long = parse_port_specs(&["target=80,published=8080,protocol=udp"]).unwrap();
        assert_eq!(long.bindings["80/udp"], [b("", "8080")]);
    }

    #[test]
    fn bad_specs_get_go_connections_errors() {
        let e = |s: &str| parse_port_specs(&[s]).unwrap_err();
        assert_eq!(e("1.2.3:80:80"), "invalid IP address: 1.2.3");
        assert_eq!(e("8080:"), "no port specified: 8080:<empty>");
        assert_eq!(e("8080:http"), "invalid containerPort: http");
        assert_eq!(e("x:80"), "invalid hostPort: x");
        assert_eq!(e("8080-8081:80-82"), "invalid ranges specified for container and host Ports: 80-82 and 8080-8081");
        assert_eq!(e("80/icmp"), "invalid proto: icmp");
        assert_eq!(e("70000"), "invalid containerPort: 70000");
        assert_eq!(e("target=80,bogus"), "invalid publish opts format (should be name=value but got 'bogus')");
        assert_eq!(parse_expose("7000-7001").unwrap(), ["7000/tcp", "7001/tcp"]);
        assert_eq!(parse_expose("53/udp").unwrap(), ["53/udp"]);
        assert_eq!(parse_expose("1:2").unwrap_err(), "invalid port format for --expose: 1:2");
        assert_eq!(parse_expose("x").unwrap_err(), "invalid range format for --expose: x, error: strconv.ParseUint: parsing \"x\": invalid syntax");
        assert_eq!(parse_expose("9-8").unwrap_err(), "invalid range format for --expose: 9-8, error: invalid range specified for port: 9-8");
    }

    #[test]
    fn ps_ports_collapse_as_the_cli_28() {
        let p = |ip: &str, private: u16, public: u16, proto: &str| PortSummary { ip: ip.into(), private_port: private, public_port: public, proto: proto.into() };
        assert_eq!(displayable_ports(&[p("::", 80, 8080, "tcp"), p("0.0.0.0", 80, 8080, "tcp")]), "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp");
        assert_eq!(displayable_ports(&[p("0.0.0.0", 8001, 8001, "tcp"), p("0.0.0.0", 8000, 8000, "tcp"), p("", 53, 0, "udp"), p("", 54, 0, "udp")]), "53-54/udp, 0.0.0.0:8000-8001->8000-8001/tcp");
        assert_eq!(displayable_ports(&[p("", 80, 0, "tcp"), p("", 82, 0, "tcp")]), "80/tcp, 82/tcp");
        assert_eq!(displayable_ports(&[]), "");
    }

    #[test]
    fn port_lines_sort_naturally() {
        let ports = BTreeMap::from([
            ("80/tcp".to_string(), vec![("0.0.0.0".to_string(), "8080".to_string()), ("::".to_string(), "8080".to_string())]),
            ("9000/udp".to_string(), vec![("127.0.0.1".to_string(), "9000".to_string())]),
            ("443/tcp".to_string(), vec![]),
        ]);
        assert_eq!(port_lines(&ports), ["80/tcp -> 0.0.0.0:8080", "80/tcp -> [::]:8080", "9000/udp -> 127.0.0.1:9000"]);
        assert_eq!(port_lines_for(&ports, "80", "web").unwrap(), ["0.0.0.0:8080", "[::]:8080"]);
        assert_eq!(port_lines_for(&ports, "443/tcp", "web").unwrap_err(), "Error: No public port '443/tcp' published for web");
    }
}
