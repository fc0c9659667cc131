# Sourced by scripts/build.sh and scripts/test.sh: the toolchain for the CPUs other than the
# host's, from Debian's own packages (rustup cannot download targets here).
#
# cross_setup TRIPLE [clippy] (cross_install, then cross_env)
#   installs, when missing and we are root on Debian, Debian's rustc (`rustc-web`, from
#   <release>-security, where it is recent enough for our Cargo.lock), its libstd for the
#   target's Debian architecture, the cross gcc and libc (for the final static link and
#   ring's C code), and with `clippy` also Debian's clippy; then exports what cargo needs:
#   RUSTC (Debian's rustc: its libstd for the target comes from the package), the linker,
#   CC and AR for the target, and CROSS_STRIP (binutils' strip for that CPU).
# cross_triples: the foreign targets build.sh --all builds.

cross_triples=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)

# Debian architecture and GNU tool prefix of a Rust target.
cross_debian_arch() {
    case "$1" in
        aarch64-unknown-linux-gnu) echo arm64 ;;
        armv7-unknown-linux-gnueabihf) echo armhf ;;
        *) return 1 ;;
    esac
}
cross_gnu_prefix() {
    case "$1" in
        aarch64-unknown-linux-gnu) echo aarch64-linux-gnu ;;
        armv7-unknown-linux-gnueabihf) echo arm-linux-gnueabihf ;;
        *) return 1 ;;
    esac
}

# cross_install [clippy] TRIPLE...: the Debian packages of those targets, in one apt-get run.
cross_install() {
    local with_clippy=
    if [ "${1:-}" = clippy ]; then with_clippy=1; shift; fi
    local rust_pkgs=(rustc-web) gcc_pkgs=() arches=() triple arch prefix
    [ -n "$with_clippy" ] && rust_pkgs+=(rust-web-clippy)
    for triple in "$@"; do
        if ! arch=$(cross_debian_arch "$triple"); then
            echo "cross-env: unknown target $triple (known: ${cross_triples[*]})" >&2
            return 1
        fi
        prefix=$(cross_gnu_prefix "$triple")
        arches+=("$arch")
        # The rust packages of one version go together (libstd is Multi-Arch: same).
        rust_pkgs+=("libstd-rust-web-dev:$arch")
        gcc_pkgs+=("gcc-$prefix" "libc6-dev-$arch-cross")
    done
    local missing=() p
    for p in "${rust_pkgs[@]}" "${gcc_pkgs[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "cross-env: $* need the Debian packages ${missing[*]} (run as root to install them)" >&2
        return 1
    fi
    echo "cross-env: installing ${missing[*]}" >&2
    for arch in "${arches[@]}"; do
        if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
            dpkg --add-architecture "$arch"
        fi
    done
    apt-get update -qq
    # rustc-web of <codename>-security; named by version, not `-t`/`/release`, which would
    # also pull that suite's older libc6 for the foreign architecture and break the
    # Multi-Arch pairing with the host's libc6.
    local codename version
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    version=$(apt-cache madison rustc-web | awk -F'|' -v s="$codename-security" '$3 ~ s {gsub(/ /, "", $2); print $2; exit}')
    [ -n "$version" ] || version=$(apt-cache policy rustc-web | awk '/Candidate:/ {print $2}')
    local pinned=()
    for p in "${rust_pkgs[@]}"; do pinned+=("$p=$version"); done
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pinned[@]}" "${gcc_pkgs[@]}" >/dev/null
}

# cross_env TRIPLE: exports what cargo needs for that target.
cross_env() {
    local triple=$1 prefix
    prefix=$(cross_gnu_prefix "$triple") || { echo "cross-env: unknown target $triple" >&2; return 1; }
    local env_triple=${triple//-/_}
    local upper=${env_triple^^}
    export RUSTC=/usr/bin/rustc
    export "CARGO_TARGET_${upper}_LINKER=$prefix-gcc"
    export "CC_${env_triple}=$prefix-gcc"
    export "AR_${env_triple}=$prefix-ar"
    export CROSS_STRIP="$prefix-strip"
}

# cross_setup TRIPLE [clippy]: both.
cross_setup() {
    if [ "${2:-}" = clippy ]; then cross_install clippy "$1"; else cross_install "$1"; fi
    cross_env "$1"
}
