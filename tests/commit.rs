//! `docker commit` (`POST /commit`) through our client, the real docker CLI 28 and docker-py:
//! the container's changes become a layer on its image, the `--change` instructions and the
//! config rules as Docker's, history, parent and `rmi`'s dependent-child rule, and a running
//! container paused for the moment and resumed.

mod common;

use common::{ok, real_clis, stderr, stdout, Dockerd, REAL_CLI};
use serde_json::{json, Value};
use std::process::Output;

fn fails(o: &Output) -> String {
    assert_ne!(o.status.code(), Some(0), "stdout: {}", stdout(o));
    stderr(o)
}

fn image_inspect(d: &Dockerd, name: &str) -> Value {
    let (status, v) = d.api("GET", &format!("/images/{name}/json"), None);
    assert_eq!(status, 200, "{v}");
    v
}

#[test]
fn a_commit_holds_the_containers_changes_and_the_changed_config() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["run", "--name", "maker", "-e", "KEPT=1", &image, "sh", "-c", "echo hi > /hello && rm /bin/ls && mkdir /made"]), &d);
    let diff = ok(&d.docker(&["diff", "maker"]), &d);
    assert!(diff.contains("A /hello") && diff.contains("D /bin/ls"), "{diff}");
    let out = ok(&d.docker(&["commit", "-a", "Ann <ann@example.com>", "-m", "first commit", "-c", "ENV B=$KEPT", "-c", "CMD [\"cat\", \"/hello\"]", "-c", "EXPOSE 8080", "maker", "made:v1"]), &d);
    let id = out.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");

    // The new image runs with the changes and the new config.
    assert_eq!(ok(&d.docker(&["run", "--rm", "made:v1"]), &d), "hi\n");
    let o = d.docker(&["run", "--rm", "made:v1", "test", "-e", "/bin/ls"]);
    assert_eq!(o.status.code(), Some(1), "/bin/ls was deleted in the container: {}", stderr(&o));
    assert_eq!(ok(&d.docker(&["run", "--rm", "made:v1", "sh", "-c", "test -d /made && echo $KEPT $B"]), &d), "1 1\n");

    let v = image_inspect(&d, "made:v1");
    let base = image_inspect(&d, &image);
    assert_eq!(v["Id"], json!(id));
    assert_eq!(v["Parent"], base["Id"], "{v}");
    assert_eq!(v["Author"], json!("Ann <ann@example.com>"));
    assert_eq!(v["Comment"], json!("first commit"));
    let maker = {
        let (_, c) = d.api("GET", "/containers/maker/json", None);
        c["Id"].as_str().unwrap().to_string()
    };
    assert_eq!(v["Container"], json!(maker));
    assert_eq!(v["Config"]["Cmd"], json!(["cat", "/hello"]));
    assert_eq!(v["Config"]["ExposedPorts"], json!({"8080/tcp": {}}));
    let env: Vec<&str> = v["Config"]["Env"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(env.contains(&"KEPT=1") && env.contains(&"B=1"), "{env:?}");
    let layers = |x: &Value| x["RootFS"]["Layers"].as_array().unwrap().len();
    assert_eq!(layers(&v), layers(&base) + 1);

    // history: the new entry first, with the image's id, the container's command and the comment.
    let (status, h) = d.api("GET", "/images/made:v1/history", None);
    assert_eq!(status, 200, "{h}");
    assert_eq!((&h[0]["Id"], &h[0]["CreatedBy"], &h[0]["Comment"], &h[0]["Tags"]), (&json!(id), &json!("sh -c echo hi > /hello && rm /bin/ls && mkdir /made"), &json!("first commit"), &json!(["made:v1"])), "{h}");
    assert!(h[0]["Size"].as_u64().unwrap() > 0, "{h}");
    assert_eq!(h[1]["Id"], base["Id"], "the parent's entry names the parent: {h}");

    // A commit of nothing new still makes an image, with no new layer.
    ok(&d.docker(&["create", "--name", "untouched", "made:v1"]), &d);
    let same = ok(&d.docker(&["commit", "untouched"]), &d);
    let s = image_inspect(&d, same.trim());
    assert_eq!(layers(&s), layers(&v), "an empty change adds no layer");
    let (_, hist) = d.api("GET", &format!("/images/{}/history", same.trim()), None);
    assert_eq!(hist[0]["Size"], json!(0), "{hist}");
    assert!(ok(&d.docker(&["images", "--format", "{{.ID}} {{.Repository}}"]), &d).contains(&format!("{} <none>", &same.trim()[7..19])));

    // The base has children now: not even -f deletes it; deleting the child takes untagged
    // parents with it.
    let e = fails(&d.docker(&["rmi", "-f", base["Id"].as_str().unwrap()]));
    assert!(e.contains("(cannot be forced) - image has dependent child images"), "{e}");
    ok(&d.docker(&["rm", "untouched"]), &d);
    let removed = ok(&d.docker(&["rmi", same.trim()]), &d);
    assert!(removed.contains(&format!("Deleted: {}", same.trim())), "{removed}");
    assert!(image_inspect(&d, "made:v1")["Id"] == json!(id), "a tagged parent stays");
}

