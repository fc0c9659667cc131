# Sourced by the benchmarks: builds the static binary ($bin), makes a work directory ($work)
# and, on exit, stops the processes listed in $pids and the registry under $work, unmounts
# what is left under $work and removes it.
#   bench_setup NAME
#   bench_in_netns "$@": first, re-runs the calling script in a network namespace of its own,
#   with lo up and two bridges dbxb0 (10.231.0.1/24) and dbxb1 (10.232.0.1/24) for the two
#   daemons, so a benchmark touches nothing of the host's network.
bench_in_netns() {
    if [ -z "${DBX_BENCH_NETNS:-}" ]; then
        exec unshare --net env DBX_BENCH_NETNS=1 bash "$0" "$@"
    fi
    ip link set lo up
    for b in 0 1; do
        ip link add "dbxb$b" type bridge
        ip addr add "10.23$((b + 1)).0.1/24" dev "dbxb$b"
        ip link set "dbxb$b" up
    done
}

bench_setup() {
    bin=$(scripts/build.sh 2>/dev/null)
    work=$(mktemp -d "/tmp/dockbox-$1.XXXXXX")
    pids=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
    bash scripts/registry.sh stop "$work/registry" >/dev/null 2>&1 || true
    grep -F "$work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$work"
}
