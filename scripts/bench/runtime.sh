#!/usr/bin/env bash
# OCI runtime figures, ours beside runc and crun in one run: `RUNTIME run` (create, start,
# wait, delete) of busybox `true`, N times each (default 100), medians and ratios; and the
# peak RSS of the runtime process (GNU time's %M; its own fork of a few hundred KiB is the
# floor of that figure). All three run in one private mount namespace with the
# cgroup2 hierarchy unmounted, because crun refuses this host's hybrid cgroups.
# GAP_MS (default 0) pauses between runs: back to back, a runtime that moves processes
# through cgroup.procs finds the kernel's threadgroup lock still in writer mode from the
# run before and skips the RCU grace period a lone start pays; 50 shows lone starts.
# Run as root: sudo scripts/bench/runtime.sh [N] [GAP_MS]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-100}
gap_ms=${2:-0}
source scripts/bench/lib.sh
bench_setup rtbench
cp "$bin" "$work/dockbox"
"$work/dockbox" --install "$work/bin" >/dev/null

bundle="$work/bundle"
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/etc"
cp "$(command -v busybox)" "$bundle/rootfs/bin/busybox"
for a in sh true; do ln -s busybox "$bundle/rootfs/bin/$a"; done
(cd "$bundle" && "$work/bin/docker-runc" spec)
python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
json.dump(c, open(p, "w"), indent=2)
PY

command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null 2>&1 || true; }
runtimes=("dockbox=$work/bin/docker-runc")
for r in runc crun; do command -v "$r" >/dev/null && runtimes+=("$r=$(command -v "$r")"); done

unshare -m --propagation private bash -s -- "$runs" "$gap_ms" "$bundle" "$work" "${runtimes[@]}" <<'INNER'
set -euo pipefail
runs=$1; gap_ms=$2; bundle=$3; work=$4; shift 4
umount /sys/fs/cgroup/unified 2>/dev/null || true
python3 - "$runs" "$gap_ms" "$bundle" "$work" "$@" <<'PY'
import os, statistics, subprocess, sys, time
runs, gap, bundle, work = int(sys.argv[1]), int(sys.argv[2]) / 1000, sys.argv[3], sys.argv[4]
results = {}
for spec in sys.argv[5:]:
    name, path = spec.split("=", 1)
    root = os.path.join(work, "root-" + name)
    times, peak = [], "-"
    for i in range(runs):
        cid = f"bench-{name}-{i}"
        time.sleep(gap)
        t0 = time.perf_counter()
        r = subprocess.run([path, "--root", root, "run", "--bundle", bundle, cid],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append((time.perf_counter() - t0) * 1000)
        if r.returncode != 0:
            print(f"{name}: run failed: {r.stderr.decode().strip()}", file=sys.stderr)
            break
    # Peak RSS from a separate run: a forked Python child would count Python's own pages.
    if os.path.exists("/usr/bin/time"):
        r = subprocess.run(["/usr/bin/time", "-f", "%M", path, "--root", root, "run", "--bundle", bundle, f"peak-{name}"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        peak = r.stderr.decode().strip().splitlines()[-1]
    if len(times) == runs:
        results[name] = (statistics.median(times), peak)
base = results.get("dockbox")
print(f"{'runtime':<10} {'median run (ms)':>16} {'vs dockbox':>11} {'peak RSS (KiB)':>15}")
for name, (med, peak) in results.items():
    ratio = f"{med / base[0]:.2f}x" if base else "-"
    print(f"{name:<10} {med:>16.2f} {ratio:>11} {peak:>15}")
if base and "crun" in results:
    print(f"dockbox / crun = {base[0] / results['crun'][0]:.2f} (the aim: <= 1.00)")
PY
INNER
