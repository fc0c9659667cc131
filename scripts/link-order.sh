#!/usr/bin/env bash
# Makes scripts/link-order/<triple>.txt, the order scripts/build.sh links the functions in.
#
# Why: the kernel maps file pages 64 KiB at a time around each fault, so a daemon that runs
# a few functions spread over the whole text ends up with most of the binary resident. Laid
# out in the order below, the functions containerd and dockerd run sit in one stretch.
#
# How: dockerd, containerd and a shim run under valgrind's callgrind (which lists every
# function a process executes) through a day's work in miniature: start, pull, a user
# network, a run with the DNS server, a published port, exec, logs, stop, rm. Their
# functions come first, grouped by the roles that run them; everything else follows in the
# linker's order. Run it again after big changes (build.sh says when the file has gone stale).
# Run as root: scripts/link-order.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DBX_LINK_ORDER_NETNS:-}" ]; then
    command -v valgrind >/dev/null || apt-get install -y valgrind >&2
    exec unshare --net env DBX_LINK_ORDER_NETNS=1 bash "$0" "$@"
fi
ip link set lo up
ip link add dbxlo0 type bridge
ip addr add 10.234.0.1/24 dev dbxlo0
ip link set dbxlo0 up

triple=$(rustc -vV | sed -n 's/^host: //p')
bin=$(scripts/build.sh)
symbols="$(dirname "$bin")/dockbox.symbols"
work=$(mktemp -d /tmp/dockbox-link-order.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
    pkill -f "$work/" 2>/dev/null || true
    bash scripts/registry.sh stop "$work/registry" >/dev/null 2>&1 || true
    grep -F "$work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

bash scripts/images.sh "$work/images" >/dev/null
mkdir -p "$work/registry"
registry=$(bash scripts/registry.sh start "$work/registry" | tail -n1)
for image in hello-world busybox; do
    bash scripts/registry.sh push "$work/registry" "$work/images/$image" "$image:latest" >/dev/null
done
cp "$symbols" "$work/dockbox"
# The links sit beside the binary: the roles start each other by those links
# (sys::applet_command), whose names valgrind keeps for the children it follows. Children
# started as the binary itself with another argv[0] (runc, docker-proxy) lose their name
# under valgrind: they run unprofiled, as do the host's commands.
"$work/dockbox" --install "$work"
"$work/dockbox" --install "$work/bin"
valgrind --tool=callgrind --demangle=no --trace-children=yes \
    --trace-children-skip='*/dockbox,*runc*,*docker-init,*docker-proxy,/usr/*,/bin/*,/sbin/*' \
    --callgrind-out-file="$work/callgrind.%p" "$work/dockerd" \
    --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/pid" -H "unix://$work/d.sock" \
    --insecure-registry "$registry" -b dbxlo0 --default-address-pool base=10.235.0.0/16,size=24 \
    >"$work/dockerd.log" 2>&1 &
dockerd=$!; pids+=("$dockerd")
docker() { "$work/bin/docker" -H "unix://$work/d.sock" "$@"; }
for _ in $(seq 600); do docker version >/dev/null 2>&1 && break; sleep 0.1; done

docker pull "$registry/hello-world" >/dev/null
docker pull "$registry/busybox" >/dev/null
docker network create trainnet >/dev/null
docker run --rm --network trainnet "$registry/hello-world" >/dev/null
docker run -d --name trained -p 127.0.0.1::80 "$registry/busybox" sleep 60 >/dev/null
docker exec trained true
docker ps >/dev/null
docker inspect trained >/dev/null
docker logs trained >/dev/null
docker stop -t 1 trained >/dev/null
docker rm trained >/dev/null
docker images >/dev/null
# docker-init runs inside containers, where valgrind cannot follow: run it here on its own,
# as a container's PID 1 would (a child to start, forward a signal to, and reap).
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/callgrind.init" \
    "$work/docker-init" -s -g -- sh -c 'sleep 0.2' >/dev/null 2>&1 &
init=$!
sleep 0.1; kill -TERM "$init" 2>/dev/null || true; wait "$init" || true
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/callgrind.init2" \
    "$work/docker-init" -- true >/dev/null 2>&1 || true
sleep 1

# SIGTERM ends dockerd, which ends containerd; each callgrind writes its file at exit (the
# shim's, which outlives them, at its own end after the container's).
kill "$dockerd"; wait "$dockerd" || true
pids=()
for _ in $(seq 100); do pgrep -f "$work/" >/dev/null || break; sleep 0.1; done

# callgrind names each function once as "fn=(N) name" or "cfn=(N) name"; its "cmd:" line
# says which role the file is of.
# Text symbols, and the ifunc resolvers (nm's "i") every static process runs at start.
nm --defined-only "$symbols" | awk '$2 ~ /^[tTwWi]$/ {print $3}' | sort -u > "$work/text.syms"
for role in dockerd docker-containerd docker-containerd-shim docker-init; do
    for f in "$work"/callgrind.*; do
        if [ "$(sed -n 's|^cmd: *[^ ]*/\([^/ ]*\).*|\1|p' "$f")" = "$role" ]; then
            grep -oP '^c?fn=\(\d+\) \K.*' "$f"
        fi
    done | awk 'NR == FNR {ok[$0] = 1; next} ok[$0] && !seen[$0]++' "$work/text.syms" - > "$work/$role.fns"
done
mkdir -p scripts/link-order
out="scripts/link-order/$triple.txt"
# Each function goes to the group of the roles that run it, and the groups are laid out so
# that each role's code is one stretch: the shim's (one per container) and containerd's
# entirely, dockerd's but for containerd's own few functions.
python3 - "$work" > "$out" <<'PY'
import sys
work = sys.argv[1]
runs = {r: [l.rstrip("\n") for l in open(f"{work}/{r}.fns")] for r in ("docker-init", "docker-containerd-shim", "docker-containerd", "dockerd")}
I, S, C, D = (set(v) for v in runs.values())
def group(f):
    return "".join(k for k, s in (("I", I), ("S", S), ("C", C), ("D", D)) if f in s)
# docker-init's functions are one stretch, and so are the shim's (both run once per
# container); containerd's and dockerd's are broken by a few groups of the others.
order = ["I", "IC", "ID", "ICD", "ISCD", "ISC", "IS", "ISD", "SD", "S", "SC", "SCD", "CD", "C", "D"]
seen = set()
for g in order:
    for role in runs.values():
        for f in role:
            if f not in seen and group(f) == g:
                seen.add(f)
                print(f)
# The groups the order above leaves out (none today) still come before the rest.
for role in runs.values():
    for f in role:
        if f not in seen:
            seen.add(f)
            print(f)
PY
echo "link-order.sh: $out: $(wc -l < "$out") functions (docker-init $(wc -l < "$work/docker-init.fns"), shim $(wc -l < "$work/docker-containerd-shim.fns"), containerd $(wc -l < "$work/docker-containerd.fns"), dockerd $(wc -l < "$work/dockerd.fns"))" >&2
# Cargo does not see the order file change: make the next build link again.
touch src/main.rs
