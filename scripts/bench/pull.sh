#!/usr/bin/env bash
# Pull figures in one run: a multi-layer image of about 50 MB (5 layers of incompressible
# data) from a local Distribution registry, pulled by our dockerd, by Debian's docker.io and by
# skopeo, beside the floor: fetching the same blobs with curl, hashing them with sha256sum and
# untarring them into a directory. Medians of N runs (default 3), each into fresh roots; and
# the disk used per image by ours and by Docker.
# Run as root: sudo scripts/bench/pull.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
source scripts/bench/lib.sh
bench_setup pullbench
cp "$bin" "$work/dockbox"; "$work/dockbox" --install "$work/bin" >/dev/null

# The image: an OCI layout with five 10 MiB layers of random bytes.
layout="$work/big"; mkdir -p "$layout/blobs/sha256"
echo '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
layers=""; diffids=""
for i in 1 2 3 4 5; do
    d="$work/layer$i"; mkdir -p "$d/data"; head -c 10M /dev/urandom > "$d/data/file$i"
    tar --sort=name --mtime=@0 --owner=0 --group=0 -C "$d" -cf "$d.tar" data
    diffid=$(sha256sum "$d.tar" | cut -d' ' -f1)
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
blobs=$(curl -s -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "http://$registry/v2/big/manifests/latest" | python3 -c 'import json,sys; print(" ".join(l["digest"] for l in json.load(sys.stdin)["layers"]))')

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.0f\n", (a[NR/2]+a[NR/2+1])/2}'; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

floor() {
    for _ in $(seq "$runs"); do
        out="$work/floor"; rm -rf "$out"; mkdir -p "$out"
        s=$(date +%s%N)
        for b in $blobs; do
            curl -s "http://$registry/v2/big/blobs/$b" -o "$work/blob"
            [ "sha256:$(sha256sum "$work/blob" | cut -d' ' -f1)" = "$b" ] || { echo "digest mismatch" >&2; exit 1; }
            tar -xzf "$work/blob" -C "$out"
        done
        ms "$s"
    done | median
}

ours() {
    for i in $(seq "$runs"); do
        r="$work/ours$i"
        "$work/bin/dockerd" --data-root "$r/data" --exec-root "$r/exec" --pidfile "$r/pid" -H "unix://$r/sock" \
            --insecure-registry "$registry" >"$r.log" 2>&1 &
        p=$!; pids+=("$p")
        for _ in $(seq 100); do "$work/bin/docker" -H "unix://$r/sock" version >/dev/null 2>&1 && break; sleep 0.05; done
        s=$(date +%s%N); "$work/bin/docker" -H "unix://$r/sock" pull -q "$image" >/dev/null; ms "$s"
        [ "$i" = 1 ] && du -sk "$r/data" | cut -f1 > "$work/ours.du"
        kill "$p"; wait "$p" 2>/dev/null || true
    done | median
}

docker_io() {
    real=$(command -v /usr/sbin/dockerd /usr/bin/dockerd 2>/dev/null | head -n1)
    [ -n "$real" ] || { echo "-"; return; }
    for i in $(seq "$runs"); do
        r="$work/real$i"
        "$real" --data-root "$r/data" --exec-root "$r/exec" --pidfile "$r/pid" -H "unix://$r/sock" \
            --insecure-registry "$registry" --iptables=false --ip6tables=false --bridge=none >"$r.log" 2>&1 &
        p=$!; pids+=("$p")
        for _ in $(seq 200); do /usr/bin/docker -H "unix://$r/sock" version >/dev/null 2>&1 && break; sleep 0.1; done
        s=$(date +%s%N); /usr/bin/docker -H "unix://$r/sock" pull -q "$image" >/dev/null; ms "$s"
        [ "$i" = 1 ] && du -sk "$r/data" | cut -f1 > "$work/real.du"
        kill "$p"; wait "$p" 2>/dev/null || true
    done | median
}

skopeo_copy() {
    for i in $(seq "$runs"); do
        rm -rf "$work/skopeo$i"
        s=$(date +%s%N); skopeo copy --quiet --insecure-policy --src-tls-verify=false "docker://$image" "dir:$work/skopeo$i"; ms "$s"
    done | median
}

f=$(floor); o=$(ours); d=$(docker_io); k=$(skopeo_copy)
printf '%-34s %10s %10s\n' "pull of a 50 MB, 5-layer image" "median ms" "vs floor"
for row in "floor (curl + sha256sum + tar)=$f" "dockbox=$o" "docker.io=$d" "skopeo (fetch + verify only)=$k"; do
    name=${row%%=*}; v=${row#*=}
    r=$( [ "$v" != "-" ] && awk -v a="$v" -v b="$f" 'BEGIN{printf "%.2fx", a/b}' || echo -)
    printf '%-34s %10s %10s\n' "$name" "$v" "$r"
done
printf 'disk used per image: dockbox %s KiB, docker.io %s KiB\n' "$(cat "$work/ours.du" 2>/dev/null || echo -)" "$(cat "$work/real.du" 2>/dev/null || echo -)"
