#!/usr/bin/env bash
# Engine figures, ours beside Debian's docker.io (dockerd 20.10) when it is installed, in one
# run: the static binary's size; idle memory of dockerd + containerd; memory of one shim (alone,
# and a second one beside it, what each further container costs) and of
# the docker-init of one `--init` container; and
# the median wall time of `docker run --rm hello-world` and of `docker run --rm busybox true` over
# N runs each (default 20), ours and docker.io's alternating, back to back, so that both meet the
# same load (the machine is shared: figures taken minutes apart differ by a third); and the
# median of `docker exec CT true` into a running busybox, both daemons driven by our CLI
# (docker.io's own CLI spends ~35 ms of each exec starting up), so that the engines differ; the
# median wall time of `docker stats --no-stream` over 20 running containers (3 runs each,
# alternating), with the same CLI (docker.io's when installed) on both daemons; and the
# throughput of a published port (`-p 127.0.0.1:P:80`, so through each one's docker-proxy) into
# a busybox `nc` sink, 256 MiB, 3 runs alternating; the time from a container's exit to its
# restart under `--restart always` (5 runs); and the time a dockerd restarted with
# live-restore takes to answer for 50 running containers.
# Both daemons run with their default bridge on (a bridge made here for each, `-b`) and
# iptables, inside a network namespace of the benchmark's own (bridges, rules and the
# registry live and die with it). Ours is measured idle after a container on a user-defined
# network has started the embedded DNS server.
# Memory comes from /proc/PID/smaps_rollup: Rss, and Private (Private_Clean + Private_Dirty).
# Run as root: sudo scripts/bench/engine.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib.sh
bench_in_netns "$@"
runs=${1:-20}
bench_setup bench

kib() { awk -v k="$1" '/^'"$1"':/ {s+=$2} END {print s+0}' "/proc/$2/smaps_rollup"; }
rss() { kib Rss "$1"; }
private() { echo $(( $(kib Private_Clean "$1") + $(kib Private_Dirty "$1") )); }
child_named() { # PARENT COMM-PREFIX -> first child pid whose comm starts with it
    for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        case "$(cat /proc/"$c"/comm)" in "$2"*) echo "$c"; return;; esac
    done
}
init_private() { # CLI HOST -> Private KiB of docker-init, PID 1 of a running --init container
    "$1" -H "$2" run -d --init --name inited "$registry/busybox" sleep 300 >/dev/null
    sleep 1
    private "$("$1" -H "$2" inspect -f '{{.State.Pid}}' inited)"
    "$1" -H "$2" rm -f inited >/dev/null
}
median_ms() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }
time_one() { # CLI HOST IMAGE [ARGS...] -> ms, with a tenth
    s=$(date +%s%N); "$1" -H "$2" run --rm "${@:3}" >/dev/null; e=$(date +%s%N)
    awk -v d=$(( (e - s) / 100000 )) 'BEGIN{printf "%.1f\n", d / 10}'
}
time_alternating() { # N rounds of both commands on ours and on docker.io's
    for _ in $(seq "$runs"); do
        for what in hello true; do
            local args=("$image"); [ "$what" = true ] && args=("$registry/busybox" true)
            time_one "$work/bin/docker" "unix://$work/ours.sock" "${args[@]}" >>"$work/$what.ours"
            if [ -n "$cli" ]; then time_one "$cli" "unix://$work/real.sock" "${args[@]}" >>"$work/$what.real"; fi
        done
    done
}

bash scripts/images.sh "$work/images" >/dev/null
mkdir -p "$work/registry"
registry=$(bash scripts/registry.sh start "$work/registry" | tail -n1)
bash scripts/registry.sh push "$work/registry" "$work/images/hello-world" hello-world:latest >/dev/null
image="$registry/hello-world"

cp "$bin" "$work/dockbox"; "$work/dockbox" --install "$work/bin"
size=$(stat -c %s "$work/dockbox")

