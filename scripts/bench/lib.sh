# Sourced by the benchmarks: builds the static binary ($bin), makes a work directory ($work)
# and, on exit, stops the processes listed in $pids and the registry under $work, unmounts
# what is left under $work and removes it.
#   bench_setup NAME
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
