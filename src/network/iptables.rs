//! iptables rules laid out as Docker's bridge driver lays them (the "legacy" iptables layout of
//! Docker 24-26, which works with both backends of the `iptables` command, legacy and nft), so
//! that firewall tooling written for Docker keeps working:
//!
//! - filter: `DOCKER` (one ACCEPT per published port), `DOCKER-USER` (the user's, ending in
//!   RETURN), `DOCKER-ISOLATION-STAGE-1/2` (traffic between bridges dropped, each ending in
//!   RETURN); `FORWARD` jumps to `DOCKER-USER` then `DOCKER-ISOLATION-STAGE-1` first, then per
//!   bridge: conntrack RELATED,ESTABLISHED accept, jump to `DOCKER`, out of the bridge accept,
//!   and the ICC accept (or drop with `--icc=false`).
//! - nat: `DOCKER` (DNAT per published port, after a `-i <bridge> -j RETURN` per bridge),
//!   jumped to from `PREROUTING` and `OUTPUT` for local destinations; `POSTROUTING`
//!   MASQUERADE of each bridge's subnet and the hairpin MASQUERADE per published port.
//!
//! Like Docker, this shells out to the `iptables`/`ip6tables` command with `--wait`, checks a
//! rule with `-C` before adding it (so a restarted dockerd adds nothing twice) and before
//! deleting it (so removal of what is not there is no error).

use super::IpNet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const DOCKER_CHAIN: &str = "DOCKER";
pub const USER_CHAIN: &str = "DOCKER-USER";
pub const ISOLATION_CHAIN_1: &str = "DOCKER-ISOLATION-STAGE-1";
pub const ISOLATION_CHAIN_2: &str = "DOCKER-ISOLATION-STAGE-2";

/// One of the `iptables` tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Filter,
    Nat,
    Mangle,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Filter => "filter",
            Table::Nat => "nat",
            Table::Mangle => "mangle",
        }
    }
}

pub use super::Proto;

/// What a bridge network needs in the tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkRules {
    /// The bridge's interface name (`docker0`, `br-<id>`).
    pub bridge: String,
    /// The network's subnet (host bits are ignored).
    pub subnet: IpNet,
    /// `--ip-masq` (`com.docker.network.bridge.enable_ip_masquerade`).
    pub masquerade: bool,
    /// `--icc` (`com.docker.network.bridge.enable_icc`).
    pub icc: bool,
    /// `docker network create --internal`: nothing in or out of the subnet.
    pub internal: bool,
    /// Hairpin NAT, Docker's mode when the userland proxy is off (`--userland-proxy=false`).
    pub hairpin: bool,
}

/// One published port: `-p [host_ip:]host_port:container_port/proto`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortRule {
    pub proto: Proto,
    /// None (or an unspecified address) is every address of the host.
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_ip: IpAddr,
    pub container_port: u16,
    /// The bridge the container is on.
    pub bridge: String,
    /// Hairpin NAT (userland proxy off): the DNAT also applies to traffic from the bridge.
    pub hairpin: bool,
}

/// The `iptables` (or `ip6tables`) command, run as Docker runs it.
#[derive(Clone, Debug)]
pub struct Iptables {
    program: PathBuf,
    /// Resolved from `program` at construction (None: not found).
    path: Option<PathBuf>,
    ipv6: bool,
}

/// Where a command is looked for besides `$PATH`: dockerd may run with a `PATH` that lacks
/// the sbin directories.
const SBIN_DIRS: [&str; 3] = ["/usr/sbin", "/sbin", "/usr/local/sbin"];

