#!/usr/bin/env bash
# Builds the one static dockbox executable (glibc crt-static, non-PIE so no relocations make
# private pages at start-up), stripped, and prints where it is and how big.
# Usage: scripts/build.sh            -> target/<host-triple>/release/dockbox
set -euo pipefail
cd "$(dirname "$0")/.."
triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static -C relocation-model=static"
export DOCKBOX_GIT_COMMIT=${DOCKBOX_GIT_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
cargo build --release --locked --target "$triple" >&2
bin="target/$triple/release/dockbox"
if ! file "$bin" | grep -q 'statically linked\|static-pie'; then
    echo "build.sh: $bin is not static: $(file "$bin")" >&2
    exit 1
fi
size=$(stat -c %s "$bin")
echo "build.sh: $bin $size bytes ($(awk -v s="$size" 'BEGIN{printf "%.2f", s/1048576}') MiB): $(file -b "$bin" | cut -d, -f1-4)" >&2
echo "$bin"
