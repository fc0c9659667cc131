//! The classic builder end to end: `docker build` by our client, the real docker CLI 28 (with
//! `DOCKER_BUILDKIT=0`, and without it: no buildx plugin here, so it falls back), Debian's
//! 20.10 client and docker-py build multi-stage Dockerfiles from the registry's busybox, run
//! the results and see the cache reused on a second build; and the faults: a failing RUN, a
//! syntax error, paths leaving the context, a context tar with `..`, refused parameters, a
//! client that goes away in the middle of a RUN.

mod common;

use common::{ok, real_clis, stderr, stdout, Dockerd, TempDir, DEBIAN_CLI, REAL_CLI};
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A context directory with these files.
fn context(files: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new("build-ctx");
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

/// A two-stage Dockerfile from the registry's busybox: the first stage makes a file from the
/// context, the second copies it out and says it.
fn multistage(image: &str) -> String {
    format!(
        "ARG BASE={image}\n\
         FROM $BASE AS build\n\
         WORKDIR /src\n\
         COPY hello.txt ./\n\
         RUN echo built > out.txt && cat hello.txt >> out.txt\n\
         FROM $BASE\n\
         ENV GREETING=hi\n\
         COPY --from=build /src/out.txt /out.txt\n\
         CMD [\"sh\", \"-c\", \"cat /out.txt; echo $GREETING\"]\n"
    )
}

fn client(d: &Dockerd, cli: Option<&str>, env: &[(&str, &str)], args: &[&str], input: Option<&[u8]>) -> Output {
    let mut cmd = match cli {
        Some(c) => Command::new(c),
        None => common::applet("docker"),
    };
    cmd.arg("-H").arg(d.host()).args(args).env("DOCKER_CONFIG", d.tmp.join("docker-config"));
    // An empty value means "not set at all".
    for (k, v) in env {
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(data) = input {
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!("{cli:?} {args:?} hung: {}{}\n{}", stdout(&o), stderr(&o), d.log());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn containers(d: &Dockerd) -> Vec<String> {
    let (_, v) = d.api("GET", "/containers/json?all=1", None);
    v.as_array().unwrap().iter().map(|c| c["Id"].as_str().unwrap().to_string()).collect()
}

/// Builds the multi-stage file twice with `cli` (`env` added), runs the result, and checks
/// the classic builder's output, the cache on the second build and that no container is left.
fn build_twice(d: &Dockerd, cli: Option<&str>, env: &[(&str, &str)], tag: &str) {
    let image = d.registry.image("busybox");
    // The text differs per client, so each first build misses the cache from its COPY on.
    let hello = format!("hello from the context of {tag}\n");
    let ctx = context(&[("Dockerfile", &multistage(&image)), ("hello.txt", &hello)]);
    let dir = ctx.path().to_str().unwrap();
    let o = client(d, cli, env, &["build", "-t", tag, dir], None);
    let out = ok(&o, d);
    for want in ["Step 1/9 : ARG BASE=", "Step 2/9 : FROM $BASE AS build", " ---> Running in ", "Removing intermediate container ", "Step 9/9 : CMD", "Successfully built ", &format!("Successfully tagged {tag}")] {
        assert!(out.contains(want), "{cli:?}: no {want:?} in:\n{out}\n{}", stderr(&o));
    }
    let run = ok(&client(d, cli, &[], &["run", "--rm", tag], None), d);
    assert_eq!(run, format!("built\n{hello}hi\n"));
    let first_id = out.lines().find_map(|l| l.strip_prefix("Successfully built ")).unwrap().to_string();
    let o = client(d, cli, env, &["build", "-t", tag, dir], None);
    let again = ok(&o, d);
    // Every step after a FROM is cached: WORKDIR, COPY, RUN, ENV, COPY, CMD.
    assert_eq!(again.matches(" ---> Using cache").count(), 6, "{cli:?}:\n{again}");
    assert!(!again.contains("Running in"), "{again}");
    assert!(again.contains(&format!("Successfully built {first_id}")), "{again}");
    assert!(containers(d).is_empty(), "intermediate containers left: {:?}", containers(d));
}

#[test]
fn our_client_builds_multistage_and_reuses_the_cache() {
    let Some(d) = Dockerd::start() else { return };
    build_twice(&d, None, &[], "multi:ours");
    // --no-cache runs every step again.
    let image = d.registry.image("busybox");
    let ctx = context(&[("Dockerfile", &multistage(&image)), ("hello.txt", "hello from the context\n")]);
    let out = ok(&d.docker(&["build", "--no-cache", "-q", ctx.path().to_str().unwrap()]), &d);
    assert!(out.trim().starts_with("sha256:") && out.trim().len() == 71, "{out}");
    // A changed file in the context misses the cache from its COPY on.
    std::fs::write(ctx.join("hello.txt"), "changed\n").unwrap();
    let out = ok(&d.docker(&["build", "-t", "multi:changed", ctx.path().to_str().unwrap()]), &d);
    assert_eq!(out.matches("Using cache").count(), 2, "only WORKDIR and the second stage's ENV stay cached:\n{out}");
    assert_eq!(ok(&d.docker(&["run", "--rm", "multi:changed"]), &d), "built\nchanged\nhi\n");
}

#[test]
fn real_clis_and_docker_py_build_with_the_classic_builder() {
    let Some(d) = Dockerd::start() else { return };
    for cli in real_clis() {
        if cli == REAL_CLI {
            build_twice(&d, Some(cli), &[("DOCKER_BUILDKIT", "0")], "multi:cli28-classic");
            // Without a buildx plugin the CLI falls back to the classic builder.
            build_twice(&d, Some(cli), &[("DOCKER_BUILDKIT", "")], "multi:cli28-default");
        } else if cli == DEBIAN_CLI {
            build_twice(&d, Some(cli), &[("DOCKER_BUILDKIT", "0")], "multi:cli20");
        }
    }
    if Command::new("python3").args(["-c", "import docker"]).output().map(|o| !o.status.success()).unwrap_or(true) {
        eprintln!("skipped: no docker-py");
        return;
    }
    let image = d.registry.image("busybox");
    let ctx = context(&[("Dockerfile", &multistage(&image)), ("hello.txt", "hello from py\n")]);
    let script = format!(
        r#"
import docker
c = docker.DockerClient(base_url='{host}')
for n in range(2):
    img, logs = c.images.build(path='{dir}', tag='multi:py', rm=True)
    text = ''.join(l.get('stream', '') for l in logs)
    print(n, text.count('Using cache'), 'Successfully tagged multi:py' in text, img.tags)
print(c.containers.run('multi:py', remove=True).decode(), end='')
try:
    c.images.build(fileobj=__import__('io').BytesIO(b'FROM {image}\nRUN exit 7\n'), rm=True, forcerm=True)
except docker.errors.BuildError as e:
    print('error:', e.msg)
"#,
        host = d.host(),
        dir = ctx.path().display(),
    );
    let o = Command::new("python3").arg("-c").arg(&script).output().unwrap();
    assert!(o.status.success(), "{}{}\n{}", stdout(&o), stderr(&o), d.log());
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    // WORKDIR and the second stage's ENV were built by the CLIs above already.
    let shared = if real_clis().is_empty() { 0 } else { 2 };
    assert_eq!(lines[0], format!("0 {shared} True ['multi:py']"), "{out}");
    assert_eq!(lines[1], "1 6 True ['multi:py']", "{out}");
    assert_eq!(&lines[2..5], &["built", "hello from py", "hi"], "{out}");
    assert_eq!(lines[5], "error: The command '/bin/sh -c exit 7' returned a non-zero code: 7", "{out}");
    assert!(containers(&d).is_empty(), "forcerm leaves nothing: {:?}", containers(&d));
}

#[test]
fn instructions_flags_and_stdin_contexts() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    // A tar for ADD to unpack, files for wildcards, --chown/--chmod, ARG and --build-arg,
    // --label, --target, ENTRYPOINT, USER, EXPOSE, VOLUME, .dockerignore.
    let ctx = context(&[
        ("a.txt", "a\n"),
        ("b.txt", "b\n"),
        ("secret.log", "no\n"),
        (".dockerignore", "*.log\n"),
        (
            "Dockerfile",
            &format!(
                "FROM {image} AS base\n\
                 ARG WHO=nobody\n\
                 ARG UNSEEN\n\
                 COPY *.txt /texts/\n\
                 COPY --chown=1234:5678 --chmod=640 a.txt /owned\n\
                 ADD files.tar /unpacked/\n\
                 RUN echo \"who=$WHO\" > /who && stat -c '%u:%g %a' /owned > /owner && ls /unpacked > /listing\n\
                 EXPOSE 8080/udp 80\n\
                 USER 1:1\n\
                 VOLUME /data\n\
                 ENTRYPOINT [\"cat\"]\n\
                 CMD [\"/who\"]\n\
                 FROM base AS unused\n\
                 RUN exit 1\n"
            ),
        ),
    ]);
    {
        let f = std::fs::File::create(ctx.join("files.tar")).unwrap();
        let mut b = tar::Builder::new(f);
        for name in ["one", "two"] {
            let mut h = tar::Header::new_gnu();
            h.set_size(3);
            h.set_mode(0o644);
            b.append_data(&mut h, name, &b"xyz"[..]).unwrap();
        }
        b.finish().unwrap();
    }
    let dir = ctx.path().to_str().unwrap();
    let iid = ctx.join("iid");
    let out = ok(&d.docker(&["build", "--compress", "--target", "base", "--build-arg", "WHO=builder", "--label", "team=x", "--iidfile", iid.to_str().unwrap(), "-t", "inst:1", dir]), &d);
    assert!(!out.contains("exit 1"), "the stage after the target is not built:\n{out}");
    let id = std::fs::read_to_string(&iid).unwrap();
    assert!(id.starts_with("sha256:"), "{id}");
    let (_, v) = d.api("GET", "/images/inst:1/json", None);
    assert_eq!(v["Id"], id.as_str());
    let cfg = &v["Config"];
    assert_eq!(cfg["Labels"]["team"], "x", "{cfg}");
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["cat"]));
    assert_eq!(cfg["User"], "1:1");
    assert!(cfg["ExposedPorts"]["8080/udp"].is_object() && cfg["ExposedPorts"]["80/tcp"].is_object(), "{cfg}");
    assert!(cfg["Volumes"]["/data"].is_object(), "{cfg}");
    assert_eq!(ok(&d.docker(&["run", "--rm", "inst:1"]), &d), "who=builder\n");
    assert_eq!(ok(&d.docker(&["run", "--rm", "inst:1", "/owner"]), &d), "1234:5678 640\n");
    assert_eq!(ok(&d.docker(&["run", "--rm", "inst:1", "/listing"]), &d), "one\ntwo\n");
    let ls = ok(&d.docker(&["run", "--rm", "--entrypoint", "ls", "inst:1", "/texts"]), &d);
    assert_eq!(ls, "a.txt\nb.txt\n");
    // The .dockerignore'd file never reached the daemon.
    let ctx2 = context(&[("Dockerfile", &format!("FROM {image}\nCOPY secret.log /\n")), ("secret.log", "x"), (".dockerignore", "secret.log\n")]);
    let o = d.docker(&["build", ctx2.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("COPY failed: file not found in build context or excluded by .dockerignore: stat secret.log: file does not exist"), "{}", stderr(&o));
    // A Dockerfile on stdin (context `-`), and `-f -` with a directory, with each client.
    let df = format!("FROM {image}\nRUN echo from-stdin > /s\nCMD [\"cat\", \"/s\"]\n");
    for cli in common::clients() {
        let o = client(&d, cli, &[("DOCKER_BUILDKIT", "0")], &["build", "-t", "stdin:1", "-"], Some(df.as_bytes()));
        ok(&o, &d);
        assert_eq!(ok(&d.docker(&["run", "--rm", "stdin:1"]), &d), "from-stdin\n");
        let o = client(&d, cli, &[("DOCKER_BUILDKIT", "0")], &["build", "-t", "stdin:2", "-f", "-", dir], Some(format!("FROM {image}\nCOPY a.txt /\nCMD [\"cat\", \"/a.txt\"]\n").as_bytes()));
        ok(&o, &d);
        assert_eq!(ok(&d.docker(&["run", "--rm", "stdin:2"]), &d), "a\n");
    }
    // A Dockerfile outside the context (`-f ../elsewhere`).
    let other = context(&[("Outside", &format!("FROM {image}\nCOPY b.txt /\nCMD [\"cat\", \"/b.txt\"]\n"))]);
    ok(&d.docker(&["build", "-t", "outside:1", "-f", other.join("Outside").to_str().unwrap(), dir]), &d);
    assert_eq!(ok(&d.docker(&["run", "--rm", "outside:1"]), &d), "b\n");
    let pruned = ok(&d.docker(&["builder", "prune", "-f"]), &d);
    assert_eq!(pruned, "Total reclaimed space: 0B\n");
}

#[test]
fn faults_are_refused_as_docker_refuses_them() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    // A failing RUN: Docker's message, its exit code, no tag; with --force-rm no container.
    let ctx = context(&[("Dockerfile", &format!("FROM {image}\nRUN echo before && exit 3\n"))]);
    let dir = ctx.path().to_str().unwrap();
    let o = d.docker(&["build", "--force-rm", "-t", "failed:1", dir]);
    assert_eq!(o.status.code(), Some(3), "{}{}\n{}", stdout(&o), stderr(&o), d.log());
    assert!(stdout(&o).contains("before\n"), "{}", stdout(&o));
    assert_eq!(stderr(&o).trim(), "The command '/bin/sh -c echo before && exit 3' returned a non-zero code: 3");
    assert!(containers(&d).is_empty(), "{:?}", containers(&d));
    assert_eq!(d.api("GET", "/images/failed:1/json", None).0, 404);
    for cli in real_clis() {
        let o = client(&d, Some(cli), &[("DOCKER_BUILDKIT", "0")], &["build", "--force-rm", dir], None);
        assert_eq!(o.status.code(), Some(3), "{cli}: {}{}", stdout(&o), stderr(&o));
        assert!(stderr(&o).contains("The command '/bin/sh -c echo before && exit 3' returned a non-zero code: 3"), "{cli}: {}", stderr(&o));
    }
    // Without --force-rm Docker leaves the failed step's container.
    let o = d.docker(&["build", dir]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(containers(&d).len(), 1);
    for id in containers(&d) {
        ok(&d.docker(&["rm", &id]), &d);
    }
    // A syntax error names the line.
    let bad = context(&[("Dockerfile", &format!("FROM {image}\nFORM x\n"))]);
    let o = d.docker(&["build", bad.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("dockerfile parse error on line 2: unknown instruction: FORM (did you mean FROM?)"), "{}", stderr(&o));
    // Paths leaving the context.
    let up = context(&[("Dockerfile", &format!("FROM {image}\nCOPY ../x /x\n"))]);
    let o = d.docker(&["build", up.path().to_str().unwrap()]);
    assert!(stderr(&o).contains("COPY failed: forbidden path outside the build context: ../x ()"), "{}", stderr(&o));
    let link = context(&[("Dockerfile", &format!("FROM {image}\nCOPY link /x\n"))]);
    std::os::unix::fs::symlink("/etc/passwd", link.join("link")).unwrap();
    let o = d.docker(&["build", link.path().to_str().unwrap()]);
    assert!(stderr(&o).contains("COPY failed: forbidden path outside the build context: link"), "{}", stderr(&o));
    // A context tar with `..` or an absolute name is refused before anything is built.
    for name in ["../escape", "/abs"] {
        let mut data = Vec::new();
        {
            let mut b = tar::Builder::new(&mut data);
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_mode(0o644);
            // Written raw: the tar crate refuses such names itself.
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, std::io::empty()).unwrap();
            let mut h = tar::Header::new_gnu();
            let df = format!("FROM {image}\n");
            h.set_size(df.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, "Dockerfile", df.as_bytes()).unwrap();
            b.finish().unwrap();
        }
        let endpoint = dockbox::http::client::Endpoint::Unix(d.sock.clone());
        let r = dockbox::http::client::request(&endpoint, "POST", "/v1.44/build", &[("Content-Type", "application/x-tar")], Some(&data)).unwrap();
        let status = r.status;
        let body = String::from_utf8_lossy(&r.bytes().unwrap()).into_owned();
        assert_eq!(status, 400, "{name}: {body}");
        assert!(body.contains("outside the build context"), "{body}");
    }
    // Refused parameters name themselves.
    let (status, v) = d.api("POST", "/build?squash=1", None);
    assert_eq!((status, v["message"].as_str().unwrap()), (400, "squash is only supported with experimental mode"));
    let (status, v) = d.api("POST", "/build?remote=git://127.0.0.1:1/repo.git", None);
    assert_eq!(status, 400);
    assert!(v["message"].as_str().unwrap().starts_with("error fetching:"), "{v}");
    let (status, v) = d.api("POST", "/build?remote=ftp://127.0.0.1:1/x", None);
    assert_eq!((status, v["message"].as_str().unwrap()), (400, "remoteURL (ftp://127.0.0.1:1/x) could not be recognized as URL"));
    let (status, v) = d.api("POST", "/build?remote=http://127.0.0.1:1/ctx.tar", None);
    assert_eq!(status, 400);
    assert!(v["message"].as_str().unwrap().starts_with("error downloading remote context http://127.0.0.1:1/ctx.tar"), "{v}");
    let (status, v) = d.api("POST", "/build?version=2", None);
    assert_eq!((status, v["message"].as_str().unwrap()), (400, "buildkit not supported by daemon"));
    let o = d.docker(&["build", "--target", "nope", dir]);
    assert!(stderr(&o).contains("failed to reach build target nope in Dockerfile"), "{}", stderr(&o));
}

#[test]
fn a_client_gone_stops_the_running_step() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    let ctx = context(&[("Dockerfile", &format!("FROM {image}\nRUN echo started && sleep 60\n"))]);
    let mut child = common::applet("docker").arg("-H").arg(d.host()).args(["build", ctx.path().to_str().unwrap()]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("\nstarted\n") {
        assert!(Instant::now() < deadline, "no output: {}", String::from_utf8_lossy(&seen));
        let n = std::io::Read::read(&mut out, &mut buf).unwrap();
        assert!(n > 0, "client ended early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert_eq!(containers(&d).len(), 1);
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !containers(&d).is_empty() {
        assert!(Instant::now() < deadline, "the step's container stayed: {:?}\n{}", containers(&d), d.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn run_steps_get_the_builds_host_settings_and_add_fetches_urls() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    // RUN steps run without the image's ENTRYPOINT. A one-file HTTP server on 127.0.0.1 for
    // ADD to fetch from.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let _ = common::read_request_head(&mut s);
            let body = "fetched over http\n";
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    let df = format!(
        "FROM {image}\n\
         ARG UNUSED_DEFAULT=1\n\
         ENTRYPOINT [\"false\"]\n\
         RUN grep -q '10.9.8.7[[:space:]]*buildhost' /etc/hosts && ls /sys/class/net > /nets && df -k /dev/shm | tail -n1 | awk '{{print $2}}' > /shm\n\
         ADD http://127.0.0.1:{port}/dir/remote.txt /fetched/\n\
         ENTRYPOINT []\n\
         CMD [\"sh\", \"-c\", \"cat /nets /shm; cat /fetched/remote.txt; stat -c %a /fetched/remote.txt\"]\n"
    );
    let ctx = context(&[("Dockerfile", &df)]);
    let out = ok(&d.docker(&["build", "--network", "none", "--add-host", "buildhost:10.9.8.7", "--shm-size", "16m", "--build-arg", "NOPE=1", "-t", "hosty:1", ctx.path().to_str().unwrap()]), &d);
    assert!(out.contains("[Warning] One or more build-args [NOPE] were not consumed"), "{out}");
    assert_eq!(ok(&d.docker(&["run", "--rm", "hosty:1"]), &d), "lo\n16384\nfetched over http\n600\n");
    // A Dockerfile at a URL is a remote context of its own.
    let remote_df = format!("FROM {image}\nCMD [\"echo\", \"remote\"]\n");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let rport = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let _ = common::read_request_head(&mut s);
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{remote_df}", remote_df.len());
        }
    });
    ok(&d.docker(&["build", "-t", "remote:1", &format!("http://127.0.0.1:{rport}/Dockerfile")]), &d);
    assert_eq!(ok(&d.docker(&["run", "--rm", "remote:1"]), &d), "remote\n");
    // An unreachable URL is Docker's ADD failure.
    let bad = context(&[("Dockerfile", &format!("FROM {image}\nADD http://127.0.0.1:1/x /x\n"))]);
    let o = d.docker(&["build", bad.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("ADD failed: failed to GET http://127.0.0.1:1/x"), "{}", stderr(&o));
}

/// A static file server on 127.0.0.1 for `root` (the query string ignored, 404 for what is
/// missing), as a "dumb" git HTTP server or a tarball host is. Returns its port.
fn static_server(root: std::path::PathBuf) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let Ok(head) = common::read_request_head(&mut s) else { continue };
            let head = String::from_utf8_lossy(&head).into_owned();
            let mut words = head.split_whitespace();
            let method = words.next().unwrap_or("").to_string();
            let target = words.next().unwrap_or("/");
            let path = target.split('?').next().unwrap_or("/").trim_start_matches('/');
            let file = root.join(path);
            match std::fs::read(&file).ok().filter(|_| !path.contains("..") && file.is_file()) {
                Some(body) => {
                    let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                    if method != "HEAD" {
                        let _ = s.write_all(&body);
                    }
                }
                None => {
                    let _ = write!(s, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                }
            }
        }
    });
    port
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let o = Command::new("git").args(args).current_dir(dir).env("GIT_AUTHOR_NAME", "t").env("GIT_AUTHOR_EMAIL", "t@t").env("GIT_COMMITTER_NAME", "t").env("GIT_COMMITTER_EMAIL", "t@t").output().unwrap();
    assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
}

#[test]
fn git_and_tarball_urls_are_remote_contexts() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    // A repository with two branches: master's context at the root, `other`'s in sub/ (the
    // Dockerfile there COPYs a file of its own directory). Served bare, after
    // `git update-server-info`, by a plain file server: git's dumb HTTP protocol.
    let work = TempDir::new("build-git");
    let src = work.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("Dockerfile"), format!("FROM {image}\nCOPY f.txt /f.txt\nCMD [\"cat\", \"/f.txt\"]\n")).unwrap();
    std::fs::write(src.join("f.txt"), "from master\n").unwrap();
    git(&src, &["init", "-q", "-b", "master"]);
    git(&src, &["add", "."]);
    git(&src, &["commit", "-q", "-m", "one"]);
    git(&src, &["checkout", "-q", "-b", "other"]);
    std::fs::write(src.join("sub/Dockerfile"), format!("FROM {image}\nCOPY g.txt /g.txt\nCMD [\"cat\", \"/g.txt\"]\n")).unwrap();
    std::fs::write(src.join("sub/g.txt"), "from other:sub\n").unwrap();
    git(&src, &["add", "."]);
    git(&src, &["commit", "-q", "-m", "two"]);
    git(work.path(), &["clone", "-q", "--bare", "src", "served/repo.git"]);
    git(&work.join("served/repo.git"), &["update-server-info"]);
    // A tarball context (gzip) beside it.
    let tgz = std::fs::File::create(work.join("served/ctx.tar.gz")).unwrap();
    {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(tgz, flate2::Compression::default()));
        for (name, text) in [("Dockerfile", format!("FROM {image}\nCOPY t.txt /t.txt\nCMD [\"cat\", \"/t.txt\"]\n")), ("t.txt", "from a tarball\n".to_string())] {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, text.as_bytes()).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
    }
    let port = static_server(work.join("served"));
    let repo = format!("http://127.0.0.1:{port}/repo.git");
    // Through the API's `remote` (the daemon clones), as docker-py sends it.
    let (status, v) = d.api("POST", &format!("/build?t=gitctx:1&remote={repo}"), None);
    assert_eq!(status, 200);
    assert!(v.as_str().unwrap_or_default().contains("Successfully tagged gitctx:1"), "{v}");
    assert_eq!(ok(&d.docker(&["run", "--rm", "gitctx:1"]), &d), "from master\n");
    let fragment = format!("{repo}%23other:sub");
    let (status, v) = d.api("POST", &format!("/build?t=gitctx:2&remote={fragment}"), None);
    assert_eq!(status, 200);
    assert!(v.as_str().unwrap_or_default().contains("Successfully tagged gitctx:2"), "{v}");
    assert_eq!(ok(&d.docker(&["run", "--rm", "gitctx:2"]), &d), "from other:sub\n");
    // Through the client (it clones, as Docker's CLI does, and sends the directory).
    ok(&d.docker(&["build", "-t", "gitctx:3", &format!("{repo}#other:sub")]), &d);
    assert_eq!(ok(&d.docker(&["run", "--rm", "gitctx:3"]), &d), "from other:sub\n");
    if let Some(cli) = real_clis().first() {
        let o = client(&d, Some(cli), &[("DOCKER_BUILDKIT", "0")], &["build", "-t", "gitctx:4", &format!("{repo}#other:sub")], None);
        ok(&o, &d);
        assert_eq!(ok(&d.docker(&["run", "--rm", "gitctx:4"]), &d), "from other:sub\n");
    }
    // A ref that does not exist, and a subdirectory that does not.
    let (status, v) = d.api("POST", &format!("/build?remote={repo}%23nope"), None);
    assert_eq!(status, 400);
    assert!(v["message"].as_str().unwrap().starts_with("error fetching:"), "{v}");
    let (status, v) = d.api("POST", &format!("/build?remote={repo}%23other:missing"), None);
    assert_eq!(status, 400);
    assert!(v["message"].as_str().unwrap().starts_with("error setting git context"), "{v}");
    // The tarball URL.
    ok(&d.docker(&["build", "-t", "tarctx:1", &format!("http://127.0.0.1:{port}/ctx.tar.gz")]), &d);
    assert_eq!(ok(&d.docker(&["run", "--rm", "tarctx:1"]), &d), "from a tarball\n");
    // Nothing of the clones is left in the daemon's tmp.
    let left: Vec<_> = std::fs::read_dir(d.tmp.join("data/tmp")).map(|r| r.flatten().map(|e| e.file_name()).filter(|n| n.to_string_lossy().starts_with("build-")).collect()).unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn bzip2_and_xz_contexts_build() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    let mut tar_bytes = Vec::new();
    {
        let mut b = tar::Builder::new(&mut tar_bytes);
        for (name, text) in [("Dockerfile", format!("FROM {image}\nCOPY c.txt /c.txt\nCMD [\"cat\", \"/c.txt\"]\n")), ("c.txt", "compressed context\n".to_string())] {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, text.as_bytes()).unwrap();
        }
        b.finish().unwrap();
    }
    for program in ["bzip2", "xz"] {
        let mut child = Command::new(program).arg("-c").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(&tar_bytes).unwrap();
        let packed = child.wait_with_output().unwrap().stdout;
        let tag = format!("packed-{program}:1");
        let o = d.client_with_input(None, &["build", "-t", &tag, "-"], Some(&packed));
        ok(&o, &d);
        assert_eq!(ok(&d.docker(&["run", "--rm", &tag]), &d), "compressed context\n", "{program}");
        // A truncated stream is an error naming the program, not a half context.
        let o = d.client_with_input(None, &["build", "-"], Some(&packed[..packed.len() / 2]));
        assert_ne!(o.status.code(), Some(0));
        assert!(stderr(&o).contains(program), "{program}: {}", stderr(&o));
    }
}