fn look_path(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return is_executable(program).then(|| program.to_path_buf());
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .chain(SBIN_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

impl Iptables {
    /// `iptables` (or `ip6tables` with `ipv6`), looked up in `$PATH` and the sbin directories.
    pub fn new(ipv6: bool) -> Iptables {
        Iptables::with_program(if ipv6 { "ip6tables" } else { "iptables" })
    }

    /// A given command (`iptables-legacy`, `/usr/sbin/ip6tables-nft`, ...); it is the IPv6 one
    /// when its file name starts with `ip6tables`.
    pub fn with_program(program: impl Into<PathBuf>) -> Iptables {
        let program = program.into();
        let ipv6 = program.file_name().is_some_and(|n| n.to_string_lossy().starts_with("ip6tables"));
        let path = look_path(&program);
        Iptables { program, path, ipv6 }
    }

    pub fn is_ipv6(&self) -> bool {
        self.ipv6
    }

    /// Whether the command exists (dockerd's `--iptables` needs it).
    pub fn available(&self) -> bool {
        self.path.is_some()
    }

    /// The command's name in messages, as Docker names it whatever backend it runs.
    fn command_name(&self) -> &'static str {
        if self.ipv6 { "ip6tables" } else { "iptables" }
    }

    /// Runs the command with `--wait` and `args`; its stdout, or Docker's error text:
    /// `iptables failed: iptables --wait ARGS: OUTPUT (exit status N)`.
    pub fn run(&self, args: &[&str]) -> Result<String, String> {
        let path = self.path.as_ref().ok_or_else(|| format!("{} not found", self.program.display()))?;
        let out = Command::new(path)
            .arg("--wait")
            .args(args)
            .output()
            .map_err(|e| format!("iptables failed: {} --wait {}: {e}", self.command_name(), args.join(" ")))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
        output.push_str(&String::from_utf8_lossy(&out.stderr));
        let status = match out.status.code() {
            Some(code) => format!("exit status {code}"),
            None => {
                use std::os::unix::process::ExitStatusExt;
                format!("signal: {}", out.status.signal().unwrap_or(0))
            }
        };
        Err(format!("iptables failed: {} --wait {}: {output} ({status})", self.command_name(), args.join(" ")))
    }

    /// Whether `rule` is in `chain` of `table` (`-C`); a missing chain counts as no.
    pub fn exists(&self, table: Table, chain: &str, rule: &[&str]) -> bool {
        let mut args = vec!["-t", table.name(), "-C", chain];
        args.extend_from_slice(rule);
        self.run(&args).is_ok()
    }

    /// Whether `chain` exists in `table`.
    pub fn chain_exists(&self, table: Table, chain: &str) -> bool {
        self.run(&["-t", table.name(), "-n", "-L", chain]).is_ok()
    }

    /// Makes `chain` in `table` unless it exists.
    pub fn ensure_chain(&self, table: Table, chain: &str) -> Result<(), String> {
        if self.chain_exists(table, chain) {
            return Ok(());
        }
        self.run(&["-t", table.name(), "-N", chain]).map(drop)
    }

    /// Appends (`-A`) `rule` to `chain` unless it is there.
    pub fn append_unique(&self, table: Table, chain: &str, rule: &[&str]) -> Result<(), String> {
        self.program_rule(table, chain, "-A", rule)
    }

    /// Inserts (`-I`, at the top) `rule` into `chain` unless it is there.
    pub fn insert_unique(&self, table: Table, chain: &str, rule: &[&str]) -> Result<(), String> {
        self.program_rule(table, chain, "-I", rule)
    }

    /// Deletes `rule` from `chain` if it is there (its absence is no error).
    pub fn delete_if_exists(&self, table: Table, chain: &str, rule: &[&str]) -> Result<(), String> {
        self.program_rule(table, chain, "-D", rule)
    }

    fn program_rule(&self, table: Table, chain: &str, action: &str, rule: &[&str]) -> Result<(), String> {
        if self.exists(table, chain, rule) != (action == "-D") {
            return Ok(());
        }
        let mut args = vec!["-t", table.name(), action, chain];
        args.extend_from_slice(rule);
        self.run(&args).map(drop)
    }

    /// The rules of `table` as `-S` prints them (`-P`, `-N` and `-A` lines).
    pub fn rules(&self, table: Table) -> Result<Vec<String>, String> {
        Ok(self.run(&["-t", table.name(), "-S"])?.lines().map(str::to_owned).collect())
    }

    /// Docker's base chains and jumps (its bridge driver's start): filter `DOCKER`,
    /// `DOCKER-ISOLATION-STAGE-1/2` and `DOCKER-USER` (each of the last three ending in
    /// RETURN), `FORWARD` jumping to `DOCKER-USER` then `DOCKER-ISOLATION-STAGE-1` first; nat
    /// `DOCKER`, jumped to from `PREROUTING` and `OUTPUT` for local destinations (from
    /// `OUTPUT` not for 127.0.0.0/8 when the userland proxy serves loopback). Idempotent.
    pub fn ensure_chains(&self, userland_proxy: bool) -> Result<(), String> {
        self.ensure_chain(Table::Nat, DOCKER_CHAIN)?;
        self.ensure_chain(Table::Filter, DOCKER_CHAIN)?;
        self.ensure_chain(Table::Filter, ISOLATION_CHAIN_1)?;
        self.ensure_chain(Table::Filter, ISOLATION_CHAIN_2)?;
        self.append_unique(Table::Filter, ISOLATION_CHAIN_1, &["-j", "RETURN"])?;
        self.append_unique(Table::Filter, ISOLATION_CHAIN_2, &["-j", "RETURN"])?;

        let local = ["-m", "addrtype", "--dst-type", "LOCAL", "-j", DOCKER_CHAIN];
        self.append_unique(Table::Nat, "PREROUTING", &local)?;
        let loopback = self.loopback();
        let mut not_loopback = local.to_vec();
        not_loopback.extend_from_slice(&["!", "-d", loopback]);
        // One of the two OUTPUT jumps, the one of this daemon's mode: a daemon started before
        // with the other mode leaves the other behind.
        let (wanted, other) = if userland_proxy { (&not_loopback[..], &local[..]) } else { (&local[..], &not_loopback[..]) };
        self.delete_if_exists(Table::Nat, "OUTPUT", other)?;
        self.append_unique(Table::Nat, "OUTPUT", wanted)?;

        self.ensure_chain(Table::Filter, USER_CHAIN)?;
        self.append_unique(Table::Filter, USER_CHAIN, &["-j", "RETURN"])?;
        self.ensure_forward_jumps()
    }

    /// Empties nat `DOCKER` and filter `DOCKER`, `DOCKER-ISOLATION-STAGE-1/2` (what Docker's
    /// bridge driver does at start, so that ports and isolation rules of a dead daemon do not
    /// outlive it; `DOCKER-USER` is the user's and kept). Chains that do not exist are no
    /// error. Follow with [`Iptables::ensure_chains`] and the networks' and ports' rules.
    pub fn flush_chains(&self) -> Result<(), String> {
        for (table, chain) in
            [(Table::Nat, DOCKER_CHAIN), (Table::Filter, DOCKER_CHAIN), (Table::Filter, ISOLATION_CHAIN_1), (Table::Filter, ISOLATION_CHAIN_2)]
        {
            if self.chain_exists(table, chain) {
                self.run(&["-t", table.name(), "-F", chain])?;
            }
        }
        Ok(())
    }

    fn loopback(&self) -> &'static str {
        if self.ipv6 { "::1/128" } else { "127.0.0.0/8" }
    }

    /// `FORWARD` starts with the jumps to `DOCKER-USER` and `DOCKER-ISOLATION-STAGE-1`, in that
    /// order, once each: Docker moves them back to the top whenever it adds a bridge's rules
    /// (which it inserts at the top).
    fn ensure_forward_jumps(&self) -> Result<(), String> {
        let user = format!("-A FORWARD -j {USER_CHAIN}");
        let isolation = format!("-A FORWARD -j {ISOLATION_CHAIN_1}");
        let listed = self.run(&["-t", "filter", "-S", "FORWARD"])?;
        let rules: Vec<&str> = listed.lines().filter(|l| l.starts_with("-A ")).collect();
        let count = |r: &str| rules.iter().filter(|l| **l == r).count();
        if rules.len() >= 2 && rules[0] == user && rules[1] == isolation && count(&user) == 1 && count(&isolation) == 1 {
            return Ok(());
        }
        for chain in [ISOLATION_CHAIN_1, USER_CHAIN] {
            while self.exists(Table::Filter, "FORWARD", &["-j", chain]) {
                self.run(&["-t", "filter", "-D", "FORWARD", "-j", chain])?;
            }
            self.run(&["-t", "filter", "-I", "FORWARD", "-j", chain])?;
        }
        Ok(())
    }

    /// A bridge network's rules, as Docker's bridge driver adds them when it makes the network
    /// (or restores it at start). On failure nothing of it is left behind.
    pub fn add_network(&self, r: &NetworkRules) -> Result<(), String> {
        self.program_network(r, true).inspect_err(|_| {
            let _ = self.program_network(r, false);
        })
    }

    /// Removes what [`Iptables::add_network`] added; what is already gone is no error.
    pub fn remove_network(&self, r: &NetworkRules) -> Result<(), String> {
        self.program_network(r, false)
    }

    fn program_network(&self, r: &NetworkRules, add: bool) -> Result<(), String> {
        let br = r.bridge.as_str();
        let subnet = r.subnet.network().to_string();
        let set = |table: Table, chain: &str, rule: &[&str]| {
            if add { self.insert_unique(table, chain, rule) } else { self.delete_if_exists(table, chain, rule) }
        };
        let isolation_in = ["-i", br, "!", "-d", subnet.as_str(), "-j", "DROP"];
        let isolation_out = ["-o", br, "!", "-s", subnet.as_str(), "-j", "DROP"];
        let masquerade = ["-s", subnet.as_str(), "!", "-o", br, "-j", "MASQUERADE"];
        let skip_dnat = ["-i", br, "-j", "RETURN"];
        let masquerade_local = ["-m", "addrtype", "--src-type", "LOCAL", "-o", br, "-j", "MASQUERADE"];
        let outgoing = ["-i", br, "!", "-o", br, "-j", "ACCEPT"];
        let to_docker = ["-o", br, "-j", DOCKER_CHAIN];
        let established = ["-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"];
        let to_stage_2 = ["-i", br, "!", "-o", br, "-j", ISOLATION_CHAIN_2];
        let stage_2_drop = ["-o", br, "-j", "DROP"];

        if !add {
            // Everything a network of any settings may have had, so that removal does not
            // depend on remembering them exactly.
            set(Table::Filter, ISOLATION_CHAIN_2, &stage_2_drop)?;
            set(Table::Filter, ISOLATION_CHAIN_1, &to_stage_2)?;
            set(Table::Filter, "FORWARD", &established)?;
            set(Table::Filter, "FORWARD", &to_docker)?;
            set(Table::Filter, "FORWARD", &outgoing)?;
            self.set_icc(br, r.icc, false)?;
            self.set_icc(br, !r.icc, false)?;
            set(Table::Nat, "POSTROUTING", &masquerade_local)?;
            set(Table::Nat, DOCKER_CHAIN, &skip_dnat)?;
            set(Table::Nat, "POSTROUTING", &masquerade)?;
            set(Table::Filter, ISOLATION_CHAIN_1, &isolation_out)?;
            set(Table::Filter, ISOLATION_CHAIN_1, &isolation_in)?;
            return Ok(());
        }

        if r.internal {
            set(Table::Filter, ISOLATION_CHAIN_1, &isolation_in)?;
            set(Table::Filter, ISOLATION_CHAIN_1, &isolation_out)?;
            self.set_icc(br, r.icc, true)?;
        } else {
            if r.masquerade {
                set(Table::Nat, "POSTROUTING", &masquerade)?;
            }
            if r.masquerade && !r.hairpin {
                set(Table::Nat, DOCKER_CHAIN, &skip_dnat)?;
            }
            if r.hairpin {
                // Host-originated traffic hairpinned into the bridge needs the bridge's
                // address as source to come back through the host.
                set(Table::Nat, "POSTROUTING", &masquerade_local)?;
            } else {
                self.delete_if_exists(Table::Nat, "POSTROUTING", &masquerade_local)?;
            }
            self.set_icc(br, r.icc, true)?;
            set(Table::Filter, "FORWARD", &outgoing)?;
            set(Table::Filter, "FORWARD", &to_docker)?;
            set(Table::Filter, "FORWARD", &established)?;
            // Traffic from this bridge to any other goes to stage 2, where going out to this
            // bridge from any other is dropped.
            set(Table::Filter, ISOLATION_CHAIN_1, &to_stage_2)?;
            set(Table::Filter, ISOLATION_CHAIN_2, &stage_2_drop)?;
        }
        self.ensure_forward_jumps()
    }

    /// Inter-container communication on the bridge: ACCEPT inserted at the top of `FORWARD`,
    /// or with ICC off a DROP appended, the other one removed (as Docker's setIcc).
    fn set_icc(&self, br: &str, icc: bool, add: bool) -> Result<(), String> {
        let accept = ["-i", br, "-o", br, "-j", "ACCEPT"];
        let drop = ["-i", br, "-o", br, "-j", "DROP"];
        if !add {
            return self.delete_if_exists(Table::Filter, "FORWARD", if icc { &accept } else { &drop });
        }
        if icc {
            self.delete_if_exists(Table::Filter, "FORWARD", &drop)?;
            self.insert_unique(Table::Filter, "FORWARD", &accept)
        } else {
            self.delete_if_exists(Table::Filter, "FORWARD", &accept)?;
            self.append_unique(Table::Filter, "FORWARD", &drop)
        }
    }

    /// A published port's rules, appended as Docker's do: DNAT in nat `DOCKER`, ACCEPT in
    /// filter `DOCKER`, the hairpin MASQUERADE (a container reaching itself through its
    /// published port) in nat `POSTROUTING`, and for SCTP the checksum fill in mangle
    /// `POSTROUTING`. On failure nothing of it is left behind.
    pub fn add_port(&self, p: &PortRule) -> Result<(), String> {
        self.program_port(p, true).inspect_err(|_| {
            let _ = self.program_port(p, false);
        })
    }

    /// Removes what [`Iptables::add_port`] added; what is already gone is no error.
    pub fn remove_port(&self, p: &PortRule) -> Result<(), String> {
        self.program_port(p, false)
    }

    fn program_port(&self, p: &PortRule, add: bool) -> Result<(), String> {
        let set = |table: Table, chain: &str, rule: &[&str]| {
            if add { self.append_unique(table, chain, rule) } else { self.delete_if_exists(table, chain, rule) }
        };
        let proto = p.proto.name();
        let br = p.bridge.as_str();
        // iptables reads 0.0.0.0 as 0.0.0.0/32; "0/0" is any address for both commands.
        let host_ip = match p.host_ip {
            Some(ip) if !ip.is_unspecified() => ip.to_string(),
            _ => "0/0".to_owned(),
        };
        let host_port = p.host_port.to_string();
        let container_ip = p.container_ip.to_string();
        let container_port = p.container_port.to_string();
        let destination = std::net::SocketAddr::new(p.container_ip, p.container_port).to_string();

        let mut dnat = vec!["-p", proto, "-d", &host_ip, "--dport", &host_port, "-j", "DNAT", "--to-destination", &destination];
        if !p.hairpin {
            dnat.extend_from_slice(&["!", "-i", br]);
        }
        let accept = ["!", "-i", br, "-o", br, "-p", proto, "-d", &container_ip, "--dport", &container_port, "-j", "ACCEPT"];
        let hairpin_masquerade = ["-p", proto, "-s", &container_ip, "-d", &container_ip, "--dport", &container_port, "-j", "MASQUERADE"];
        let sctp_checksum = ["-p", proto, "--sport", &container_port, "-j", "CHECKSUM", "--checksum-fill"];

        if add {
            set(Table::Nat, DOCKER_CHAIN, &dnat)?;
            set(Table::Filter, DOCKER_CHAIN, &accept)?;
            set(Table::Nat, "POSTROUTING", &hairpin_masquerade)?;
            if p.proto == Proto::Sctp {
                set(Table::Mangle, "POSTROUTING", &sctp_checksum)?;
            }
        } else {
            if p.proto == Proto::Sctp {
                set(Table::Mangle, "POSTROUTING", &sctp_checksum)?;
            }
            set(Table::Nat, "POSTROUTING", &hairpin_masquerade)?;
            set(Table::Filter, DOCKER_CHAIN, &accept)?;
            set(Table::Nat, DOCKER_CHAIN, &dnat)?;
        }
        Ok(())
    }

    /// Deletes every rule of the filter and nat tables naming `bridge` as in- or out-interface
    /// (for a dockerd started again after a `kill -9`, to clear what the dead one left before
    /// adding its rules again). The number of rules deleted.
    pub fn remove_rules_naming(&self, bridge: &str) -> Result<usize, String> {
        self.remove_rules_of(bridge, None)
    }

    /// As [`Iptables::remove_rules_naming`], and also every rule whose source, destination or
    /// DNAT target lies in `subnet` (the DNAT and hairpin MASQUERADE of published ports, which
    /// name no interface in hairpin mode).
    pub fn remove_rules_of(&self, bridge: &str, subnet: Option<IpNet>) -> Result<usize, String> {
        let mut removed = 0;
        for table in [Table::Filter, Table::Nat] {
            for line in self.rules(table)? {
                let Some(rest) = line.strip_prefix("-A ") else { continue };
                let words = split_rule(rest);
                if !names_bridge(&words, bridge) && !subnet.is_some_and(|s| names_subnet(&words, &s)) {
                    continue;
                }
                let mut args = vec!["-t", table.name(), "-D"];
                args.extend(words.iter().map(String::as_str));
                self.run(&args)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn names_bridge(words: &[String], bridge: &str) -> bool {
    words.windows(2).any(|w| (w[0] == "-i" || w[0] == "-o") && w[1] == bridge)
}

fn names_subnet(words: &[String], subnet: &IpNet) -> bool {
    words.windows(2).any(|w| {
        let addr = match w[0].as_str() {
            "-s" | "-d" => w[1].split('/').next().unwrap_or(""),
            "--to-destination" => destination_host(&w[1]),
            _ => return false,
        };
        addr.parse::<IpAddr>().is_ok_and(|ip| subnet.contains(&ip))
    })
}

/// The address of a DNAT target: `10.0.0.2:80`, `[fd00::2]:80`, `10.0.0.2`.
fn destination_host(target: &str) -> &str {
    if let Some(rest) = target.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match target.rsplit_once(':') {
        Some((host, _)) if !host.contains(':') => host,
        _ if target.matches(':').count() == 1 => target.split(':').next().unwrap_or(""),
        _ => target,
    }
}

/// A rule as `iptables -S` prints it, back into arguments: words split on spaces, with the
/// double-quoted words (`--comment "a b"`) and their backslash escapes undone.
fn split_rule(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            '\\' if quoted => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            ' ' if !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_printed_by_iptables_split_back_into_arguments() {
        assert_eq!(
            split_rule(r#"FORWARD -o br0 -m comment --comment "a \"b\" c" -j ACCEPT"#),
            ["FORWARD", "-o", "br0", "-m", "comment", "--comment", "a \"b\" c", "-j", "ACCEPT"]
        );
        assert_eq!(split_rule(r#"X --comment """#), ["X", "--comment", ""]);
    }

    #[test]
    fn rules_are_matched_by_bridge_and_subnet() {
        let words = |s: &str| split_rule(s);
        assert!(names_bridge(&words("FORWARD -o dbx1 -j DOCKER"), "dbx1"));
        assert!(!names_bridge(&words("FORWARD -o dbx10 -j DOCKER"), "dbx1"));
        let subnet: IpNet = "10.9.0.0/24".parse().unwrap();
        assert!(names_subnet(&words("DOCKER -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.9.0.2:80"), &subnet));
        assert!(names_subnet(&words("POSTROUTING -s 10.9.0.2/32 -d 10.9.0.2/32 -p tcp -j MASQUERADE"), &subnet));
        assert!(!names_subnet(&words("OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER"), &subnet));
        let v6: IpNet = "fd00:9::/64".parse().unwrap();
        assert!(names_subnet(&words("DOCKER -j DNAT --to-destination [fd00:9::2]:80"), &v6));
        assert_eq!(destination_host("10.0.0.2"), "10.0.0.2");
        assert_eq!(destination_host("fd00::2"), "fd00::2");
    }

    #[test]
    fn a_missing_command_is_named() {
        let ipt = Iptables::with_program("/nonexistent/iptables-dbx");
        assert!(!ipt.available());
        assert_eq!(ipt.run(&["-S"]).unwrap_err(), "/nonexistent/iptables-dbx not found");
        assert!(Iptables::with_program("ip6tables-nft").is_ipv6());
        assert!(!Iptables::new(false).is_ipv6());
    }
}
