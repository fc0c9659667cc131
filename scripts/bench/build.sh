#!/usr/bin/env bash
# The classic builder, ours beside docker.io's (dockerd 20.10, DOCKER_BUILDKIT=0) in one run:
# the median wall time of `docker build` of a 6-step Dockerfile (FROM, COPY, RUN x2, ENV, CMD)
# from the registry's busybox, cold (`--no-cache`: every step runs) and cached (every step
# from the cache), N runs each (default 7), ours and docker.io's alternating, so that both
# meet the same load. Both daemons are driven by our CLI (docker.io's own spends ~35 ms of
# each command starting up), so that the builders differ, and both have their base image
# pulled before. Goal: at most 0.3x cold, 0.25x cached.
# Both daemons run with a bridge of their own (`-b`) inside a network namespace of the
# benchmark's own, as in engine.sh.
# Run as root: sudo scripts/bench/build.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib.sh
bench_in_netns "$@"
runs=${1:-7}
bench_setup build

median_ms() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }
time_build() { # HOST [FLAGS...] -> ms, with a tenth; the build must succeed
    local s e
    s=$(date +%s%N)
    DOCKER_BUILDKIT=0 "$work/bin/docker" -H "$1" build "${@:2}" -t bench:latest "$work/ctx" >"$work/last.out" 2>&1 || { cat "$work/last.out" >&2; exit 1; }
    e=$(date +%s%N)
    awk -v d=$(( (e - s) / 100000 )) 'BEGIN{printf "%.1f\n", d / 10}'
}

bash scripts/images.sh "$work/images" >/dev/null
mkdir -p "$work/registry"
registry=$(bash scripts/registry.sh start "$work/registry" | tail -n1)
bash scripts/registry.sh push "$work/registry" "$work/images/busybox" busybox:latest >/dev/null
cp "$bin" "$work/dockbox"; "$work/dockbox" --install "$work/bin"

mkdir -p "$work/ctx"
head -c 65536 /dev/urandom | base64 >"$work/ctx/app.txt"
cat >"$work/ctx/Dockerfile" <<EOF
FROM $registry/busybox
COPY app.txt /app/app.txt
RUN echo one > /one
RUN echo two > /two
ENV MODE=bench
CMD ["cat", "/app/app.txt"]
EOF

"$work/bin/dockerd" --data-root "$work/ours/data" --exec-root "$work/ours/exec" --pidfile "$work/ours/pid" \
    -H "unix://$work/ours.sock" --insecure-registry "$registry" -b dbxb0 >>"$work/ours.log" 2>&1 &
pids+=($!)
hosts=("unix://$work/ours.sock")
real=$(command -v /usr/sbin/dockerd /usr/bin/dockerd 2>/dev/null | head -n1 || true)
if [ -n "$real" ]; then
    "$real" --data-root "$work/real/data" --exec-root "$work/real/exec" --pidfile "$work/real/pid" \
        -H "unix://$work/real.sock" --insecure-registry "$registry" -b dbxb1 >>"$work/real.log" 2>&1 &
    pids+=($!)
    hosts+=("unix://$work/real.sock")
fi
for h in "${hosts[@]}"; do
    for _ in $(seq 200); do "$work/bin/docker" -H "$h" version >/dev/null 2>&1 && break; sleep 0.1; done
    "$work/bin/docker" -H "$h" pull "$registry/busybox" >/dev/null
    # A first build of each, so that the cached runs find every step.
    time_build "$h" >/dev/null
    "$work/bin/docker" -H "$h" run --rm bench:latest >"$work/run.out"
    cmp -s "$work/run.out" "$work/ctx/app.txt" || { echo "the built image does not run on $h" >&2; exit 1; }
done

for _ in $(seq "$runs"); do
    for i in "${!hosts[@]}"; do
        time_build "${hosts[$i]}" --no-cache >>"$work/cold.$i"
        time_build "${hosts[$i]}" >>"$work/cached.$i"
        grep -c "Using cache" "$work/last.out" | grep -qx 5 || { echo "a cached build ran a step on ${hosts[$i]}:" >&2; cat "$work/last.out" >&2; exit 1; }
    done
done

printf '%-44s %14s %14s %8s\n' "figure (median of $runs)" "dockbox" "docker.io" "ratio"
for what in cold cached; do
    ours=$(median_ms <"$work/$what.0")
    theirs=""
    [ -f "$work/$what.1" ] && theirs=$(median_ms <"$work/$what.1")
    if [ -n "$theirs" ]; then r=$(awk -v a="$ours" -v b="$theirs" 'BEGIN{printf "%.3f", a/b}'); else r="-"; fi
    printf '%-44s %14s %14s %8s\n' "docker build, 6 steps, $what" "$ours ms" "${theirs:--}${theirs:+ ms}" "$r"
done
