#!/usr/bin/env bash
# docker-proxy, ours beside Docker's (Debian's docker.io ships it; installed with apt-get when
# missing): the same transfer (default 1 GiB) over loopback TCP, client -> proxy -> sink, each
# run through ours then through Docker's, back to back (the machine is shared: figures taken
# minutes apart differ), RUNS times (default 5); prints each run's throughput, the medians and
# their ratio, and each proxy's private memory (Private_Clean + Private_Dirty of
# /proc/PID/smaps_rollup) idle and at its highest during a transfer, and the CPU time each
# proxy spent per transfer (user + system, from /proc/PID/stat: less at the mercy of the
# machine's other load than the throughput).
# Each proxy runs beside a sibling of the same program that has served a connection too, as
# Docker starts them (one per address family of a port) and as dockerd shares our executable:
# the program's text is then shared, and what is counted is the proxy's own memory.
# Run as root: sudo scripts/bench/proxy.sh [RUNS] [MiB]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
mib=${2:-1024}
source scripts/bench/lib.sh
bench_setup proxy

theirs=$(command -v docker-proxy /usr/sbin/docker-proxy /usr/bin/docker-proxy 2>/dev/null | head -n1 || true)
if [ -z "$theirs" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io >/dev/null
    theirs=$(command -v /usr/sbin/docker-proxy /usr/bin/docker-proxy | head -n1)
fi
cp "$bin" "$work/dockbox"; ln -s dockbox "$work/docker-proxy"
ours=$work/docker-proxy

kib() { awk -v k="$1" '/^'"$1"':/ {s+=$2} END {print s+0}' "/proc/$2/smaps_rollup"; }
private() { echo $(( $(kib Private_Clean "$1") + $(kib Private_Dirty "$1") )); }
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$1/stat"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# The client and the sink: sendfile(2) from a file, splice(2) to /dev/null; prints MiB/s
# from the connect to the sink's last byte.
cat >"$work/xfer.py" <<'EOF'
import fcntl, os, socket, sys, threading, time
sink_port, front_port, mib, src = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", sink_port)); ls.listen(8)
got = [0, 0.0]
def sink():
    # splice(2) into /dev/null through a pipe: the sink copies nothing, so the proxy is
    # what limits the transfer.
    c, _ = ls.accept(); pr, pw = os.pipe(); null = os.open("/dev/null", os.O_WRONLY); n = 0
    try: fcntl.fcntl(pw, 1031, 1 << 20)  # F_SETPIPE_SZ
    except OSError: pass
    while True:
        r = os.splice(c.fileno(), pw, 1 << 20)
        if r == 0: break
        n += r
        while r: r -= os.splice(pr, null, r)
    got[0], got[1] = n, time.monotonic(); c.close()
t = threading.Thread(target=sink); t.start()
start = time.monotonic()
s = socket.create_connection(("127.0.0.1", front_port))
with open(src, "rb") as f:
    for _ in range(mib // 64):
        f.seek(0); s.sendfile(f)
s.shutdown(socket.SHUT_WR); t.join(); s.close()
if got[0] != mib << 20: sys.exit("sink got %d bytes of %d" % (got[0], mib << 20))
print("%.0f" % (mib / (got[1] - start)))
EOF
head -c $((64 << 20)) /dev/urandom >"$work/src.bin"

base=$((20000 + RANDOM % 20000))
sink_port=$base
start_proxy() { # PROGRAM HOST-PORT -> $started: its pid, once it said it listens
    local ready="$work/ready.$2"
    "$1" -proto tcp -host-ip 127.0.0.1 -host-port "$2" -container-ip 127.0.0.1 -container-port "$sink_port" \
        3>"$ready" </dev/null >/dev/null 2>&1 &
    started=$!; pids+=("$started")
    for _ in $(seq 100); do [ -s "$ready" ] && break; sleep 0.05; done
    [ "$(head -c 1 "$ready")" = "0" ] || { echo "proxy.sh: $1 did not start: $(cat "$ready")" >&2; exit 1; }
}
xfer() { python3 "$work/xfer.py" "$sink_port" "$1" "$2" "$work/src.bin"; }

declare -A port pid idle peak
next=$((base + 1))
for who in ours theirs; do
    program=$ours; [ "$who" = theirs ] && program=$theirs
    port[$who]=$next; next=$((next + 2))
    start_proxy "$program" "${port[$who]}"; pid[$who]=$started
    start_proxy "$program" $((port[$who] + 1))
    xfer $((port[$who] + 1)) 64 >/dev/null
    xfer "${port[$who]}" 64 >/dev/null
    sleep 0.5
    idle[$who]=$(private "${pid[$who]}")
    peak[$who]=0
done

printf '%-8s %14s %14s\n' run "dockbox MiB/s" "docker MiB/s"
for i in $(seq "$runs"); do
    line=$i
    for who in ours theirs; do
        # Sample the proxy's memory while the transfer runs.
        ( m=0; while [ ! -e "$work/done" ]; do p=$(private "${pid[$who]}" 2>/dev/null || echo 0); [ "$p" -gt "$m" ] && m=$p; sleep 0.02; done; echo "$m" >"$work/peak" ) &
        sampler=$!
        c0=$(cpu_ms "${pid[$who]}")
        rate=$(xfer "${port[$who]}" "$mib")
        echo $(( $(cpu_ms "${pid[$who]}") - c0 )) >>"$work/cpu.$who"
        touch "$work/done"; wait "$sampler"; rm -f "$work/done"
        p=$(cat "$work/peak"); [ "$p" -gt "${peak[$who]}" ] && peak[$who]=$p
        echo "$rate" >>"$work/rate.$who"
        line="$line $rate"
    done
    printf '%-8s %14s %14s\n' $line
done
ours_rate=$(median <"$work/rate.ours"); theirs_rate=$(median <"$work/rate.theirs")
echo
printf '%-44s %14s %14s %8s\n' "figure" "dockbox" "docker-proxy" "ratio"
row() { printf '%-44s %14s %14s %8s\n' "$1" "$2 $4" "$3 $4" "$(awk -v a="$2" -v b="$3" 'BEGIN{printf "%.3f", a/b}')"; }
row "throughput, ${mib} MiB (median of $runs)" "$ours_rate" "$theirs_rate" MiB/s
row "proxy CPU time per transfer (median)" "$(median <"$work/cpu.ours")" "$(median <"$work/cpu.theirs")" ms
row "Private, idle" "${idle[ours]}" "${idle[theirs]}" KiB
row "Private, highest during transfers" "${peak[ours]}" "${peak[theirs]}" KiB
echo "(docker-proxy: $theirs, $("$theirs" -v 2>/dev/null || dpkg-query -W -f '${Version}' docker.io 2>/dev/null || echo unknown version))"
