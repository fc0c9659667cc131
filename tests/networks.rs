//! The network store and `/networks` API of dockerd with our client and the real CLIs:
//! create/ls/inspect/rm/prune, Docker's errors, filters, `--format`, labels, events, and a
//! dockerd restart keeping the networks. Each dockerd runs in a network namespace of the
//! test's own, so a bridge driver plugged in makes its bridges there, never on the host
//! (and the subnets are 10.x, never 172.17.0.0/16).

mod common;

use common::{clients, ok, real_clis, stderr, stdout, Dockerd, REAL_CLI};
use serde_json::Value;

/// A dockerd of ours inside a new network namespace (dropped with the daemon), with its
/// default bridge `dbx0` (10.123.0.0/24) and networks without a subnet from 10.200.0.0/16.
fn start(extra: &[&str]) -> Option<Dockerd> {
    Dockerd::start_networked(extra, None).map(|(d, _ns)| d)
}

fn run(d: &Dockerd, cli: Option<&str>, args: &[&str]) -> std::process::Output {
    d.client_with_input(cli, args, None)
}

fn inspect(d: &Dockerd, name: &str) -> Value {
    let (status, v) = d.api("GET", &format!("/networks/{name}"), None);
    assert_eq!(status, 200, "{v}");
    v
}

#[test]
fn networks_are_created_inspected_listed_and_removed_by_every_client() {
    let Some(d) = start(&[]) else { return };
    for (i, cli) in clients().into_iter().enumerate() {
        let name = format!("dbxnet{i}");
        let subnet = format!("10.{}.0.0/16", 60 + i);
        let o = run(&d, cli, &["network", "create", "--subnet", &subnet, "--ip-range", &format!("10.{}.1.0/24", 60 + i), "--gateway", &format!("10.{}.0.254", 60 + i), "--aux-address", &format!("host=10.{}.0.9", 60 + i), "--label", "tier=db", "--internal", "--attachable", "-o", "com.docker.network.driver.mtu=1400", &name]);
        let id = ok(&o, &d).trim().to_string();
        assert_eq!(id.len(), 64, "{cli:?}: {id}");
        let n = inspect(&d, &name);
        assert_eq!(n["Id"], id.as_str());
        assert_eq!((n["Driver"].as_str(), n["Scope"].as_str(), n["Internal"].as_bool(), n["Attachable"].as_bool()), (Some("bridge"), Some("local"), Some(true), Some(true)), "{cli:?}: {n}");
        let c = &n["IPAM"]["Config"][0];
        assert_eq!(c["Subnet"], subnet.as_str());
        assert_eq!(c["Gateway"], format!("10.{}.0.254", 60 + i).as_str());
        assert_eq!(c["IPRange"], format!("10.{}.1.0/24", 60 + i).as_str());
        assert_eq!(c["AuxiliaryAddresses"]["host"], format!("10.{}.0.9", 60 + i).as_str());
        assert_eq!(n["Labels"]["tier"], "db");
        assert_eq!(n["Options"]["com.docker.network.driver.mtu"], "1400");
        assert_eq!(n["Containers"], serde_json::json!({}));

        // inspect by name, id and id prefix; ls shows it.
        for term in [name.as_str(), id.as_str(), &id[..12]] {
            let o = run(&d, cli, &["network", "inspect", "--format", "{{.Name}} {{.Driver}} {{range .IPAM.Config}}{{.Subnet}}{{end}}", term]);
            assert_eq!(ok(&o, &d).trim(), format!("{name} bridge {subnet}"), "{cli:?} {term}");
        }
        let ls = ok(&run(&d, cli, &["network", "ls"]), &d);
        assert!(ls.starts_with("NETWORK ID     NAME"), "{cli:?}: {ls}");
        assert!(ls.lines().any(|l| l.starts_with(&id[..12]) && l.contains(&name) && l.contains("bridge") && l.trim_end().ends_with("local")), "{cli:?}: {ls}");
        let o = run(&d, cli, &["network", "rm", &name, "dbx-missing"]);
        assert_eq!(o.status.code(), Some(1), "{cli:?}: {}{}", stdout(&o), stderr(&o));
        assert_eq!(stdout(&o), format!("{name}\n"));
        // Debian's CLI 20.10 words a missing network its own way.
        let missing = if cli == Some(common::DEBIAN_CLI) { "Error: No such network: dbx-missing" } else { "Error response from daemon: network dbx-missing not found" };
        assert!(stderr(&o).contains(missing), "{cli:?}: {}", stderr(&o));
        assert_eq!(d.api("GET", &format!("/networks/{id}"), None).0, 404);
        if cli != Some(common::DEBIAN_CLI) {
            // (20.10 has no -f here.)
            assert_eq!(run(&d, cli, &["network", "rm", "-f", "dbx-missing"]).status.code(), Some(0), "{cli:?}");
        }
    }
}

