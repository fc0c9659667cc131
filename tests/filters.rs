//! One `filters` parser for every route that takes one: `label`, `label!` and unknown keys on
//! `ps`, `images` and the prune routes, through our client and the real CLI 28, compared.

mod common;

use common::{ok, stderr, stdout, Dockerd, TempDir};
use std::path::Path;
use std::process::Output;

const REAL_CLI: &str = "/usr/local/bin/docker";

/// Runs `args` with our client and, when installed, the real CLI; both must give the same
/// output, errors and exit code. Returns ours.
fn both(d: &Dockerd, args: &[&str]) -> Output {
    let ours = d.docker(args);
    if Path::new(REAL_CLI).exists() {
        let real = d.real_docker(REAL_CLI, args);
        assert_eq!((stdout(&ours), stderr(&ours)), (stdout(&real), stderr(&real)), "{args:?} (ours, then the real CLI's)");
        assert_eq!(ours.status.code(), real.status.code(), "exit code of {args:?}");
    }
    ours
}

/// Two images of one tiny layer, labelled `tier=a` and `tier=b` by `docker import --change`.
fn labelled_images(d: &Dockerd, tmp: &TempDir) {
    std::fs::create_dir_all(tmp.join("root")).unwrap();
    std::fs::write(tmp.join("root/hello"), "hello\n").unwrap();
    let tar = tmp.join("layer.tar");
    assert!(std::process::Command::new("tar").arg("-C").arg(tmp.join("root")).arg("-cf").arg(&tar).arg(".").status().unwrap().success());
    for tier in ["a", "b"] {
        ok(&d.docker(&["import", "--change", &format!("LABEL tier={tier}"), tar.to_str().unwrap(), &format!("dbxlabel:{tier}")]), d);
    }
}

#[test]
fn label_and_negated_label_filters_agree_on_every_route() {
    let Some(d) = Dockerd::start() else { return };
    let tmp = TempDir::new("filters");
    labelled_images(&d, &tmp);
    let images = |f: &str| stdout(&both(&d, &["images", "--format", "{{.Repository}}:{{.Tag}}", "-f", "reference=dbxlabel", "-f", f]));
    let sorted = |s: String| {
        let mut l: Vec<String> = s.lines().map(str::to_string).collect();
        l.sort();
        l.join(" ")
    };
    assert_eq!(sorted(images("label=tier")), "dbxlabel:a dbxlabel:b");
    assert_eq!(images("label=tier=a"), "dbxlabel:a\n");
    assert_eq!(images("label!=tier=a"), "dbxlabel:b\n");
    assert_eq!(images("label!=tier"), "");
    assert_eq!(sorted(images("label!=nope")), "dbxlabel:a dbxlabel:b");

    // Containers: `ps` has no `label!` (Docker's daemon refuses it); the prune routes do.
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", "-q", &image]), &d);
    let mut ids = std::collections::HashMap::new();
    for (name, labels) in [("ca", &["tier=a"][..]), ("cb", &["tier=b"]), ("cn", &[]), ("keep", &["tier=a", "keep=1"])] {
        let mut args = vec!["create", "--name", name];
        for l in labels {
            args.extend(["--label", l]);
        }
        args.extend([image.as_str(), "true"]);
        ids.insert(name, ok(&d.docker(&args), &d).trim().to_string());
    }
    let names = |f: &str| sorted(stdout(&both(&d, &["ps", "-a", "--format", "{{.Names}}", "-f", f])));
    assert_eq!(names("label=tier"), "ca cb keep");
    assert_eq!(names("label=tier=a"), "ca keep");
    let o = both(&d, &["ps", "-a", "-f", "label!=tier=a"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("invalid filter 'label!'"), "{}", stderr(&o));

    let prune = |cli: Option<&str>, filters: &[&str]| {
        let mut args = vec!["container", "prune", "-f"];
        for f in filters {
            args.extend(["--filter", f]);
        }
        let o = match cli {
            Some(cli) if Path::new(cli).exists() => d.real_docker(cli, &args),
            _ => d.docker(&args),
        };
        ok(&o, &d)
    };
    let deleted = |id: &str| format!("Deleted Containers:\n{id}\n\nTotal reclaimed space: 0B\n");
    assert_eq!(prune(None, &["label!=tier"]), deleted(&ids["cn"]));
    assert_eq!(prune(Some(REAL_CLI), &["label!=tier=a"]), deleted(&ids["cb"]));
    assert_eq!(prune(None, &["label=tier=a", "label!=keep"]), deleted(&ids["ca"]));
    assert_eq!(names("label=tier"), "keep");
    // Images: `label!` keeps the image that has the label.
    let o = ok(&d.docker(&["image", "prune", "-a", "-f", "--filter", "label!=tier=a", "--filter", "label=tier"]), &d);
    assert!(o.contains("untagged: dbxlabel:b") && !o.contains("dbxlabel:a"), "{o}");
    assert_eq!(images("label=tier"), "dbxlabel:a\n");
}

#[test]
fn unknown_filter_keys_and_bad_values_are_dockers_errors() {
    let Some(d) = Dockerd::start() else { return };
    for args in [&["ps", "-f", "bogus=1"][..], &["images", "-f", "bogus=1"], &["container", "prune", "-f", "--filter", "bogus=1"], &["image", "prune", "-f", "--filter", "bogus=1"]] {
        let o = both(&d, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&o), "Error response from daemon: invalid filter 'bogus'\n", "{args:?}");
    }
    let o = both(&d, &["images", "-f", "dangling=maybe"]);
    assert_eq!(stderr(&o), "Error response from daemon: invalid filter 'dangling=maybe'\n");
    let o = both(&d, &["image", "prune", "-f", "--filter", "until=soon"]);
    assert_eq!(o.status.code(), Some(1));
    for route in ["/containers/json", "/images/json", "/events"] {
        let (status, body) = d.api("GET", &format!("{route}?filters=nope"), None);
        assert_eq!((status, body["message"].as_str()), (400, Some("invalid filter")), "{route}");
    }
    let (status, body) = d.api("POST", "/containers/prune?filters=%7B%22label%22%3A%22x%22%7D", None);
    assert_eq!((status, body["message"].as_str()), (400, Some("invalid filter")));
}
