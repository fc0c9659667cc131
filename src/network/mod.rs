//! Container networking below the daemon, one job per module: netlink (links, addresses,
//! routes over rtnetlink), network namespaces kept as files, the bridge driver's plumbing,
//! IPAM, iptables laid out as Docker's, the embedded DNS server, and starting docker-proxy.
//! Nothing here knows dockerd's types: the daemon's network service drives these.