#[test]
fn a_running_container_is_paused_for_the_commit_and_resumed() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["run", "-d", "--name", "live", &image, "sh", "-c", "echo state > /state; exec sleep 1000"]), &d);
    // The file is there once the shell has run.
    for _ in 0..100 {
        if d.docker(&["exec", "live", "test", "-e", "/state"]).status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().saturating_sub(1);
    let id = ok(&d.docker(&["commit", "live", "snap"]), &d).trim().to_string();
    let (_, c) = d.api("GET", "/containers/live/json", None);
    assert_eq!((c["State"]["Running"].as_bool(), c["State"]["Paused"].as_bool()), (Some(true), Some(false)), "{}", c["State"]);
    assert_eq!(ok(&d.docker(&["run", "--rm", "snap", "cat", "/state"]), &d), "state\n");
    let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    let events = ok(&d.docker(&["events", "--since", &start.to_string(), "--until", &until.to_string(), "--filter", "container=live", "--format", "{{.Action}} {{index .Actor.Attributes \"imageID\"}}"]), &d);
    let actions: Vec<&str> = events.lines().collect();
    let pause = actions.iter().position(|a| a.starts_with("pause")).expect(&events);
    let commit = actions.iter().position(|a| *a == format!("commit {id}")).expect(&events);
    let unpause = actions.iter().position(|a| a.starts_with("unpause")).expect(&events);
    assert!(pause < commit && commit < unpause, "{events}");

    // --pause=false leaves it running throughout: no pause event.
    let start = until;
    ok(&d.docker(&["commit", "--pause=false", "live"]), &d);
    let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    let events = ok(&d.docker(&["events", "--since", &start.to_string(), "--until", &until.to_string(), "--filter", "container=live", "--format", "{{.Action}}"]), &d);
    assert!(!events.contains("pause"), "{events}");
    ok(&d.docker(&["rm", "-f", "live"]), &d);
}

#[test]
fn bad_commits_get_dockers_errors_and_make_nothing() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["create", "--name", "cc", &image]), &d);
    let before = ok(&d.docker(&["images", "-q", "-a"]), &d);
    let e = fails(&d.docker(&["commit", "-c", "RUN true", "cc"]));
    assert!(e.contains("Error response from daemon: RUN is not a valid change command"), "{e}");
    let e = fails(&d.docker(&["commit", "nosuch"]));
    assert!(e.contains("No such container: nosuch"), "{e}");
    let e = fails(&d.docker(&["commit", "cc", "Upper"]));
    assert!(e.contains("invalid reference format"), "{e}");
    let e = fails(&d.docker(&["commit", "-c", "EXPOSE 80/bogus", "cc"]));
    assert!(e.contains("invalid proto: bogus"), "{e}");
    let e = fails(&d.docker(&["commit"]));
    assert!(e.contains("\"docker commit\" requires at least 1 and at most 2 arguments."), "{e}");
    let (status, v) = d.api("POST", "/commit?container=cc&repo=x&tag=bad:tag", None);
    assert_eq!(status, 400, "{v}");
    assert_eq!(ok(&d.docker(&["images", "-q", "-a"]), &d), before, "a failed commit left an image");
}