#[test]
fn predefined_networks_exist_and_cannot_be_made_or_removed() {
    let Some(d) = start(&[]) else { return };
    let bridge = inspect(&d, "bridge");
    assert_eq!(bridge["Options"]["com.docker.network.bridge.name"], "dbx0");
    assert_eq!(bridge["IPAM"]["Config"][0]["Subnet"], "10.123.0.0/24");
    assert_eq!(inspect(&d, "host")["Driver"], "host");
    assert_eq!(inspect(&d, "none")["Driver"], "null");
    for cli in clients() {
        let cases: [(&[&str], &str); 6] = [
            (&["network", "rm", "bridge"], "Error response from daemon: bridge is a pre-defined network and cannot be removed"),
            (&["network", "rm", "host"], "Error response from daemon: host is a pre-defined network and cannot be removed"),
            (&["network", "create", "none"], "Error response from daemon: operation is not permitted on predefined none network"),
            (&["network", "create", "-d", "host", "myhost"], "Error response from daemon: only one instance of \"host\" network is allowed"),
            (&["network", "create", "-d", "null", "mynull"], "Error response from daemon: only one instance of \"null\" network is allowed"),
            (&["network", "create", "-d", "weave", "w"], "Error response from daemon: plugin \"weave\" not found"),
        ];
        for (args, want) in cases {
            let o = run(&d, cli, args);
            assert_eq!(o.status.code(), Some(1), "{cli:?} {args:?}: {}{}", stdout(&o), stderr(&o));
            assert!(stderr(&o).contains(want), "{cli:?} {args:?}: {}", stderr(&o));
        }
    }
    let names: Vec<String> = stdout(&d.docker(&["network", "ls", "--format", "{{.Name}}"])).lines().map(String::from).collect();
    assert_eq!(names, ["bridge", "host", "none"]);
    // `docker inspect` finds networks after containers and images.
    for args in [&["inspect", "--format", "{{.Driver}}", "none"][..], &["inspect", "--type", "network", "--format", "{{.Driver}}", "host"]] {
        assert_eq!(ok(&d.docker(args), &d).trim(), args[args.len() - 1].replace("none", "null"));
    }
}