fn created_by(o: &Output) -> Vec<String> {
    assert!(o.status.success(), "{}", stderr(o));
    stdout(o).lines().map(str::to_string).collect()
}

/// COPY/ADD's history text and cache keys are Docker's (tarsums of the context's entries:
/// `file:`, `dir:`, `multi:`), so `docker history` shows what docker.io's shows for the same
/// Dockerfile and context sent by the same CLI; and an image docker.io built, saved and loaded
/// here, is the cache of the same build with `--cache-from` (moby's image/cache rules).
#[test]
fn copy_history_and_cache_from_match_docker_io() {
    let Some(d) = Dockerd::start() else { return };
    if !std::path::Path::new(REAL_CLI).exists() {
        eprintln!("skipped: no docker CLI 28");
        return;
    }
    let Some(real) = common::DockerIo::start(None, &[]) else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", "-q", &image]), &d);
    let base_tar = d.tmp.join("base.tar");
    ok(&d.docker(&["save", "-o", base_tar.to_str().unwrap(), &image]), &d);
    let o = real.client(Some(REAL_CLI), &[], &["load", "-i", base_tar.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let df = format!(
        "FROM {image}\n\
         COPY a.txt /a.txt\n\
         COPY dir /dir/\n\
         COPY a.txt dir/f1 /multi/\n\
         COPY link.txt /l.txt\n\
         COPY --chown=1:2 a.txt /owned\n\
         ADD b.tar /untar/\n\
         COPY . /all/\n\
         RUN echo hi > /x\n\
         ENV K=v\n\
         CMD [\"cat\", \"/a.txt\"]\n"
    );
    let ctx = context(&[("Dockerfile", &df), ("a.txt", "a\n"), ("dir/f1", "one\n"), ("dir/sub/f2", "two\n")]);
    std::os::unix::fs::symlink("a.txt", ctx.join("link.txt")).unwrap();
    std::fs::set_permissions(ctx.join("dir/f1"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    {
        let mut b = tar::Builder::new(std::fs::File::create(ctx.join("b.tar")).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        b.append_data(&mut h, "in-tar", &b"t\n"[..]).unwrap();
        b.finish().unwrap();
    }
    let path = ctx.path().to_str().unwrap();
    let classic = [("DOCKER_BUILDKIT", "0")];
    let o = real.client(Some(REAL_CLI), &classic, &["build", "--network", "none", "-t", "real-built:1", path]);
    assert!(o.status.success(), "docker.io build: {}{}", stdout(&o), stderr(&o));
    let theirs = created_by(&real.client(Some(REAL_CLI), &[], &["history", "--no-trunc", "--format", "{{.CreatedBy}}", "real-built:1"]));
    assert!(theirs.iter().any(|l| l.contains("COPY dir:")) && theirs.iter().any(|l| l.contains("COPY multi:")), "{theirs:?}");
    // The same CLI against ours, then our own client.
    ok(&client(&d, Some(REAL_CLI), &classic, &["build", "--network", "none", "-t", "ours-built:1", path], None), &d);
    let ours = created_by(&d.docker(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", "ours-built:1"]));
    assert_eq!(ours, theirs);
    ok(&d.docker(&["build", "--network", "none", "-t", "ours-built:2", path]), &d);
    let ours_client = created_by(&d.docker(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", "ours-built:2"]));
    assert_eq!(ours_client, theirs);

    // docker.io's image, saved and loaded into a daemon that never built anything, is the
    // cache of the same build with --cache-from: every step, the result its very image.
    let their_id = stdout(&real.client(Some(REAL_CLI), &[], &["inspect", "--format", "{{.Id}}", "real-built:1"])).trim().to_string();
    let saved = d.tmp.join("real-built.tar");
    let o = real.client(Some(REAL_CLI), &[], &["save", "-o", saved.to_str().unwrap(), "real-built:1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let Some(d2) = Dockerd::start() else { return };
    ok(&d2.docker(&["pull", "-q", &image]), &d2);
    ok(&d2.docker(&["load", "-i", saved.to_str().unwrap()]), &d2);
    // (No build without --cache-from first: its images would be the local cache, which comes
    // first, as with Docker. The result being docker.io's very image shows where it came from.)
    // A prefix of the Dockerfile: images restored from the source's history, one per step.
    let prefix: String = df.lines().take(4).map(|l| format!("{l}\n")).collect();
    // (Outside the context, which `COPY . /all/` takes whole.)
    let prefix_file = d2.tmp.join("Dockerfile.prefix");
    std::fs::write(&prefix_file, &prefix).unwrap();
    let out = ok(&d2.docker(&["build", "--network", "none", "--cache-from", "real-built:1", "-f", prefix_file.to_str().unwrap(), "-t", "prefix:1", path]), &d2);
    assert_eq!(out.matches("Using cache").count(), 3, "{out}");
    let prefix_history = created_by(&d2.docker(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", "prefix:1"]));
    assert_eq!(prefix_history[..], theirs[theirs.len() - prefix_history.len()..]);
    let out = ok(&d2.docker(&["build", "--network", "none", "--cache-from", "real-built:1", "-t", "from-cache:1", path]), &d2);
    assert_eq!(out.matches("Using cache").count(), 10, "{out}");
    let id = stdout(&d2.docker(&["inspect", "--format", "{{.Id}}", "from-cache:1"])).trim().to_string();
    assert_eq!(id, their_id);
    assert_eq!(ok(&d2.docker(&["run", "--rm", "from-cache:1", "sh", "-c", "cat /a.txt /x /owned /untar/in-tar; stat -c %u:%g /owned"]), &d2), "a\nhi\na\nt\n1:2\n");
    // A changed step ends the cache there.
    std::fs::write(ctx.join("dir/f1"), "changed\n").unwrap();
    let out = ok(&d2.docker(&["build", "--network", "none", "--cache-from", "real-built:1", path]), &d2);
    assert_eq!(out.matches("Using cache").count(), 1, "{out}");
}

/// COPY to a path under a symlinked directory of the image lands in the directory linked to
/// (Docker resolves the destination inside the image's root), and the links stay links.
#[test]
fn copy_follows_the_images_symlinked_directories() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    let df = format!(
        "FROM {image}\n\
         RUN mkdir -p /real && ln -s /real /link && ln -s real /rel && ln -s ../../real /up\n\
         COPY f.txt /link/sub/\n\
         COPY f.txt /rel/g.txt\n\
         COPY f.txt /link\n\
         COPY f.txt /up/h.txt\n\
         CMD [\"sh\", \"-c\", \"cat /real/sub/f.txt /real/g.txt /real/f.txt /real/h.txt; readlink /link; readlink /rel; ls /\"]\n"
    );
    let ctx = context(&[("Dockerfile", &df), ("f.txt", "copied\n")]);
    ok(&d.docker(&["build", "-t", "linked:1", ctx.path().to_str().unwrap()]), &d);
    let out = ok(&d.docker(&["run", "--rm", "linked:1"]), &d);
    assert!(out.starts_with("copied\ncopied\ncopied\ncopied\n/real\nreal\n"), "{out}");
    // Nothing was made beside the links (no /h.txt, no directory replacing /link).
    assert!(!out.lines().any(|l| l == "h.txt" || l == "sub" || l == "g.txt"), "{out}");
}

/// Debian's dockerd with the registry's busybox loaded from ours (same id), or `None` (and a
/// note) where it or the CLI 28 is missing.
fn real_with_busybox(d: &Dockerd) -> Option<(common::DockerIo, String)> {
    if !std::path::Path::new(REAL_CLI).exists() {
        eprintln!("skipped: no docker CLI 28");
        return None;
    }
    let real = common::DockerIo::start(None, &[])?;
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", "-q", &image]), d);
    let base_tar = d.tmp.join("base.tar");
    ok(&d.docker(&["save", "-o", base_tar.to_str().unwrap(), &image]), d);
    let o = real.client(Some(REAL_CLI), &[], &["load", "-i", base_tar.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    Some((real, image))
}

/// The build's step lines, ids masked: what both builders print for the same Dockerfile.
fn step_lines(out: &str) -> Vec<String> {
    out.lines().filter(|l| l.starts_with("Step ") || l.starts_with("# Executing")).map(str::to_string).collect()
}

/// ONBUILD, SHELL, STOPSIGNAL and MAINTAINER as docker.io's classic builder has them, through
/// the CLI 28 and Debian's 20.10 client: the config fields (OnBuild, Shell, StopSignal,
/// Author), the history text, the triggers run by a child build (and cleared in its image),
/// SHELL used for RUN and for the shell form of CMD.
#[test]
fn onbuild_shell_stopsignal_and_maintainer_as_docker_io() {
    let Some(d) = Dockerd::start() else { return };
    let Some((real, image)) = real_with_busybox(&d) else { return };
    let parent_df = format!(
        "FROM {image}\n\
         MAINTAINER Jane Doe <jane@example.com>\n\
         SHELL [\"/bin/sh\", \"-c\", \"echo via-shell >> /via; eval \\\"$0\\\"\"]\n\
         STOPSIGNAL SIGUSR1\n\
         ONBUILD RUN echo triggered > /onbuild\n\
         ONBUILD COPY t.txt /t.txt\n\
         RUN echo hi > /hi\n\
         CMD cat /hi /via\n"
    );
    let child_df = "FROM onb-parent:1\nRUN cat /onbuild /t.txt > /both\n";
    let parent_ctx = context(&[("Dockerfile", &parent_df)]);
    let child_ctx = context(&[("Dockerfile", child_df), ("t.txt", "from the child's context\n")]);
    let classic = [("DOCKER_BUILDKIT", "0")];
    let build = |on_real: bool, cli: &str, ctx: &TempDir, tag: &str| -> String {
        let args = ["build", "--network", "none", "-t", tag, ctx.path().to_str().unwrap()];
        let o = if on_real { Command::new(cli).arg("-H").arg(&real.host).args(args).envs(classic).env("DOCKER_CONFIG", real.dir.join("config")).stdin(Stdio::null()).output().unwrap() } else { client(&d, Some(cli), &classic, &args, None) };
        assert!(o.status.success(), "{cli} on {}: {}{}", if on_real { "docker.io" } else { "ours" }, stdout(&o), stderr(&o));
        stdout(&o)
    };
    let inspect = |on_real: bool, tag: &str| -> String {
        let fmt = "{{.Author}}|{{json .Config.OnBuild}}|{{json .Config.Shell}}|{{.Config.StopSignal}}|{{json .Config.Cmd}}";
        // The CLI 28 for both: the daemons' configs are compared, not two clients' templates.
        let o = if on_real { real.client(Some(REAL_CLI), &[], &["inspect", "--format", fmt, tag]) } else { client(&d, Some(REAL_CLI), &[], &["inspect", "--format", fmt, tag], None) };
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let history = |on_real: bool, tag: &str| -> Vec<String> {
        let args = ["history", "--no-trunc", "--format", "{{.CreatedBy}}", tag];
        created_by(&if on_real { real.client(Some(REAL_CLI), &[], &args) } else { d.docker(&args) })
    };
    for cli in real_clis() {
        let theirs_out = build(true, cli, &parent_ctx, "onb-parent:1");
        let ours_out = build(false, cli, &parent_ctx, "onb-parent:1");
        assert_eq!(step_lines(&ours_out), step_lines(&theirs_out), "{cli}");
        assert_eq!(inspect(false, "onb-parent:1"), inspect(true, "onb-parent:1"), "{cli}");
        assert_eq!(history(false, "onb-parent:1"), history(true, "onb-parent:1"), "{cli}");
        let theirs_out = build(true, cli, &child_ctx, "onb-child:1");
        let ours_out = build(false, cli, &child_ctx, "onb-child:1");
        assert_eq!(step_lines(&ours_out), step_lines(&theirs_out), "{cli}");
        assert!(ours_out.contains("# Executing 2 build triggers"), "{ours_out}");
        assert_eq!(inspect(false, "onb-child:1"), inspect(true, "onb-child:1"), "{cli}");
        assert_eq!(history(false, "onb-child:1"), history(true, "onb-child:1"), "{cli}");
    }
    let parent = inspect(false, "onb-parent:1");
    // (The CLI's `json` template function writes no HTML escapes.)
    assert_eq!(parent.trim(), r#"Jane Doe <jane@example.com>|["RUN echo triggered > /onbuild","COPY t.txt /t.txt"]|["/bin/sh","-c","echo via-shell >> /via; eval \"$0\""]|SIGUSR1|["/bin/sh","-c","echo via-shell >> /via; eval \"$0\"","cat /hi /via"]"#);
    // The RUN went through the SHELL (one line in /via), and so does the CMD (a second).
    assert_eq!(ok(&d.docker(&["run", "--rm", "onb-parent:1"]), &d), "hi\nvia-shell\nvia-shell\n");
    assert_eq!(ok(&d.docker(&["run", "--rm", "onb-child:1", "cat", "/both"]), &d), "triggered\nfrom the child's context\n");
    // The child's own config has no triggers left.
    assert!(inspect(false, "onb-child:1").contains("|null|"), "{}", inspect(false, "onb-child:1"));
}
