//! Listing and describing images as Docker's CLI and daemon do: `docker images REPO[:TAG]`,
//! filters (`reference` globs, `dangling`, `label`, `before`, `since`, `until`), `--digests`,
//! `--no-trunc`, `--format`, `image ls`; `image prune` by `until`/`label`; `history
//! --no-trunc --format`, `image inspect --format`, `image tag` between registries. Our client
//! and the real CLIs print the same against our daemon.

mod common;

use common::{ok, stderr, stdout, Dockerd, TempDir};
use std::process::Output;

/// Runs `args` with our client and every real CLI; all must print the same; returns it.
fn same(d: &Dockerd, args: &[&str]) -> String {
    compared(d, args, |s| s.to_string())
}

/// [`same`] for the lines in any order: the CLI lists the names of one image in Go's
/// map order, which is random.
fn same_lines(d: &Dockerd, args: &[&str]) -> String {
    compared(d, args, |s| {
        let mut lines: Vec<&str> = s.lines().collect();
        lines.sort();
        lines.join("\n")
    })
}

fn compared(d: &Dockerd, args: &[&str], normal: impl Fn(&str) -> String) -> String {
    let ours = d.docker(args);
    for cli in common::real_clis() {
        let real = d.real_docker(cli, args);
        assert_eq!((normal(&stdout(&ours)), ours.status.code()), (normal(&stdout(&real)), real.status.code()), "{args:?}: ours vs {cli}\nours: {}\nreal: {}", stderr(&ours), stderr(&real));
    }
    assert!(ours.status.success(), "{args:?}: {}", stderr(&ours));
    stdout(&ours)
}

fn import(d: &Dockerd, tmp: &TempDir, file: &str, extra: &[&str]) -> String {
    std::fs::write(tmp.join(file), file).unwrap();
    let tar = tmp.join(format!("{file}.tar"));
    assert!(std::process::Command::new("tar").arg("-cf").arg(&tar).arg("-C").arg(tmp.path()).arg(file).status().unwrap().success());
    let mut args = vec!["import"];
    args.extend_from_slice(extra);
    args.push(tar.to_str().unwrap());
    let o: Output = d.docker(&args);
    ok(&o, d).trim().to_string()
}

fn short(id: &str) -> String {
    id.strip_prefix("sha256:").unwrap_or(id)[..12].to_string()
}

