//! dockerd's networking flags, as Docker's, and what they mean for the default bridge.

use crate::network::ipam::{self, AddressPool};
use crate::network::IpNet;
use std::net::IpAddr;
use std::path::PathBuf;

/// The name of the default bridge when `--bridge` names none.
pub const DEFAULT_BRIDGE: &str = "docker0";

#[derive(clap::Args, Debug, Clone)]
pub struct NetworkOptions {
    /// Attach containers to a network bridge ("none" for no default bridge)
    #[arg(short = 'b', long = "bridge")]
    pub bridge: Option<String>,
    /// Specify network bridge IP
    #[arg(long = "bip")]
    pub bip: Option<String>,
    /// IPv4 subnet for fixed IPs
    #[arg(long = "fixed-cidr")]
    pub fixed_cidr: Option<String>,
    /// IPv6 subnet for fixed IPs
    #[arg(long = "fixed-cidr-v6")]
    pub fixed_cidr_v6: Option<String>,
    /// Container default gateway IPv4 address
    #[arg(long = "default-gateway")]
    pub default_gateway: Option<IpAddr>,
    /// Container default gateway IPv6 address
    #[arg(long = "default-gateway-v6")]
    pub default_gateway_v6: Option<IpAddr>,
    /// Set the containers network MTU
    #[arg(long = "mtu", default_value_t = 1500)]
    pub mtu: u32,
    /// Default IP when binding container ports
    #[arg(long = "ip", default_value = "0.0.0.0")]
    pub ip: IpAddr,
    /// Enable net.ipv4.ip_forward
    #[arg(long = "ip-forward", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = true)]
    pub ip_forward: bool,
    /// Enable IP masquerading
    #[arg(long = "ip-masq", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = true)]
    pub ip_masq: bool,
    /// Enable addition of iptables rules
    #[arg(long = "iptables", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = true)]
    pub iptables: bool,
    /// Enable addition of ip6tables rules (on by default, as since Docker 27)
    #[arg(long = "ip6tables", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = true)]
    pub ip6tables: bool,
    /// Enable inter-container communication
    #[arg(long = "icc", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = true)]
    pub icc: bool,
    /// Use userland proxy for loopback traffic
    #[arg(long = "userland-proxy", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = true)]
    pub userland_proxy: bool,
    /// Path to the userland proxy binary (default: this executable as docker-proxy)
    #[arg(long = "userland-proxy-path")]
    pub userland_proxy_path: Option<PathBuf>,
    /// Default address pools for node specific local networks (base=CIDR,size=N)
    #[arg(long = "default-address-pool", alias = "default-address-pools", value_parser = ipam::parse_pool)]
    pub default_address_pools: Vec<AddressPool>,
    /// Enable IPv6 networking
    #[arg(long = "ipv6", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = false)]
    pub ipv6: bool,
}

/// The default bridge as the flags describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultBridge {
    pub name: String,
    /// Whether dockerd makes it (the default name) or it must exist already, as Docker's.
    pub managed: bool,
    /// The bridge's own address and the subnet's prefix (`--bip`); None: from the pools.
    pub bip: Option<IpNet>,
    pub fixed_cidr: Option<IpNet>,
    pub fixed_cidr_v6: Option<IpNet>,
}