start_ours() { # [EXTRA FLAGS] -> $ours
    "$work/bin/dockerd" --data-root "$work/ours/data" --exec-root "$work/ours/exec" --pidfile "$work/ours/pid" \
        -H "unix://$work/ours.sock" --insecure-registry "$registry" -b dbxb0 \
        --default-address-pool base=10.240.0.0/16,size=24 "$@" >>"$work/ours.log" 2>&1 &
    ours=$!; pids+=("$ours")
}
start_ours
for _ in $(seq 100); do "$work/bin/docker" -H "unix://$work/ours.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
"$work/bin/docker" -H "unix://$work/ours.sock" pull "$image" >/dev/null
# The embedded DNS server starts with the first container on a user-defined network.
"$work/bin/docker" -H "unix://$work/ours.sock" network create benchnet >/dev/null
"$work/bin/docker" -H "unix://$work/ours.sock" run --rm --network benchnet "$image" >/dev/null
sleep 2
our_ctrd=$(child_named "$ours" docker-contain)
our_idle_rss=$(( $(rss "$ours") + $(rss "$our_ctrd") ))
our_idle_priv=$(( $(private "$ours") + $(private "$our_ctrd") ))
cid=$("$work/bin/docker" -H "unix://$work/ours.sock" run -d "$registry/hello-world" 2>/dev/null || true)
"$work/bin/docker" -H "unix://$work/ours.sock" rm -f "$cid" >/dev/null 2>&1 || true
bash scripts/registry.sh push "$work/registry" "$work/images/busybox" busybox:latest >/dev/null
"$work/bin/docker" -H "unix://$work/ours.sock" run -d --name shimmed "$registry/busybox" sleep 300 >/dev/null 2>&1
sleep 1
our_shim=$(child_named "$our_ctrd" docker-contain)
our_shim_rss=$(rss "$our_shim"); our_shim_priv=$(private "$our_shim")
# What each further container costs: with two shims the code they share counts as shared.
"$work/bin/docker" -H "unix://$work/ours.sock" run -d --name shimmed2 "$registry/busybox" sleep 300 >/dev/null 2>&1
sleep 1
our_shim2=$(for c in $(cat /proc/"$our_ctrd"/task/*/children); do [ "$c" != "$our_shim" ] && echo "$c"; done | head -n1)
our_shim2_priv=$(private "$our_shim2")
"$work/bin/docker" -H "unix://$work/ours.sock" rm -f shimmed shimmed2 >/dev/null
our_init_priv=$(init_private "$work/bin/docker" "unix://$work/ours.sock")

printf '%-44s %14s %14s %8s\n' "figure" "dockbox" "docker.io" "ratio"
row() { # NAME OURS THEIRS UNIT
    if [ -n "$3" ] && [ "$3" != 0 ]; then r=$(awk -v a="$2" -v b="$3" 'BEGIN{printf "%.3f", a/b}'); else r="-"; fi
    printf '%-44s %14s %14s %8s\n' "$1" "$2 $4" "${3:--} ${3:+$4}" "$r"
}

if command -v dockerd >/dev/null && [ -x /usr/sbin/dockerd -o -x /usr/bin/dockerd ]; then
    real=$(command -v /usr/sbin/dockerd /usr/bin/dockerd | head -n1)
    start_real() { # [EXTRA FLAGS] -> $theirs
        "$real" --data-root "$work/real/data" --exec-root "$work/real/exec" --pidfile "$work/real/pid" \
            -H "unix://$work/real.sock" --insecure-registry "$registry" -b dbxb1 \
            --default-address-pool base=10.241.0.0/16,size=24 "$@" >>"$work/real.log" 2>&1 &
        theirs=$!; pids+=("$theirs")
    }
    start_real
    cli=/usr/bin/docker
    for _ in $(seq 200); do "$cli" -H "unix://$work/real.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
    "$cli" -H "unix://$work/real.sock" pull "$image" >/dev/null
    "$cli" -H "unix://$work/real.sock" pull "$registry/busybox" >/dev/null
    "$cli" -H "unix://$work/real.sock" network create benchnet >/dev/null
    "$cli" -H "unix://$work/real.sock" run --rm --network benchnet "$image" >/dev/null
    sleep 2
    real_ctrd=$(child_named "$theirs" containerd)
    real_idle_rss=$(( $(rss "$theirs") + $(rss "$real_ctrd") ))
    real_idle_priv=$(( $(private "$theirs") + $(private "$real_ctrd") ))
    "$cli" -H "unix://$work/real.sock" run -d --name shimmed "$registry/busybox" sleep 300 >/dev/null
    sleep 1
    real_shim=$(pgrep -f "containerd-shim.*-namespace moby" | head -n1)
    real_shim_rss=$(rss "$real_shim"); real_shim_priv=$(private "$real_shim")
    "$cli" -H "unix://$work/real.sock" run -d --name shimmed2 "$registry/busybox" sleep 300 >/dev/null
    sleep 1
    real_shim2=$(pgrep -f "containerd-shim.*-namespace moby" | grep -vx "$real_shim" | head -n1)
    real_shim2_priv=$(private "$real_shim2")
    "$cli" -H "unix://$work/real.sock" rm -f shimmed shimmed2 >/dev/null
    real_init_priv=$(init_private "$cli" "unix://$work/real.sock")
    real_size=0
    for f in "$real" /usr/bin/docker /usr/bin/containerd /usr/bin/containerd-shim-runc-v2 /usr/sbin/runc /usr/bin/runc /usr/sbin/docker-init /usr/bin/docker-init /usr/bin/docker-proxy /usr/sbin/docker-proxy; do
        [ -f "$f" ] && real_size=$(( real_size + $(stat -L -c %s "$f") ))
    done
else
    real_idle_rss=; real_idle_priv=; real_shim_rss=; real_shim_priv=; real_shim2_priv=; real_init_priv=; real_size=; cli=
fi
time_alternating
time_exec() { # CLI HOST -> ms, with a tenth
    s=$(date +%s%N); "$1" -H "$2" exec execct true >/dev/null; e=$(date +%s%N)
    awk -v d=$(( (e - s) / 100000 )) 'BEGIN{printf "%.1f\n", d / 10}'
}
exec_cli=$work/bin/docker
"$exec_cli" -H "unix://$work/ours.sock" run -d --name execct "$registry/busybox" sleep 600 >/dev/null
[ -n "$cli" ] && "$cli" -H "unix://$work/real.sock" run -d --name execct "$registry/busybox" sleep 600 >/dev/null
for _ in $(seq "$runs"); do
    time_exec "$exec_cli" "unix://$work/ours.sock" >>"$work/exec.ours"
    if [ -n "$cli" ]; then time_exec "$exec_cli" "unix://$work/real.sock" >>"$work/exec.real"; fi
done
our_exec=$(median_ms <"$work/exec.ours"); real_exec=
if [ -n "$cli" ]; then real_exec=$(median_ms <"$work/exec.real"); fi
stats_ms() { # CLI HOST -> ms of one `docker stats --no-stream` of every running container
    s=$(date +%s%N); "$1" -H "$2" stats --no-stream >/dev/null; e=$(date +%s%N)
    awk -v d=$(( (e - s) / 100000 )) 'BEGIN{printf "%.1f\n", d / 10}'
}
stats_cli=${cli:-$work/bin/docker}
stats_socks=(ours); [ -n "$cli" ] && stats_socks+=(real)
for sock in "${stats_socks[@]}"; do
    for i in $(seq 20); do "$stats_cli" -H "unix://$work/$sock.sock" run -d --name "stats$i" "$registry/busybox" sleep 300 >/dev/null; done
done
for _ in 1 2 3; do
    for sock in "${stats_socks[@]}"; do stats_ms "$stats_cli" "unix://$work/$sock.sock" >>"$work/stats.$sock"; done
done
for sock in "${stats_socks[@]}"; do "$stats_cli" -H "unix://$work/$sock.sock" rm -f $(seq -f 'stats%g' 20) >/dev/null; done
our_stats=$(median_ms <"$work/stats.ours"); real_stats=
[ -n "$cli" ] && real_stats=$(median_ms <"$work/stats.real")
# A published port's throughput: MiB/s of 256 MiB sent to 127.0.0.1:P (docker-proxy) into
# a container's `nc -l -p 80 >/dev/null`, from the connect to the sink's close.
cat >"$work/xfer.py" <<'PY'
import socket, sys, time
port, mib = int(sys.argv[1]), int(sys.argv[2])
block = b"\0" * (1 << 20)
for _ in range(100):
    try:
        s = socket.create_connection(("127.0.0.1", port)); break
    except OSError:
        time.sleep(0.05)
start = time.monotonic()
for _ in range(mib):
    s.sendall(block)
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
print("%.0f" % (mib / (time.monotonic() - start)))
PY
xfer_run() { # CLI HOST PORT -> MiB/s through a fresh container's published port
    local c
    c=$("$1" -H "$2" run -d -p "127.0.0.1:$3:80" "$registry/busybox" sh -c 'nc -l -p 80 >/dev/null')
    sleep 0.5
    python3 "$work/xfer.py" "$3" 256
    "$1" -H "$2" rm -f "$c" >/dev/null
}
for i in 1 2 3; do
    xfer_run "$work/bin/docker" "unix://$work/ours.sock" $((18000 + i)) >>"$work/xfer.ours"
    if [ -n "$cli" ]; then xfer_run "$cli" "unix://$work/real.sock" $((18100 + i)) >>"$work/xfer.real"; fi
done
our_xfer=$(median_ms <"$work/xfer.ours"); real_xfer=
[ -n "$cli" ] && real_xfer=$(median_ms <"$work/xfer.real")
# From a container's exit to its start again under `--restart always`: the `die` and the next
# `start` event of its first restart (Docker's first backoff alone is 100 ms), 5 runs each.
restart_gap_ms() { # CLI HOST -> ms, with a tenth
    local since c
    since=$(date +%s.%N)
    c=$("$1" -H "$2" run -d --restart always "$registry/busybox" true)
    for _ in $(seq 100); do
        [ "$("$1" -H "$2" events --since "$since" --until "$(date +%s.%N)" --filter "container=$c" --filter event=start | wc -l)" -ge 2 ] && break
        sleep 0.05
    done
    "$1" -H "$2" events --since "$since" --until "$(date +%s.%N)" --filter "container=$c" --filter event=die --filter event=start \
        --format '{{.Action}} {{.TimeNano}}' | awk '$1 == "die" && !d {d = $2} $1 == "start" && d {printf "%.1f\n", ($2 - d) / 1e6; exit}'
    "$1" -H "$2" rm -f "$c" >/dev/null
}
for _ in 1 2 3 4 5; do
    restart_gap_ms "$work/bin/docker" "unix://$work/ours.sock" >>"$work/restart.ours"
    if [ -n "$cli" ]; then restart_gap_ms "$work/bin/docker" "unix://$work/real.sock" >>"$work/restart.real"; fi
done
our_restart=$(median_ms <"$work/restart.ours"); real_restart=
[ -n "$cli" ] && real_restart=$(median_ms <"$work/restart.real")
# A dockerd restart with live-restore: from the new dockerd's start to the first `docker ps`
# that lists the 50 containers it took back as running. Last: it restarts each daemon.
stop_pid() { kill "$1"; while kill -0 "$1" 2>/dev/null; do sleep 0.05; done; }
live_restore_ms() { # ours|real -> $live_ms (not in a subshell: it starts daemons)
    local who=$1 sock="unix://$work/$1.sock" s e
    local pid; if [ "$who" = ours ]; then pid=$ours; else pid=$theirs; fi
    stop_pid "$pid"
    "start_$who" --live-restore
    for _ in $(seq 300); do "$work/bin/docker" -H "$sock" version >/dev/null 2>&1 && break; sleep 0.05; done
    for i in $(seq 50); do "$work/bin/docker" -H "$sock" run -d --name "live$i" "$registry/busybox" sleep 600 >/dev/null; done
    if [ "$who" = ours ]; then pid=$ours; else pid=$theirs; fi
    stop_pid "$pid"
    s=$(date +%s%N)
    "start_$who" --live-restore
    until [ "$("$work/bin/docker" -H "$sock" ps -q --filter status=running 2>/dev/null | wc -l)" -eq 50 ]; do sleep 0.005; done
    e=$(date +%s%N)
    "$work/bin/docker" -H "$sock" rm -f $(seq -f 'live%g' 50) >/dev/null
    live_ms=$(awk -v d=$(( (e - s) / 100000 )) 'BEGIN{printf "%.1f\n", d / 10}')
}
live_restore_ms ours; our_live=$live_ms; real_live=
if [ -n "$cli" ]; then live_restore_ms real; real_live=$live_ms; fi
our_run=$(median_ms <"$work/hello.ours"); our_true=$(median_ms <"$work/true.ours")
real_run=; real_true=
if [ -n "$cli" ]; then real_run=$(median_ms <"$work/hello.real"); real_true=$(median_ms <"$work/true.real"); fi
row "binary size (all roles)" "$((size / 1024))" "$([ -n "$real_size" ] && echo $((real_size / 1024)))" KiB
row "idle dockerd+containerd Rss, DNS server up" "$our_idle_rss" "$real_idle_rss" KiB
row "idle dockerd+containerd Private, DNS up" "$our_idle_priv" "$real_idle_priv" KiB
row "one shim Rss" "$our_shim_rss" "$real_shim_rss" KiB
row "one shim Private" "$our_shim_priv" "$real_shim_priv" KiB
row "a second shim Private (2 containers)" "$our_shim2_priv" "$real_shim2_priv" KiB
row "docker-init (--init) Private" "$our_init_priv" "$real_init_priv" KiB
row "docker run --rm hello-world, default bridge (median of $runs)" "$our_run" "$real_run" ms
row "docker run --rm busybox true, default bridge (median of $runs)" "$our_true" "$real_true" ms
row "docker exec CT true (median of $runs, our CLI)" "$our_exec" "$real_exec" ms
row "docker stats --no-stream, 20 containers" "$our_stats" "$real_stats" ms
row "-p 127.0.0.1:P:80 throughput (docker-proxy)" "$our_xfer" "$real_xfer" MiB/s
row "--restart always: exit to restart (median of 5)" "$our_restart" "$real_restart" ms
row "live-restore dockerd restart, 50 containers" "$our_live" "$real_live" ms