#[test]
fn duplicates_overlaps_and_bad_input_get_dockers_errors() {
    let Some(d) = start(&[]) else { return };
    ok(&d.docker(&["network", "create", "--subnet", "10.70.0.0/16", "dbxa"]), &d);
    for cli in clients() {
        let cases: [(&[&str], &str); 6] = [
            (&["network", "create", "dbxa"], "Error response from daemon: network with name dbxa already exists"),
            (&["network", "create", "--subnet", "10.70.8.0/24", "dbxb"], "Error response from daemon: Pool overlaps with other one on this address space"),
            (&["network", "create", "--subnet", "10.123.0.128/25", "dbxb"], "Error response from daemon: Pool overlaps with other one on this address space"),
            (&["network", "create", "--subnet", "10.71.0.1/16", "dbxb"], "invalid subnet 10.71.0.1/16: it should be 10.71.0.0/16"),
            (&["network", "create", "--gateway", "10.9.9.9", "dbxb"], "every ip-range or gateway must have a corresponding subnet"),
            (&["network", "create", "-o", "com.docker.network.bogus=1", "dbxb"], "com.docker.network.bogus"),
        ];
        for (args, want) in cases {
            let o = run(&d, cli, args);
            assert_ne!(o.status.code(), Some(0), "{cli:?} {args:?}: {}", stdout(&o));
            assert!(stderr(&o).contains(want), "{cli:?} {args:?}: {}", stderr(&o));
        }
        assert_eq!(d.api("GET", "/networks/dbxb", None).0, 404, "{cli:?}: a refused network was recorded");
    }
    let (status, v) = d.api("POST", "/networks/create", Some(r#"{"Name":"dbxc","IPAM":{"Config":[{"Subnet":"10.72.0.0/24","Gateway":"10.73.0.1","IPRange":"10.72.1.0/24"}]}}"#));
    assert_eq!(status, 400);
    assert_eq!(v["message"], "invalid network config:\ninvalid ip-range 10.72.1.0/24: parent subnet 10.72.0.0/24 doesn't contain ip-range\ninvalid gateway 10.73.0.1: parent subnet 10.72.0.0/24 doesn't contain this address");
    let (status, v) = d.api("POST", "/networks/create", Some(r#"{"Name":"dbxc","Bogus":1}"#));
    assert_eq!(status, 400, "{v}");
    // Networks without a subnet get the next free one of Docker's pools.
    ok(&d.docker(&["network", "create", "dbxauto1"]), &d);
    ok(&d.docker(&["network", "create", "dbxauto2"]), &d);
    assert_eq!(inspect(&d, "dbxauto1")["IPAM"]["Config"][0]["Subnet"], "10.200.0.0/24");
    assert_eq!(inspect(&d, "dbxauto2")["IPAM"]["Config"][0], serde_json::json!({"Subnet": "10.200.1.0/24", "Gateway": "10.200.1.1"}));
}

#[test]
fn ls_filters_formats_and_labels_as_the_real_cli() {
    let Some(d) = start(&[]) else { return };
    ok(&d.docker(&["network", "create", "--subnet", "10.80.0.0/24", "--label", "team=red", "--label", "env", "dbx-red"]), &d);
    ok(&d.docker(&["network", "create", "--subnet", "10.81.0.0/24", "--label", "team=blue", "dbx-blue"]), &d);
    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["network", "ls", "--format", "{{.Name}}"];
        all.extend_from_slice(args);
        stdout(&d.docker(&all)).lines().map(String::from).collect()
    };
    assert_eq!(names(&["--filter", "label=team=red"]), ["dbx-red"]);
    assert_eq!(names(&["--filter", "label=team"]), ["dbx-blue", "dbx-red"]);
    assert_eq!(names(&["--filter", "type=custom"]), ["dbx-blue", "dbx-red"]);
    assert_eq!(names(&["--filter", "type=builtin"]), ["bridge", "host", "none"]);
    assert_eq!(names(&["--filter", "driver=null"]), ["none"]);
    assert_eq!(names(&["--filter", "name=blu"]), ["dbx-blue"]);
    assert_eq!(names(&["--filter", "dangling=true"]), ["dbx-blue", "dbx-red"]);
    assert_eq!(names(&["--filter", "scope=swarm"]), Vec::<String>::new());
    let id = inspect(&d, "dbx-red")["Id"].as_str().unwrap().to_string();
    assert_eq!(names(&["--filter", &format!("id={}", &id[..10])]), ["dbx-red"]);
    let bad = d.docker(&["network", "ls", "--filter", "type=odd"]);
    assert!(stderr(&bad).contains("invalid filter: 'type'='odd'"), "{}", stderr(&bad));
    let bad = d.docker(&["network", "ls", "--filter", "colour=red"]);
    assert!(stderr(&bad).contains("invalid filter 'colour'"), "{}", stderr(&bad));
    assert_eq!(stdout(&d.docker(&["network", "ls", "--filter", "name=dbx-red", "--format", "{{.Label \"team\"}} {{.Labels}} {{.IPv6}} {{.Internal}}"])), "red env=,team=red false false\n");
    assert_eq!(stdout(&d.docker(&["network", "ls", "-q", "--filter", "name=dbx-red"])), format!("{}\n", &id[..12]));
    assert_eq!(stdout(&d.docker(&["network", "ls", "-q", "--no-trunc", "--filter", "name=dbx-red"])), format!("{id}\n"));
    if std::path::Path::new(REAL_CLI).exists() {
        // The same tables, byte for byte, as the CLI 28 prints them from our daemon (one
        // label only where labels are printed: the CLI prints a Go map in random order).
        for args in [&["network", "ls"][..], &["network", "ls", "--no-trunc"], &["network", "ls", "-f", "label=team=blue", "--format", "table {{.Name}}\t{{.Labels}}\t{{.CreatedAt}}"], &["network", "ls", "-f", "name=dbx-blue", "--format", "json"], &["network", "inspect", "dbx-red"]] {
            let ours = ok(&d.docker(args), &d);
            let theirs = ok(&d.real_docker(REAL_CLI, args), &d);
            assert_eq!(ours, theirs, "{args:?}");
        }
    }
}

#[test]
fn prune_removes_unused_networks_by_filter_and_logs_events() {
    let Some(d) = start(&[]) else { return };
    for (name, subnet, label) in [("dbx-p1", "10.90.0.0/24", "keep=no"), ("dbx-p2", "10.91.0.0/24", "keep=yes"), ("dbx-p3", "10.92.0.0/24", "keep=no")] {
        ok(&d.docker(&["network", "create", "--subnet", subnet, "--label", label, name]), &d);
    }
    let o = d.docker(&["network", "prune", "-f", "--filter", "until=1h"]);
    assert_eq!(ok(&o, &d), "", "nothing is older than an hour");
    let o = d.docker(&["network", "prune", "-f", "--filter", "label=keep=no"]);
    assert_eq!(ok(&o, &d), "Deleted Networks:\ndbx-p1\ndbx-p3\n\n");
    let o = d.docker(&["network", "prune", "-f", "--filter", "label!=keep=yes"]);
    assert_eq!(ok(&o, &d), "");
    if let Some(cli) = real_clis().first() {
        let o = d.real_docker(cli, &["network", "prune", "-f"]);
        assert_eq!(ok(&o, &d), "Deleted Networks:\ndbx-p2\n\n");
    }
    let (status, v) = d.api("POST", "/networks/prune?filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D", None);
    assert_eq!((status, v["message"].as_str()), (400, Some("invalid filter 'dangling'")));
    let (_, v) = d.api("POST", "/networks/prune", None);
    assert_eq!(v, serde_json::json!({"NetworksDeleted": null}));
    let until = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 2).to_string();
    let events = ok(&d.docker(&["events", "--since", "0", "--until", &until, "--filter", "type=network", "--format", "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.type}}"]), &d);
    let lines: Vec<&str> = events.lines().collect();
    let mut want = vec!["create dbx-p1 bridge", "create dbx-p2 bridge", "create dbx-p3 bridge", "destroy dbx-p1 bridge", "destroy dbx-p3 bridge"];
    if !real_clis().is_empty() {
        want.push("destroy dbx-p2 bridge");
    }
    assert_eq!(lines, want, "{events}");
}

#[test]
fn networks_survive_a_dockerd_restart() {
    let Some(mut d) = start(&[]) else { return };
    let id = ok(&d.docker(&["network", "create", "--subnet", "10.95.0.0/24", "--label", "x=1", "-o", "com.docker.network.bridge.name=dbx95", "dbx-kept"]), &d).trim().to_string();
    let before: Vec<Value> = ["bridge", "host", "none", "dbx-kept"].iter().map(|n| inspect(&d, n)).collect();
    let files: Vec<String> = std::fs::read_dir(d.tmp.join("data/network")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(files.contains(&format!("{id}.json")), "{files:?}");
    d.crash_and_restart();
    let after: Vec<Value> = ["bridge", "host", "none", "dbx-kept"].iter().map(|n| inspect(&d, n)).collect();
    assert_eq!(before, after);
    let o = d.docker(&["network", "create", "--subnet", "10.95.0.0/25", "dbx-clash"]);
    assert!(stderr(&o).contains("Pool overlaps with other one on this address space"), "{}", stderr(&o));
    let o = d.docker(&["network", "create", "--subnet", "10.96.0.0/24", "-o", "com.docker.network.bridge.name=dbx95", "dbx-samebridge"]);
    assert_ne!(o.status.code(), Some(0), "two networks on one bridge");
    ok(&d.docker(&["network", "rm", "dbx-kept"]), &d);
    d.crash_and_restart();
    assert_eq!(d.api("GET", "/networks/dbx-kept", None).0, 404);
}

#[test]
fn connect_and_disconnect_are_decoded_and_checked() {
    let Some(d) = start(&[]) else { return };
    ok(&d.docker(&["network", "create", "--subnet", "10.97.0.0/24", "dbx-c"]), &d);
    // Bad settings are refused before the (not yet wired) daemon hook.
    let (status, v) = d.api("POST", "/networks/dbx-c/connect", Some(r#"{"Container":"x","EndpointConfig":{"IPAMConfig":{"IPv4Address":"nope"}}}"#));
    assert_eq!((status, v["message"].as_str()), (400, Some("invalid IPv4 address: nope")));
    let (status, v) = d.api("POST", "/networks/dbx-c/connect", Some(r#"{"Container":"x","EndpointConfig":{"DriverOpts":{"a":"b"}}}"#));
    assert_eq!(status, 400, "{v}");
    let (status, _) = d.api("POST", "/networks/dbx-missing/connect", Some(r#"{"Container":"x"}"#));
    assert_eq!(status, 404);
    let (status, _) = d.api("POST", "/networks/dbx-c/disconnect", Some(r#"{"Container":"x","Force":true,"Bogus":1}"#));
    assert_eq!(status, 400);
}

#[test]
fn run_network_flag_errors_match_the_cli_28() {
    let Some(d) = start(&[]) else { return };
    if !std::path::Path::new(REAL_CLI).exists() {
        return;
    }
    let image = d.registry.image("busybox");
    for args in [
        &["-p", "8080:http"][..],
        &["-p", "1.2.3:80:80"],
        &["-p", "80/icmp"],
        &["--expose", "1:2"],
        &["--network-alias", "x"],
        &["--network", "a", "--network", "host"],
        &["--mac-address", "zz"],
        &["--add-host", "nocolon"],
        &["--restart", ":3"],
        &["-m", "lots"],
    ] {
        let mut all = vec!["create"];
        all.extend_from_slice(args);
        all.push(&image);
        let (ours, theirs) = (d.docker(&all), d.real_docker(REAL_CLI, &all));
        assert_eq!((ours.status.code(), stderr(&ours)), (theirs.status.code(), stderr(&theirs)), "{args:?}");
    }
}

#[test]
fn ipv6_networks_get_their_subnet_and_gateway() {
    let Some(d) = start(&[]) else { return };
    for (i, cli) in clients().into_iter().enumerate() {
        let name = format!("dbx6-{i}");
        let v6 = format!("fd00:db8:{}::/64", i + 1);
        ok(&run(&d, cli, &["network", "create", "--ipv6", "--subnet", &format!("10.{}.0.0/24", 100 + i), "--subnet", &v6, &name]), &d);
        let n = inspect(&d, &name);
        assert_eq!(n["EnableIPv6"], true, "{cli:?}: {n}");
        let configs = n["IPAM"]["Config"].as_array().unwrap();
        assert_eq!(configs.len(), 2, "{n}");
        assert_eq!(configs[1]["Subnet"], v6.as_str());
        assert_eq!(configs[1]["Gateway"], format!("fd00:db8:{}::1", i + 1).as_str());
    }
    // No default IPv6 pool: an IPv6 network needs its subnet.
    let o = d.docker(&["network", "create", "--ipv6", "dbx6-none"]);
    assert!(stderr(&o).contains("non-overlapping IPv6 address pool"), "{}", stderr(&o));
    assert_eq!(d.api("GET", "/networks/dbx6-none", None).0, 404);
}

#[test]
fn default_address_pools_give_new_networks_their_subnets() {
    if !common::require_root() {
        return;
    }
    // No default bridge here: the pool is the only one.
    let Some(d) = Dockerd::start_in(&common::NetNs::new(), &["--default-address-pools", "base=10.150.0.0/16,size=24"], &[]) else { return };
    ok(&d.docker(&["network", "create", "--subnet", "10.150.0.0/24", "dbx-pool0"]), &d);
    ok(&d.docker(&["network", "create", "dbx-pool1"]), &d);
    ok(&d.docker(&["network", "create", "dbx-pool2"]), &d);
    assert_eq!(inspect(&d, "dbx-pool1")["IPAM"]["Config"][0]["Subnet"], "10.150.1.0/24");
    assert_eq!(inspect(&d, "dbx-pool2")["IPAM"]["Config"][0]["Subnet"], "10.150.2.0/24");
    let bad = common::applet("dockerd").args(["--default-address-pools", "base=10.0.0.0/16,size=8", "--version"]).output().unwrap();
    assert_ne!(bad.status.code(), Some(0), "a pool smaller than its subnets was accepted");
}

#[test]
fn failing_network_commands_match_the_cli_28() {
    let Some(d) = start(&[]) else { return };
    if !std::path::Path::new(REAL_CLI).exists() {
        return;
    }
    ok(&d.docker(&["network", "create", "--subnet", "10.110.0.0/24", "dbx-f"]), &d);
    for args in [
        &["network", "inspect", "dbx-nope"][..],
        &["network", "inspect", "dbx-f", "dbx-nope"],
        &["network", "rm", "bridge", "dbx-nope"],
        &["network", "create", "dbx-f"],
        &["network", "create", "--subnet", "10.110.0.0/25", "dbx-g"],
        &["network", "connect", "dbx-nope", "c"],
        &["network", "disconnect", "dbx-nope", "c"],
        &["network", "ls", "--filter", "bogus=1"],
        &["network", "ls", "--filter", "nonsense"],
        &["network", "prune", "-f", "--filter", "dangling=true"],
        &["network", "create"],
        &["network", "rm"],
        &["network", "connect", "dbx-f"],
        &["network", "inspect", "--format", "{{.Nope", "dbx-f"],
        &["network"],
        &["network", "bogus"],
    ] {
        let (ours, theirs) = (d.docker(args), d.real_docker(REAL_CLI, args));
        assert_eq!((ours.status.code(), stderr(&ours), stdout(&ours)), (theirs.status.code(), stderr(&theirs), stdout(&theirs)), "{args:?}");
    }
}

#[test]
fn prune_asks_first_as_the_cli_28() {
    let Some(d) = start(&[]) else { return };
    if !std::path::Path::new(REAL_CLI).exists() {
        return;
    }
    ok(&d.docker(&["network", "create", "--subnet", "10.111.0.0/24", "dbx-ask"]), &d);
    for answer in ["n\n", ""] {
        let ours = d.client_with_input(None, &["network", "prune"], Some(answer.as_bytes()));
        let theirs = d.client_with_input(Some(REAL_CLI), &["network", "prune"], Some(answer.as_bytes()));
        assert_eq!((ours.status.code(), stdout(&ours), stderr(&ours)), (theirs.status.code(), stdout(&theirs), stderr(&theirs)), "{answer:?}");
    }
    assert_eq!(inspect(&d, "dbx-ask")["Name"], "dbx-ask");
    let ours = d.client_with_input(None, &["network", "prune"], Some(b"y\n"));
    assert_eq!(stdout(&ours), "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] Deleted Networks:\ndbx-ask\n\n");
}
