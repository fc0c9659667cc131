#!/usr/bin/env bash
# Figures per CPU, in one run: each executable's size (x86_64, aarch64, armv7), and on the
# emulated boards of scripts/test-devices.sh (arm64, armhf), the idle memory of dockerd and
# its containerd and one shim's, ours beside Debian's docker.io for that CPU started in the
# same guest root after ours has stopped, with the mean time of `docker run --rm busybox
# true`. Times under full emulation are not the CPU's: only their ratio is printed. Memory is
# from /proc/PID/smaps_rollup: Rss, Pss (shared pages divided among their users) and Private.
# Usage (as root): scripts/bench/devices.sh [--no-build | --parse-only]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/cross-env.sh
host=$(rustc -vV | sed -n 's/^host: //p')
parse_only=0
[ "${1:-}" = --parse-only ] && parse_only=1
if [ "${1:-}" != --no-build ] && [ "$parse_only" = 0 ]; then
    for triple in "$host" "${cross_triples[@]}"; do scripts/build.sh --target "$triple" >/dev/null; done
fi

echo "executable sizes (static, stripped; goal <= 8 MiB):"
for triple in "$host" "${cross_triples[@]}"; do
    bin="target/$triple/release/dockbox"
    if [ -f "$bin" ]; then
        size=$(stat -c %s "$bin")
        printf '  %-32s %9d bytes  %5.2f MiB\n' "$triple" "$size" "$(awk -v s="$size" 'BEGIN{print s/1048576}')"
    else
        printf '  %-32s (not built)\n' "$triple"
    fi
done

# The boards' console lines are kept in target/devices/bench.log (--parse-only reads it again).
log=target/devices/bench.log
mkdir -p target/devices
if [ "$parse_only" = 0 ]; then
    DOCKBOX_DEVICES_BENCH=yes DOCKBOX_DEVICES_NO_BUILD=1 bash scripts/test-devices.sh arm64 armhf >"$log" 2>&1 || true
fi
grep -E '^FAIL|FAILED|did not finish|did-not-start' "$log" >&2 || true

# BENCH BOARD ENGINE WHAT RSS PSS PRIVATE, or BENCH BOARD ENGINE run-rm-ms MS.
awk '
    $1 == "BENCH" && NF == 7 { rss[$2, $3, $4] = $5; pss[$2, $3, $4] = $6; priv[$2, $3, $4] = $7; boards[$2] = 1 }
    $1 == "BENCH" && $4 == "run-rm-ms" { ms[$2, $3] = $5 }
    function row(b, e, label,   r, p, v) {
        r = rss[b, e, "idle-dockerd"] + rss[b, e, "idle-containerd"]
        p = pss[b, e, "idle-dockerd"] + pss[b, e, "idle-containerd"]
        printf "  %-8s %-10s %12.1f %12.1f %18.1f\n", b, e, r / 1024, p / 1024, priv[b, e, "shim"] / 1024
    }
    END {
        printf "\nemulated boards: idle dockerd + containerd (MiB), one shim'"'"'s private memory (MiB)\n"
        printf "  %-8s %-10s %12s %12s %18s\n", "board", "engine", "idle RSS", "idle PSS", "shim private"
        for (b in boards) {
            row(b, "dockbox")
            if ((b, "docker.io", "idle-dockerd") in pss) {
                row(b, "docker.io")
                pd = pss[b, "docker.io", "idle-dockerd"] + pss[b, "docker.io", "idle-containerd"]
                po = pss[b, "dockbox", "idle-dockerd"] + pss[b, "dockbox", "idle-containerd"]
                printf "  %-8s idle PSS ours/Docker'"'"'s: %.3fx (goal <= 0.1x); shim private: %.3fx\n", b, po / pd, priv[b, "dockbox", "shim"] / priv[b, "docker.io", "shim"]
                if (ms[b, "docker.io"] > 0)
                    printf "  %-8s docker run --rm (emulated): ours takes %.2fx Docker'"'"'s time\n", b, ms[b, "dockbox"] / ms[b, "docker.io"]
            }
        }
    }' "$log"
grep -q '^test-devices: .*FAILED' "$log" && exit 1
exit 0