#[test]
fn the_real_cli_and_docker_py_commit_as_against_docker() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["run", "--name", "src", &image, "sh", "-c", "echo from-cli > /f"]), &d);
    for cli in real_clis() {
        let tag = if cli == REAL_CLI { "cli28" } else { "cli20" };
        let o = d.real_docker(cli, &["commit", "--change", "WORKDIR /srv", "--change", "ENTRYPOINT [\"cat\"]", "src", &format!("viacli:{tag}")]);
        let id = ok(&o, &d);
        assert!(id.trim().starts_with("sha256:"), "{cli}: {id}");
        assert_eq!(ok(&d.real_docker(cli, &["run", "--rm", &format!("viacli:{tag}"), "/f"]), &d), "from-cli\n", "{cli}");
        let v = image_inspect(&d, &format!("viacli:{tag}"));
        assert_eq!((v["Config"]["WorkingDir"].as_str(), v["Config"]["Cmd"].clone()), (Some("/srv"), Value::Null), "ENTRYPOINT without CMD clears Cmd: {}", v["Config"]);
        let e = fails(&d.real_docker(cli, &["commit", "-c", "FROM x", "src"]));
        assert!(e.contains("FROM is not a valid change command"), "{cli}: {e}");
    }
    let script = format!(
        "import docker\nc = docker.DockerClient(base_url='{}', version='1.44')\nimg = c.containers.get('src').commit(repository='viapy', tag='t', message='py', author='me', changes=['LABEL via=py'])\nprint(img.id, img.labels['via'], img.attrs['Comment'], img.attrs['Author'])\nprint(c.containers.run('viapy:t', ['cat', '/f'], remove=True).decode(), end='')\n",
        d.host()
    );
    let o = std::process::Command::new("python3").arg("-c").arg(&script).output().unwrap();
    if !o.status.success() && stderr(&o).contains("No module named 'docker'") && std::env::var("CI").is_err() {
        return;
    }
    let text = ok(&o, &d);
    let mut lines = text.lines();
    let first = lines.next().unwrap();
    assert!(first.starts_with("sha256:") && first.ends_with(" py py me"), "{text}");
    assert_eq!(lines.next(), Some("from-cli"), "{text}");
}

#[test]
fn a_commit_on_the_vfs_driver_holds_additions_and_deletions() {
    let Some(d) = Dockerd::start_with(&["--storage-driver", "vfs"]) else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["run", "--name", "vv", &image, "sh", "-c", "mkdir -p /a/b && echo x > /a/b/f && rm /bin/ls && chmod 700 /a"]), &d);
    ok(&d.docker(&["commit", "vv", "onvfs"]), &d);
    let listing = ok(&d.docker(&["run", "--rm", "onvfs", "sh", "-c", "cat /a/b/f; stat -c %a /a; test -e /bin/ls || echo gone"]), &d);
    assert_eq!(listing, "x\n700\ngone\n");
    let leftovers: Vec<_> = std::fs::read_dir(d.tmp.join("data/tmp")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(leftovers.is_empty(), "the changes copy stays behind: {leftovers:?}");
}

#[test]
fn untagged_parents_are_intermediate_images() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["run", "--name", "one", &image, "touch", "/one"]), &d);
    let middle = ok(&d.docker(&["commit", "one"]), &d).trim().to_string();
    ok(&d.docker(&["run", "--name", "two", &middle, "touch", "/two"]), &d);
    let top = ok(&d.docker(&["commit", "two", "top:1"]), &d).trim().to_string();
    ok(&d.docker(&["rm", "one", "two"]), &d);
    let short = &middle[7..19];
    let listed = ok(&d.docker(&["images", "-q"]), &d);
    assert!(!listed.contains(short), "an untagged parent is hidden without -a: {listed}");
    let all = ok(&d.docker(&["images", "-a", "-q"]), &d);
    assert!(all.contains(short), "-a shows it: {all}");
    let (_, list) = d.api("GET", "/images/json", None);
    let entry = list.as_array().unwrap().iter().find(|i| i["Id"] == json!(top)).cloned().unwrap();
    assert_eq!(entry["ParentId"], json!(middle));
    // Deleting the top takes the untagged parent along, as Docker's rmi does.
    let out = ok(&d.docker(&["rmi", "top:1"]), &d);
    assert!(out.contains(&format!("Deleted: {top}")) && out.contains(&format!("Deleted: {middle}")), "{out}");
    let (status, _) = d.api("GET", &format!("/images/{middle}/json"), None);
    assert_eq!(status, 404);
}