impl NetworkOptions {
    /// The default bridge, or None with `--bridge=none`; Docker's errors for bad flags.
    pub fn default_bridge(&self) -> Result<Option<DefaultBridge>, String> {
        if !self.icc && !self.iptables {
            return Err("You specified --iptables=false with --icc=false. ICC=false uses iptables to function. Please set --icc or --iptables to true".into());
        }
        if !self.icc && self.ipv6 && !self.ip6tables {
            return Err("You specified --ip6tables=false with --icc=false. ICC=false uses ip6tables to function. Please set --icc or --ip6tables to true".into());
        }
        let name = self.bridge.clone().unwrap_or_else(|| DEFAULT_BRIDGE.to_string());
        if name == "none" {
            return Ok(None);
        }
        if self.bridge.is_some() && self.bip.is_some() {
            return Err("You specified -b & --bip, mutually exclusive options. Please specify only one".into());
        }
        let bip = match &self.bip {
            Some(b) => {
                let net: IpNet = b.parse().map_err(|_| format!("invalid bip: {b}"))?;
                if !net.addr.is_ipv4() || net.network() == net && net.prefix < 32 {
                    return Err(format!("invalid bip: {b}: the bridge's own address is needed, e.g. 10.10.0.1/24"));
                }
                Some(net)
            }
            None => None,
        };
        let parse_cidr = |flag: &str, v: &Option<String>| -> Result<Option<IpNet>, String> {
            v.as_deref().map(|s| s.parse::<IpNet>().map(|n| n.network()).map_err(|_| format!("invalid {flag}: {s}"))).transpose()
        };
        let fixed_cidr = parse_cidr("fixed-cidr", &self.fixed_cidr)?;
        let fixed_cidr_v6 = parse_cidr("fixed-cidr-v6", &self.fixed_cidr_v6)?;
        if let (Some(bip), Some(fixed)) = (&bip, &fixed_cidr) {
            if !bip.network().overlaps(fixed) {
                return Err(format!("fixed-cidr {fixed} is not within the bridge's subnet {}", bip.network()));
            }
        }
        if fixed_cidr_v6.is_some() && !self.ipv6 {
            return Err("fixed-cidr-v6 needs --ipv6".into());
        }
        if self.ipv6 && fixed_cidr_v6.is_none() {
            return Err("--ipv6 needs --fixed-cidr-v6 for the default bridge".into());
        }
        Ok(Some(DefaultBridge { managed: self.bridge.is_none() || name == DEFAULT_BRIDGE, name, bip, fixed_cidr, fixed_cidr_v6 }))
    }

    /// `--default-address-pool` values; Docker's built-in pools when none is given.
    pub fn address_pools(&self) -> Result<Vec<AddressPool>, String> {
        if self.default_address_pools.is_empty() {
            return Ok(ipam::default_pools());
        }
        Ok(self.default_address_pools.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        net: NetworkOptions,
    }

    fn flags(args: &[&str]) -> NetworkOptions {
        Flags::try_parse_from(std::iter::once("dockerd").chain(args.iter().copied())).unwrap().net
    }

    #[test]
    fn the_default_bridge_follows_the_flags() {
        let d = flags(&[]).default_bridge().unwrap().unwrap();
        assert_eq!((d.name.as_str(), d.managed, d.bip), ("docker0", true, None));
        assert_eq!(flags(&["--bridge", "none"]).default_bridge().unwrap(), None);
        let own = flags(&["-b", "br-lan"]).default_bridge().unwrap().unwrap();
        assert!(!own.managed);
        let bip = flags(&["--bip", "10.20.0.1/24", "--fixed-cidr", "10.20.0.128/25"]).default_bridge().unwrap().unwrap();
        assert_eq!(bip.bip.unwrap().to_string(), "10.20.0.1/24");
        assert_eq!(bip.fixed_cidr.unwrap().to_string(), "10.20.0.128/25");
        assert!(flags(&["-b", "x", "--bip", "10.0.0.1/24"]).default_bridge().unwrap_err().contains("mutually exclusive"));
        assert!(flags(&["--bip", "nonsense"]).default_bridge().is_err());
        assert!(flags(&["--bip", "10.20.0.1/24", "--fixed-cidr", "10.30.0.0/24"]).default_bridge().is_err());
        let f = flags(&["--iptables=false", "--icc=false", "--userland-proxy=false", "--ip-masq=false"]);
        assert!(!f.iptables && !f.icc && !f.userland_proxy && !f.ip_masq && f.ip_forward && f.ip6tables);
        assert!(f.default_bridge().unwrap_err().contains("--iptables=false with --icc=false"));
        let f = flags(&["--icc=false", "--ipv6", "--fixed-cidr-v6", "fd00:1::/64", "--ip6tables=false"]);
        assert!(!f.ip6tables);
        assert!(f.default_bridge().unwrap_err().contains("--ip6tables=false with --icc=false"));
        assert!(flags(&["--ip6tables=false", "--ipv6", "--fixed-cidr-v6", "fd00:1::/64"]).default_bridge().is_ok());
    }

    #[test]
    fn address_pools_as_docker_writes_them() {
        let pools = flags(&["--default-address-pool", "base=10.10.0.0/16,size=24"]).address_pools().unwrap();
        assert_eq!(pools, vec![AddressPool { base: "10.10.0.0/16".parse().unwrap(), size: 24 }]);
        assert_eq!(flags(&[]).address_pools().unwrap(), ipam::default_pools());
        let refused = |args: &[&str]| Flags::try_parse_from(std::iter::once("dockerd").chain(args.iter().copied())).is_err();
        assert!(refused(&["--default-address-pool", "base=10.10.0.0/16,size=8"]));
        assert!(refused(&["--default-address-pool", "base=10.10.0.0/16"]));
    }
}
