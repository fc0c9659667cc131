#!/usr/bin/env bash
# Builds the one static dockbox executable (glibc crt-static, non-PIE so no relocations make
# private pages at start-up), stripped, and prints where it is and how big.
# Usage: scripts/build.sh                  -> target/<host-triple>/release/dockbox
#        scripts/build.sh --target TRIPLE  -> target/TRIPLE/release/dockbox, TRIPLE one of the
#                                             host's, aarch64-unknown-linux-gnu,
#                                             armv7-unknown-linux-gnueabihf
#        scripts/build.sh --all            -> all three, one path a line
# DOCKBOX_FEATURES=without-compose builds without `docker compose` (scripts/bench/compose.sh).
# The ARM builds use Debian's rustc and its libstd for that CPU and the cross gcc (for the
# static link against that CPU's glibc), installed by scripts/cross-env.sh when missing.
#
# The link lays the functions out in the order of scripts/link-order/<triple>.txt when that
# file exists (made by scripts/link-order.sh): the code dockerd and containerd run sits
# together, so each faults in a few 64 KiB windows of the text instead of most of it.
# The symbol names in that file carry Cargo's metadata hashes, which depend on the profile:
# the build therefore always links with symbols (the same profile scripts/link-order.sh
# profiles) and strips afterwards; the unstripped twin stays beside it as dockbox.symbols.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
triples=()
case "${1:-}" in
    "") triples=("$host") ;;
    --target) [ -n "${2:-}" ] || { echo "build.sh: --target needs a triple" >&2; exit 2; }; triples=("$2") ;;
    --all) . scripts/cross-env.sh; triples=("$host" "${cross_triples[@]}") ;;
    *) echo "usage: scripts/build.sh [--target TRIPLE | --all]" >&2; exit 2 ;;
esac
if [ ${#triples[@]} -gt 1 ]; then
    for t in "${triples[@]}"; do "$0" --target "$t"; done
    exit 0
fi
triple=${triples[0]}
if [ "$triple" != "$host" ]; then
    . scripts/cross-env.sh
    cross_setup "$triple"
fi
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static -C relocation-model=static"
export DOCKBOX_GIT_COMMIT=${DOCKBOX_GIT_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
export CARGO_PROFILE_RELEASE_STRIP=false
order="$PWD/scripts/link-order/$triple.txt"
link_args=()
if [ -f "$order" ]; then
    # Passed to the final link only (`cargo rustc`), so no crate's metadata hash changes.
    link_args=(-- -C "link-arg=-Wl,--symbol-ordering-file=$order" -C link-arg=-Wl,--no-warn-symbol-ordering)
fi
features=()
[ -n "${DOCKBOX_FEATURES:-}" ] && features=(--features "$DOCKBOX_FEATURES")
cargo rustc --release --locked --target "$triple" --bin dockbox "${features[@]}" "${link_args[@]}" >&2
dir="target/$triple/release"
bin="$dir/dockbox"
if ! file "$dir/dockbox" | grep -q 'statically linked\|static-pie'; then
    echo "build.sh: $bin is not static: $(file "$bin")" >&2
    exit 1
fi
# cargo leaves the binary with symbols when nothing changed since the last build, or a
# stripped one when this script stripped it: keep the symbols only in dockbox.symbols.
if [ "$(file -b "$bin" | grep -c 'not stripped')" = 1 ]; then
    cp "$bin" "$dir/dockbox.symbols"
    # LLVM's objcopy (rustup's llvm-tools) knows every target; binutils' strip the host's.
    objcopy=$(rustc --print sysroot)/lib/rustlib/$host/bin/rust-objcopy
    "$objcopy" --strip-all "$bin" 2>/dev/null || "${CROSS_STRIP:-strip}" --strip-all "$bin"
fi
if [ -f "$order" ]; then
    # A stale order file (other rustc, other dependency versions) costs memory, not
    # correctness: say how much of it still names functions of this build.
    found=$(nm --defined-only "$dir/dockbox.symbols" | awk '{print $3}' | sort -u | comm -12 - <(sort -u "$order") | wc -l)
    total=$(sort -u "$order" | wc -l)
    echo "build.sh: link order: $found of $total functions of $order found" >&2
    if [ "$found" -lt $((total * 9 / 10)) ]; then
        echo "build.sh: warning: the link order is stale; run scripts/link-order.sh" >&2
    fi
fi
size=$(stat -c %s "$bin")
echo "build.sh: $bin $size bytes ($(awk -v s="$size" 'BEGIN{printf "%.2f", s/1048576}') MiB): $(file -b "$bin" | cut -d, -f1-4)" >&2
echo "$bin"
