#!/usr/bin/env bash
# Issue 19's figures in one run: an image of five 10 MiB incompressible layers pulled from a
# local Distribution registry by our dockerd, by Debian's docker.io and by skopeo (to a dir),
# onto two setups: a data root on the host's disk, and "the small board", a loop-mounted ext4
# whose backing device may hold at most 32 MiB dirty (its bdi's max_bytes, strict_limit; the
# host's own limits are left alone). Medians of N runs (default 3), each into a fresh root.
#   bytes written per layer byte: the processes' write_bytes less cancelled_write_bytes (disk),
#     and the loop device's own sectors-written counter, after a syncfs (board);
#   page cache left: fincore over the pulled files right after the pull;
#   unwritten when pull returns: the loop device's dirty + writeback pages (debugfs bdi stats);
#   fsync calls: strace -f -c of the daemon processes (skopeo: of skopeo) during one pull;
#   peak memory: VmHWM of the daemon processes (skopeo: its maxrss), summed;
#   pull time.
# Run as root: sudo scripts/bench/flash.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
source scripts/bench/lib.sh
bench_setup flashbench
cp "$bin" "$work/dockbox"; "$work/dockbox" --install "$work/bin" >/dev/null

# The image: an OCI layout with five 10 MiB layers of random bytes (as scripts/bench/pull.sh).
layout="$work/big"; mkdir -p "$layout/blobs/sha256"
echo '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
layers=""; diffids=""; plain=0
for i in 1 2 3 4 5; do
    d="$work/layer$i"; mkdir -p "$d/data"; head -c 10M /dev/urandom > "$d/data/file$i"
    tar --sort=name --mtime=@0 --owner=0 --group=0 -C "$d" -cf "$d.tar" data
    diffid=$(sha256sum "$d.tar" | cut -d' ' -f1); plain=$((plain + $(stat -c %s "$d.tar")))
    gzip -n -1 -c "$d.tar" > "$d.tar.gz"
    dg=$(sha256sum "$d.tar.gz" | cut -d' ' -f1); size=$(stat -c %s "$d.tar.gz")
    mv "$d.tar.gz" "$layout/blobs/sha256/$dg"; rm -rf "$d" "$d.tar"
    layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$dg\",\"size\":$size}"
    diffids+="${diffids:+,}\"sha256:$diffid\""
done
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$diffids" > "$work/config.json"
cdg=$(sha256sum "$work/config.json" | cut -d' ' -f1); csize=$(stat -c %s "$work/config.json"); mv "$work/config.json" "$layout/blobs/sha256/$cdg"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' "$cdg" "$csize" "$layers" > "$work/manifest.json"
mdg=$(sha256sum "$work/manifest.json" | cut -d' ' -f1); msize=$(stat -c %s "$work/manifest.json"); mv "$work/manifest.json" "$layout/blobs/sha256/$mdg"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' "$mdg" "$msize" > "$layout/index.json"

mkdir -p "$work/registry"
registry=$(bash scripts/registry.sh start "$work/registry" | tail -n1)
skopeo copy --quiet --insecure-policy --dest-tls-verify=false --format v2s2 "oci:$layout:latest" "docker://$registry/big:latest"
image="$registry/big:latest"

