#!/bin/bash
# Builds the quickstart's two images offline as OCI image layouts under OUTDIR:
#   OUTDIR/busybox      (Debian's busybox-static with its applet links)
#   OUTDIR/hello-world  (a tiny static /hello built from scripts/hello/hello.c)
# Only tar, gzip, sha256sum, printf and gcc are used; the output is reproducible
# (fixed mtimes from SOURCE_DATE_EPOCH, sorted tar entries, gzip -n).
set -euo pipefail
umask 022

OUT=${1:?usage: images.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
case "$(uname -m)" in
    x86_64) ARCH=amd64 ;;
    aarch64) ARCH=arm64 ;;
    *) echo "images.sh: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# put_blob FILE LAYOUT: stores FILE under LAYOUT/blobs/sha256 and prints its hex digest.
put_blob() {
    local d
    d=$(sha "$1")
    cp "$1" "$2/blobs/sha256/$d"
    echo "$d"
}

# make_image ROOTFS LAYOUT CONFIG_JSON_FRAGMENT CREATED_BY
make_image() {
    local root=$1 layout=$2 cfg=$3 created_by=$4
    rm -rf "$layout"
    mkdir -p "$layout/blobs/sha256"
    (cd "$root" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort) > "$WORK/top"
    tar -C "$root" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
        --format=gnu -cf "$WORK/layer.tar" -T "$WORK/top"
    gzip -n -9 -c "$WORK/layer.tar" > "$WORK/layer.tar.gz"
    local diff_id layer layer_size
    diff_id=$(sha "$WORK/layer.tar")
    layer=$(put_blob "$WORK/layer.tar.gz" "$layout")
    layer_size=$(size "$WORK/layer.tar.gz")
    # Every value here is ours (no quotes or backslashes), so printf builds the JSON.
    printf '{"architecture":"%s","os":"linux","created":"%s","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"%s","created_by":"%s"}]}' \
        "$ARCH" "$CREATED" "$cfg" "$diff_id" "$CREATED" "$created_by" > "$WORK/config.json"
    local config config_size
    config=$(put_blob "$WORK/config.json" "$layout")
    config_size=$(size "$WORK/config.json")
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
        "$config" "$config_size" "$layer" "$layer_size" > "$WORK/manifest.json"
    local manifest manifest_size
    manifest=$(put_blob "$WORK/manifest.json" "$layout")
    manifest_size=$(size "$WORK/manifest.json")
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}\n' \
        "$manifest" "$manifest_size" "$ARCH" > "$layout/index.json"
    printf '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
    echo "$layout: manifest sha256:$manifest"
}

for tool in tar gzip sha256sum gcc; do
    command -v "$tool" >/dev/null || { echo "images.sh: $tool is missing (apt-get install -y tar gzip coreutils gcc)" >&2; exit 1; }
done
mkdir -p "$OUT"

# busybox
BUSYBOX=$(command -v busybox || true)
for b in /bin/busybox /usr/bin/busybox "$BUSYBOX"; do [ -x "$b" ] && BUSYBOX=$b && break; done
[ -x "$BUSYBOX" ] || { echo "images.sh: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
if ! "$BUSYBOX" --list >/dev/null 2>&1; then
    echo "images.sh: $BUSYBOX does not run" >&2; exit 1
fi
R="$WORK/busybox"
mkdir -p "$R/bin" "$R/etc" "$R/root" "$R/tmp" "$R/var"
chmod 1777 "$R/tmp"
chmod 700 "$R/root"
cp "$BUSYBOX" "$R/bin/busybox"
chmod 755 "$R/bin/busybox"
for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$R/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$R/etc/group"
make_image "$R" "$OUT/busybox" \
    '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]}' \
    'ADD busybox-static /bin/busybox'

# hello-world
R="$WORK/hello"
mkdir -p "$R"
gcc -static -nostdlib -Os -fno-stack-protector -fno-asynchronous-unwind-tables -Wl,--build-id=none -s \
    -o "$R/hello" "$HERE/hello/hello.c"
chmod 755 "$R/hello"
make_image "$R" "$OUT/hello-world" \
    '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/hello"]}' \
    'COPY hello /'
