#!/usr/bin/env bash
# Puts the release together: dist/dockbox-VERSION-ARCH for each CPU (ARCH as Docker names its
# static downloads: x86_64, aarch64, armhf) and dist/SHA256SUMS, and prints each file's size.
# Usage: scripts/release.sh              builds every CPU (scripts/build.sh --all), then packages
#        scripts/release.sh --no-build   packages the executables already built
# A file that is not a static executable (a program interpreter, "dynamically linked") is
# refused: the boards it is copied onto have no matching shared libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
build=1
case "${1:-}" in
    "") ;;
    --no-build) build=0 ;;
    *) echo "usage: scripts/release.sh [--no-build]" >&2; exit 2 ;;
esac
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
host=$(rustc -vV | sed -n 's/^host: //p')
. scripts/cross-env.sh

release_arch() {
    case "$1" in
        x86_64-unknown-linux-gnu) echo x86_64 ;;
        aarch64-unknown-linux-gnu) echo aarch64 ;;
        armv7-unknown-linux-gnueabihf) echo armhf ;;
        *) return 1 ;;
    esac
}

# What file(1) says of an executable for that CPU.
release_machine() {
    case "$1" in
        x86_64) echo 'x86-64' ;;
        aarch64) echo 'ARM aarch64' ;;
        armhf) echo '32-bit LSB executable, ARM, EABI5' ;;
    esac
}

# Refuses (non-zero, with the reason) a file that needs a dynamic loader.
is_static() {
    local f=$1 desc
    desc=$(file -b "$f")
    case "$desc" in
        ELF*executable*) ;;
        *) echo "not an ELF executable: $desc"; return 1 ;;
    esac
    if readelf -lW "$f" 2>/dev/null | grep -q 'Requesting program interpreter\|INTERP'; then
        echo "has a program interpreter (dynamically linked): $desc"
        return 1
    fi
    if ! grep -q 'statically linked\|static-pie' <<<"$desc"; then
        echo "not statically linked: $desc"
        return 1
    fi
}

[ "$build" = 1 ] && scripts/build.sh --all >/dev/null
mkdir -p dist
rm -f dist/SHA256SUMS
names=()
for triple in "$host" "${cross_triples[@]}"; do
    arch=$(release_arch "$triple")
    bin="target/$triple/release/dockbox"
    if [ ! -f "$bin" ]; then
        echo "release.sh: $bin is missing (scripts/build.sh --target $triple)" >&2
        exit 1
    fi
    if ! why=$(is_static "$bin"); then
        echo "release.sh: refusing $bin: $why" >&2
        exit 1
    fi
    if ! file -b "$bin" | grep -q "$(release_machine "$arch")"; then
        echo "release.sh: refusing $bin: not an executable for $arch: $(file -b "$bin")" >&2
        exit 1
    fi
    name="dockbox-$version-$arch"
    cp "$bin" "dist/$name.tmp"
    mv "dist/$name.tmp" "dist/$name"
    names+=("$name")
done
(cd dist && sha256sum "${names[@]}" > SHA256SUMS)
for name in "${names[@]}"; do
    size=$(stat -c %s "dist/$name")
    printf '%s %d bytes (%s MiB) %s\n' "dist/$name" "$size" "$(awk -v s="$size" 'BEGIN{printf "%.2f", s/1048576}')" "$(file -b "dist/$name" | cut -d, -f1-2)"
done
echo dist/SHA256SUMS
