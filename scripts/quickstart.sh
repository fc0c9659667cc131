#!/usr/bin/env bash
# Builds dockbox, starts a Distribution registry and dockerd on temporary roots, runs
# `docker run --rm <registry>/hello-world`, a web server on a published port, shows the
# process tree, and cleans everything up. Offline: the images are built here from
# busybox-static. It all runs in a network namespace of its own (its bridge `dbxq0`,
# 10.231.0.1/24, and its iptables rules go with it), so the host's network is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then echo "quickstart.sh: run as root (namespaces and mounts need it)" >&2; exit 1; fi
missing=()
for p in busybox-static docker-registry skopeo gcc file psmisc iptables iproute2 curl; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -z "${DBX_QUICKSTART_NETNS:-}" ]; then
    exec unshare --net env DBX_QUICKSTART_NETNS=1 bash "$0" "$@"
fi
ip link set lo up
ip link add dbxq0 type bridge && ip addr add 10.231.0.1/24 dev dbxq0 && ip link set dbxq0 up

bin=$(scripts/build.sh)
work=$(mktemp -d /tmp/dockbox-quickstart.XXXXXX)
dockerd_pid=
cleanup() {
    if [ -n "$dockerd_pid" ]; then
        "$work/bin/docker" -H "unix://$work/docker.sock" rm -f web >/dev/null 2>&1 || true
        kill "$dockerd_pid" 2>/dev/null || true
        wait "$dockerd_pid" 2>/dev/null || true
    fi
    bash scripts/registry.sh stop "$work/registry" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

cp "$bin" "$work/dockbox"
"$work/dockbox" --install "$work/bin"
export PATH="$work/bin:$PATH"
bash scripts/images.sh "$work/images" >/dev/null
mkdir -p "$work/registry"
registry=$(bash scripts/registry.sh start "$work/registry" | tail -n1)
for image in busybox hello-world; do bash scripts/registry.sh push "$work/registry" "$work/images/$image" "$image:latest" >/dev/null; done

dockerd --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/docker.pid" \
    -H "unix://$work/docker.sock" --insecure-registry "$registry" -b dbxq0 >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
export DOCKER_HOST="unix://$work/docker.sock"
for _ in $(seq 100); do docker version >/dev/null 2>&1 && break; sleep 0.1; done

echo "+ docker run --rm $registry/hello-world"
docker run --rm "$registry/hello-world"
echo
echo "+ docker run -d --name web -p 8080:80 $registry/busybox sh -c '... httpd -f -p 80 -h /www'"
docker run -d --name web -p 8080:80 "$registry/busybox" sh -c 'mkdir -p /www && echo "hello from a container" > /www/index.html && exec httpd -f -p 80 -h /www'
for _ in $(seq 50); do curl -sf http://127.0.0.1:8080/ >/dev/null && break; sleep 0.1; done
echo "+ curl http://127.0.0.1:8080/"
curl -sS http://127.0.0.1:8080/
echo "+ pstree $dockerd_pid"
pstree "$dockerd_pid"
echo "+ pstree -pa $dockerd_pid"
pstree -pa "$dockerd_pid" | sed -e "s#$work#\$TMP#g" | cut -c1-160
echo "+ docker ps"
docker ps