# The small board: a 512 MiB ext4 on a loop device, 32 MiB dirty at most.
truncate -s 512M "$work/board.img"; mkfs.ext4 -q -F "$work/board.img"
loopdev=$(losetup -f --show "$work/board.img")
majmin=$(cat "/sys/block/${loopdev#/dev/}/dev")
echo $((32 << 20)) > "/sys/class/bdi/$majmin/max_bytes"
echo 1 > "/sys/class/bdi/$majmin/strict_limit"
mkdir -p "$work/board"; mount -o noatime "$loopdev" "$work/board"
cleanup_loop() { umount -l "$work/board" 2>/dev/null || true; losetup -d "$loopdev" 2>/dev/null || true; bench_cleanup; }
trap cleanup_loop EXIT

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s%N; }
descendants() { local p; for p in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$p"; descendants "$p"; done; }
tree() { echo "$1"; descendants "$1"; }
# write_bytes less cancelled_write_bytes, summed over the processes given.
io_of() { local sum=0 p w c; for p in "$@"; do read -r w c < <(awk '/^write_bytes/{w=$2} /^cancelled_write_bytes/{c=$2} END{print w+0, c+0}' "/proc/$p/io" 2>/dev/null || echo "0 0"); sum=$((sum + w - c)); done; echo "$sum"; }
hwm_of() { local sum=0 p; for p in "$@"; do sum=$((sum + $(awk '/^VmHWM/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$sum"; }
dev_written() { awk '{print $7 * 512}' "/sys/block/${loopdev#/dev/}/stat"; }
unwritten_kb() { awk '/^BdiReclaimable|^BdiWriteback/{s+=$2} END{print s+0}' "/sys/kernel/debug/bdi/$majmin/stats" 2>/dev/null || echo -; }
cached_bytes() { find "$1" -type f -size +0 -print0 2>/dev/null | xargs -0 -r fincore -b -n -o RES 2>/dev/null | awk '{s+=$1} END{print s+0}'; }

real_dockerd=$(command -v /usr/sbin/dockerd /usr/bin/dockerd 2>/dev/null | head -n1 || true)
start_daemon() { # engine root → sets $dpid $cli
    local engine=$1 r=$2
    mkdir -p "$r"
    local exec="$work/exec-$(basename "$r")-$RANDOM" sock="$work/sock-$RANDOM"
    if [ "$engine" = ours ]; then
        "$work/bin/dockerd" --data-root "$r/data" --exec-root "$exec" --pidfile "$exec.pid" -H "unix://$sock" \
            --insecure-registry "$registry" --bridge=none --iptables=false --ip6tables=false >"$exec.log" 2>&1 &
        cli=("$work/bin/docker" -H "unix://$sock")
    else
        "$real_dockerd" --data-root "$r/data" --exec-root "$exec" --pidfile "$exec.pid" -H "unix://$sock" \
            --insecure-registry "$registry" --iptables=false --ip6tables=false --bridge=none >"$exec.log" 2>&1 &
        cli=(/usr/bin/docker -H "unix://$sock")
    fi
    dpid=$!; pids+=("$dpid")
    for _ in $(seq 200); do "${cli[@]}" version >/dev/null 2>&1 && break; sleep 0.05; done
}
stop_daemon() { kill "$dpid"; wait "$dpid" 2>/dev/null || true; }

# One pull: prints "ms written_process written_device unwritten_kb cached hwm_kb".
one() { # engine setup run
    local engine=$1 setup=$2 run=$3 base r
    base=$([ "$setup" = board ] && echo "$work/board" || echo "$work/disk")
    r="$base/$engine$run"; rm -rf "$r"; mkdir -p "$r"
    sync -f "$base" 2>/dev/null || sync
    local dev0; dev0=$([ "$setup" = board ] && dev_written || echo 0)
    local s e io0 io1 unw cached hwm dev1
    if [ "$engine" = skopeo ]; then
        s=$(now)
        read -r io1 hwm < <(python3 -c '
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True)
io = dict(l.split(": ") for l in open("/proc/self/io").read().splitlines())
print(int(io["write_bytes"]) - int(io["cancelled_write_bytes"]), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
' skopeo copy --quiet --insecure-policy --src-tls-verify=false "docker://$image" "dir:$r/dir")
        e=$(now); io0=0
    else
        start_daemon "$engine" "$r"
        io0=$(io_of $(tree "$dpid"))
        s=$(now); "${cli[@]}" pull -q "$image" >/dev/null; e=$(now)
    fi
    unw=$([ "$setup" = board ] && unwritten_kb || echo -)
    cached=$(cached_bytes "$r")
    if [ "$engine" != skopeo ]; then
        io1=$(io_of $(tree "$dpid")); hwm=$(hwm_of $(tree "$dpid"))
    fi
    sync -f "$r" 2>/dev/null || sync
    if [ "$engine" != skopeo ]; then
        # Counted again after the sync: what the daemons wrote back themselves since.
        io1=$(io_of $(tree "$dpid")); stop_daemon
    fi
    dev1=$([ "$setup" = board ] && dev_written || echo 0)
    echo "$(( (e - s) / 1000000 )) $((io1 - io0)) $((dev1 - dev0)) $unw $cached $hwm"
    rm -rf "$r"
}

# fsync-family calls during one pull on the disk setup.
fsyncs() { # engine
    local engine=$1 r="$work/disk/strace-$1" out="$work/strace-$1.txt"
    mkdir -p "$r"
    if [ "$engine" = skopeo ]; then
        strace -f -c -o "$out" -e trace=fsync,fdatasync,syncfs,sync_file_range skopeo copy --quiet --insecure-policy --src-tls-verify=false "docker://$image" "dir:$r/dir" >/dev/null 2>&1
    else
        start_daemon "$engine" "$r"
        local attach=() p; for p in $(tree "$dpid"); do attach+=(-p "$p"); done
        strace -f -c -o "$out" -e trace=fsync,fdatasync,syncfs,sync_file_range "${attach[@]}" >/dev/null 2>&1 &
        local sp=$!; sleep 1
        "${cli[@]}" pull -q "$image" >/dev/null
        kill -INT "$sp"; wait "$sp" 2>/dev/null || true
        stop_daemon
    fi
    rm -rf "$r"
    for c in fsync fdatasync syncfs sync_file_range; do awk -v c="$c" '$NF==c {n=$4} END{printf "%d ", n+0}' "$out"; done
}

mkdir -p "$work/disk"
engines=(ours)
[ -n "$real_dockerd" ] && engines+=(docker)
engines+=(skopeo)
declare -A R
for engine in "${engines[@]}"; do
    for setup in disk board; do
        : > "$work/res-$engine-$setup"
        for run in $(seq "$runs"); do one "$engine" "$setup" "$run" >> "$work/res-$engine-$setup"; done
    done
    R[$engine-fsync]=$(fsyncs "$engine")
done
col() { awk -v c="$2" '{print $c}' "$1" | grep -v '^-$' | median; }
ratio() { awk -v a="$1" -v b="$plain" 'BEGIN{ if (a=="-") print "-"; else printf "%.2f", a/b}'; }
mb() { awk -v a="$1" 'BEGIN{ if (a=="-") print "-"; else printf "%.1f MB", a/1e6}'; }

printf '\npull of a 5-layer image (5 x 10 MiB incompressible, %d layer bytes), medians of %d\n' "$plain" "$runs"
printf '| | %s |\n|---|%s\n' "$(printf '%s | ' "${engines[@]}" | sed 's/ | $//')" "$(printf -- '---|%.0s' "${engines[@]}")"
row() { local name=$1; shift; printf '| %s |' "$name"; for v in "$@"; do printf ' %s |' "$v"; done; printf '\n'; }
vals=(); for e in "${engines[@]}"; do vals+=("$(ratio "$(col "$work/res-$e-disk" 2)")"); done; row "bytes written per uncompressed layer byte" "${vals[@]}"
vals=(); for e in "${engines[@]}"; do vals+=("$(ratio "$(col "$work/res-$e-board" 3)")"); done; row "the same on the small board (device counter)" "${vals[@]}"
vals=(); for e in "${engines[@]}"; do vals+=("$(mb "$(col "$work/res-$e-disk" 5)")"); done; row "page cache the pull leaves holding its files" "${vals[@]}"
vals=(); for e in "${engines[@]}"; do v=$(col "$work/res-$e-board" 4); vals+=("$(awk -v a="$v" 'BEGIN{ if (a=="-") print "-"; else printf "%.1f MB", a*1024/1e6}')"); done; row "unwritten (dirty + writeback) when pull returns, board" "${vals[@]}"
vals=(); for e in "${engines[@]}"; do read -r a b c d <<<"${R[$e-fsync]}"; vals+=("fsync $a + fdatasync $b + syncfs $c (sync_file_range $d)"); done; row "fsync-family calls" "${vals[@]}"
vals=(); for e in "${engines[@]}"; do vals+=("$(awk -v a="$(col "$work/res-$e-disk" 6)" 'BEGIN{printf "%.1f MB", a*1024/1e6}')"); done; row "peak memory of the daemon processes" "${vals[@]}"
vals=(); for e in "${engines[@]}"; do vals+=("$(awk -v a="$(col "$work/res-$e-disk" 1)" 'BEGIN{printf "%.2f s", a/1000}')"); done; row "pull time (disk)" "${vals[@]}"
vals=(); for e in "${engines[@]}"; do vals+=("$(awk -v a="$(col "$work/res-$e-board" 1)" 'BEGIN{printf "%.2f s", a/1000}')"); done; row "pull time (board)" "${vals[@]}"

ours_disk=$(ratio "$(col "$work/res-ours-disk" 2)"); ours_board=$(ratio "$(col "$work/res-ours-board" 3)")
ours_cache=$(col "$work/res-ours-disk" 5); ours_unw=$(col "$work/res-ours-board" 4)
ours_t=$(col "$work/res-ours-disk" 1); docker_t=$( [ -n "$real_dockerd" ] && col "$work/res-docker-disk" 1 || echo -)
goal() { printf '%-58s %-12s %s\n' "$1" "$2" "$( [ "$3" = 1 ] && echo met || echo NOT met)"; }
printf '\ngoals\n'
goal "<= 1.05 bytes written per layer byte (disk)" "$ours_disk" "$(awk -v a="$ours_disk" 'BEGIN{print (a<=1.05)}')"
goal "<= 1.05 bytes written per layer byte (board)" "$ours_board" "$(awk -v a="$ours_board" 'BEGIN{print (a<=1.05)}')"
goal "<= 8 MiB of page cache left" "$(mb "$ours_cache")" "$(awk -v a="$ours_cache" 'BEGIN{print (a<=8*1048576)}')"
goal "nothing dirty when pull returns (board, <= 512 kB counter slack)" "${ours_unw} kB" "$(awk -v a="$ours_unw" 'BEGIN{print (a!="-" && a<=512)}')"
goal "pull no slower than docker.io's (disk)" "${ours_t}/${docker_t} ms" "$(awk -v a="$ours_t" -v b="$docker_t" 'BEGIN{print (b=="-" || a<=b)}')"