#[test]
fn images_by_reference_filters_digests_and_formats() {
    let Some(d) = Dockerd::start() else { return };
    let tmp = TempDir::new("image-listing");
    let busybox = d.registry.image("busybox");
    ok(&d.docker(&["pull", "-q", &busybox]), &d);
    ok(&d.docker(&["pull", "-q", &d.registry.image("hello-world")]), &d);
    let busybox_id = ok(&d.docker(&["image", "inspect", "--format", "{{.Id}}", &busybox]), &d).trim().to_string();
    // Imported a second apart, so before/since have an order to find.
    let dangling = import(&d, &tmp, "dangling", &["-c", "LABEL tier=low"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let app = import(&d, &tmp, "app", &["-c", "LABEL tier=high", "-c", "LABEL team=x"]);
    ok(&d.docker(&["tag", &app, "app:v1"]), &d);
    ok(&d.docker(&["image", "tag", "app:v1", "other.example:5000/team/app:v2"]), &d);

    let ids = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["images", "-q", "--no-trunc"];
        full.extend_from_slice(args);
        same_lines(&d, &full).lines().map(str::to_string).collect()
    };
    // REPO[:TAG]: only that reference; nothing (not everything) when nothing matches.
    assert_eq!(ids(&[&busybox]), std::slice::from_ref(&busybox_id));
    assert_eq!(ids(&["app:v1"]), std::slice::from_ref(&app));
    assert!(ids(&["app:nope"]).is_empty());
    assert!(ids(&["no/such/repo"]).is_empty());
    assert_eq!(same(&d, &["images", "app:nope"]).lines().collect::<Vec<_>>(), ["REPOSITORY   TAG       IMAGE ID   CREATED   SIZE"]);
    // reference globs on the name, and on name:tag.
    assert_eq!(ids(&["--filter", "reference=*/busybox"]), std::slice::from_ref(&busybox_id));
    assert_eq!(ids(&["--filter", "reference=app:v*"]), std::slice::from_ref(&app));
    assert_eq!(ids(&["--filter", "reference=other.example:5000/*/app"]), std::slice::from_ref(&app));
    let both = ids(&["-f", "reference=app", "-f", "reference=*/busybox"]);
    assert_eq!(both, [app.clone(), busybox_id.clone()]);
    // dangling, label, before, since, until.
    assert_eq!(ids(&["-f", "dangling=true"]), std::slice::from_ref(&dangling));
    assert!(!ids(&["-f", "dangling=false"]).contains(&dangling));
    assert_eq!(ids(&["-f", "label=tier"]), [app.clone(), app.clone(), dangling.clone()]);
    assert_eq!(ids(&["-f", "label=tier=high", "-f", "label=team"]).first(), Some(&app));
    assert_eq!(ids(&["-f", "since=app:v1"]), Vec::<String>::new());
    assert_eq!(ids(&["-f", &format!("since={}", short(&dangling))]).first(), Some(&app));
    assert!(ids(&["-f", "before=app:v1"]).contains(&dangling) && !ids(&["-f", "before=app:v1"]).contains(&app));
    assert!(ids(&["-f", "until=2000-01-01T00:00:00Z"]).is_empty());
    assert_eq!(ids(&["-f", "until=1s", "-f", "dangling=true"]), std::slice::from_ref(&dangling));

    // --digests adds a column with the pulled manifest digest; --format sees .Digest too.
    let table = same(&d, &["images", "--digests", &busybox]);
    let digest = ok(&d.docker(&["image", "inspect", "--format", "{{index .RepoDigests 0}}", &busybox]), &d).trim().rsplit_once('@').unwrap().1.to_string();
    assert!(table.starts_with("REPOSITORY") && table.lines().nth(1).unwrap().contains(&digest), "{table}");
    assert_eq!(same(&d, &["images", "--format", "{{.Repository}}:{{.Tag}} {{.Digest}}", &busybox]), format!("{busybox}:latest {digest}\n"));
    assert_eq!(same(&d, &["image", "ls", "--no-trunc", "--format", "{{.ID}}", "app"]), format!("{app}\n"));
    assert_eq!(same(&d, &["image", "list", "--format", "{{.Repository}}", "other.example:5000/team/app:v2"]), "other.example:5000/team/app\n");
    same_lines(&d, &["images", "-a"]);
    same_lines(&d, &["images", "--format", "{{json .}}"]);

    // inspect and history formats.
    assert_eq!(same(&d, &["image", "inspect", "--format", "{{json .RepoTags}} {{.Config.Labels.tier}}", &app]), "[\"app:v1\",\"other.example:5000/team/app:v2\"] high\n");
    assert_eq!(same(&d, &["image", "inspect", "--format", "{{json .RepoDigests}}", &busybox]), format!("[\"{busybox}@{digest}\"]\n"));
    let history = same(&d, &["history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}", &busybox]);
    assert!(history.starts_with(&format!("{busybox_id}|")), "{history}");
    same(&d, &["history", "--format", "table {{.ID}}\t{{.CreatedSince}}\t{{.Comment}}", "app:v1"]);
    same(&d, &["history", "-H=false", "app:v1"]);
    same(&d, &["image", "history", "--format", "{{json .}}", "app:v1"]);

    // prune: until and label pick what goes (dangling only, without -a).
    let out = same(&d, &["image", "prune", "-f", "--filter", "label=tier=none"]);
    assert_eq!(out, "Total reclaimed space: 0B\n");
    let out = ok(&d.docker(&["image", "prune", "-f", "--filter", "until=2000-01-01T00:00:00Z"]), &d);
    assert_eq!(out, "Total reclaimed space: 0B\n");
    let out = ok(&d.docker(&["image", "prune", "-f", "--filter", "until=1s", "--filter", "label=tier=low"]), &d);
    assert!(out.contains(&format!("deleted: {dangling}")), "{out}");
    assert!(ids(&["-f", "dangling=true"]).is_empty());
    assert_eq!(ids(&["app:v1"]), [app]);
}
