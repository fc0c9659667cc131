#!/usr/bin/env bash
# Proves the cross-built dockbox on emulated boards: boots Debian's own kernel for the board
# under qemu-system (-M virt, full emulation, no network device) from an initramfs holding the
# static dockbox for that CPU, that CPU's busybox (the board's shell and the image's), iptables
# with its libraries, the kernel modules the engine loads, and a busybox image for that CPU in
# a docker-save archive. The board runs scripts/devices/guest.sh: one PASS/FAIL line a step.
#
# Usage: scripts/test-devices.sh BOARD...   BOARD one of
#   arm64           aarch64 dockbox on Debian's arm64 kernel; root on a tmpfs (pivot_root),
#                   cgroup v2 only
#   armhf           armv7 dockbox on Debian's armmp kernel; the initramfs is the root (no
#                   pivot: DOCKER_RAMDISK), cgroup v1; a date past 2038
#   armv7-on-arm64  armv7 dockbox and armhf userland on the arm64 kernel (32-bit Raspberry Pi
#                   OS on a Pi 4/5), root on a tmpfs, cgroup v2
#   all             the three
# Exits non-zero when a step fails or a board does not finish.
# Environment: DOCKBOX_DEVICES_BENCH=yes adds "BENCH ..." memory lines (scripts/bench/devices.sh);
# DOCKBOX_DEVICES_CACHE (default target/devices): downloaded .debs and unpacked
# kernels; DOCKBOX_DEVICES_NO_BUILD=1 uses target/TRIPLE/release/dockbox as it is.
# Debian packages come from the machine's apt sources (apt-get download: never installed on
# the host); the host needs qemu-system-arm (installed when missing, as root) and the cross
# gcc of scripts/cross-env.sh (for the small probe helper).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
cache=${DOCKBOX_DEVICES_CACHE:-$repo/target/devices}

boards=()
for a in "$@"; do
    case "$a" in
        all) boards+=(arm64 armhf armv7-on-arm64) ;;
        arm64|armhf|armv7-on-arm64) boards+=("$a") ;;
        *) echo "usage: scripts/test-devices.sh arm64|armhf|armv7-on-arm64|all ..." >&2; exit 2 ;;
    esac
done
[ ${#boards[@]} -gt 0 ] || { echo "usage: scripts/test-devices.sh arm64|armhf|armv7-on-arm64|all ..." >&2; exit 2; }

. scripts/cross-env.sh

host_packages=()
command -v qemu-system-aarch64 >/dev/null && command -v qemu-system-arm >/dev/null || host_packages+=(qemu-system-arm)
for t in cpio jq runc busybox; do command -v "$t" >/dev/null || host_packages+=("$t"); done
if [ ${#host_packages[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "test-devices: installing ${host_packages[*]/busybox/busybox-static}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${host_packages[@]/busybox/busybox-static}" >/dev/null
    else
        echo "test-devices: needs the Debian packages ${host_packages[*]/busybox/busybox-static}" >&2
        exit 1
    fi
fi
for t in cpio dpkg-deb apt-get jq; do
    command -v "$t" >/dev/null || { echo "test-devices: $t is missing" >&2; exit 1; }
done

mkdir -p "$cache/debs"
# fetch_debs [--no-deps] ARCH PKG...: downloads each package (and, without --no-deps, what it
# depends on, recursively, in the same architecture) for ARCH into the cache unless there;
# prints the .deb paths.
fetch_debs() {
    local recurse=1
    if [ "$1" = --no-deps ]; then recurse=; shift; fi
    local arch=$1 pkg names=() missing=()
    shift
    for pkg in "$@"; do
        names+=("$pkg")
        [ -n "$recurse" ] || continue
        while read -r dep; do names+=("$dep"); done < <(
            apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
                --no-replaces --no-enhances "$pkg:$arch" | grep -v '^ ' | grep -v '^<' |
                sed "s/:$arch\$//" | grep -v : | sort -u)
    done
    local dir="$cache/debs/$arch" n
    mkdir -p "$dir"
    mapfile -t names < <(printf '%s\n' "${names[@]}" | sort -u)
    for n in "${names[@]}"; do
        compgen -G "$dir/${n}_*.deb" >/dev/null || missing+=("$n")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        local specs=()
        for n in "${missing[@]}"; do
            # Architecture-independent packages (netbase) have no ":ARCH" candidate.
            if apt-cache show --no-all-versions "$n" 2>/dev/null | grep -qx 'Architecture: all'; then specs+=("$n"); else specs+=("$n:$arch"); fi
        done
        (cd "$dir" && apt-get download -q "${specs[@]}" >/dev/null 2>"$dir/.download.err") || {
            cat "$dir/.download.err" >&2
            return 1
        }
    fi
    for n in "${names[@]}"; do compgen -G "$dir/${n}_*.deb" | tail -n1; done
}

# kernel FLAVOUR ARCH: unpacks Debian's kernel package for that flavour (once); prints its dir.
kernel() {
    local flavour=$1 arch=$2 pkg deb dir
    pkg=$(apt-cache depends "linux-image-$flavour:$arch" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^:]*\).*/\1/p' | head -n1)
    if [ -z "$pkg" ]; then
        echo "test-devices: no linux-image-$flavour:$arch in the apt lists (dpkg --add-architecture $arch; apt-get update)" >&2
        return 1
    fi
    dir="$cache/kernel/$pkg"
    if [ ! -d "$dir/boot" ]; then
        deb=$(fetch_debs --no-deps "$arch" "$pkg")
        rm -rf "$dir.tmp"
        mkdir -p "$dir.tmp"
        dpkg-deb -x "$deb" "$dir.tmp"
        rm -rf "$dir.tmp/usr" # device trees: -M virt describes itself
        mv "$dir.tmp" "$dir"
    fi
    echo "$dir"
}

# The modules the engine loads (and the netfilter ones iptables' rules need), with what each
# depends on, in an order insmod can follow. Names the kernel has built in are skipped.
# crc32c_generic first: libcrc32c (conntrack, NAT) asks the crypto API for "crc32c" (its
# softdep), which fails with ENOENT unless an implementation is loaded.
engine_modules=(crc32c_generic overlay veth bridge br_netfilter nf_conntrack nf_nat x_tables ip_tables iptable_filter
    iptable_nat ip6_tables ip6table_filter ip6table_nat xt_conntrack xt_MASQUERADE xt_addrtype
    xt_nat xt_tcpudp xt_comment xt_mark)
# module_order KERNEL_DIR: prints the relative paths (under lib/modules/VERSION) in load order:
# each module after those its .modinfo "depends=" names (Debian's package has no modules.dep:
# depmod runs at install).
module_order() {
    local moddir f n
    moddir=$(echo "$1"/lib/modules/*)
    declare -gA module_path=() module_seen=()
    while read -r f; do
        n=${f##*/}
        n=${n%.ko}
        module_path[${n//-/_}]=$f
    done < <(cd "$moddir" && find kernel -name '*.ko')
    for n in "${engine_modules[@]}"; do module_visit "$moddir" "$n"; done
}
module_visit() {
    local moddir=$1 n=$2 p deps d
    [ -z "${module_seen[$n]:-}" ] || return 0
    module_seen[$n]=1
    p=${module_path[$n]:-}
    [ -n "$p" ] || return 0 # built in
    deps=$(grep -a -o 'depends=[^[:cntrl:]]*' "$moddir/$p" | head -n1 | cut -d= -f2)
    for d in ${deps//,/ }; do module_visit "$moddir" "${d//-/_}"; done
    echo "$p"
}

# busybox_image ROOTFS ARCH VARIANT OUT: a docker-save archive (busybox:latest) of ROOTFS.
busybox_image() {
    local root=$1 arch=$2 variant=$3 out=$4 w
    w=$(mktemp -d)
    tar -C "$root" --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner -cf "$w/layer.tar" .
    local diff_id
    diff_id=$(sha256sum "$w/layer.tar" | cut -d' ' -f1)
    mkdir -p "$w/out/$diff_id"
    mv "$w/layer.tar" "$w/out/$diff_id/layer.tar"
    jq -cn --arg arch "$arch" --arg variant "$variant" --arg diff "sha256:$diff_id" '{
        architecture: $arch, variant: $variant, os: "linux", created: "2023-11-14T22:13:20Z",
        config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["sh"]},
        rootfs: {type: "layers", diff_ids: [$diff]},
        history: [{created: "2023-11-14T22:13:20Z", created_by: "scripts/test-devices.sh"}]}' >"$w/config.json"
    local config
    config=$(sha256sum "$w/config.json" | cut -d' ' -f1)
    mv "$w/config.json" "$w/out/$config.json"
    jq -cn --arg c "$config.json" --arg l "$diff_id/layer.tar" '[{Config: $c, RepoTags: ["busybox:latest"], Layers: [$l]}]' >"$w/out/manifest.json"
    tar -C "$w/out" --sort=name --owner=0 --group=0 --numeric-owner -cf "$out" .
    rm -rf "$w"
}

# runc_bundle DIR ROOTFS_TEMPLATE JQ_FILTER: an OCI bundle from runc's default spec, edited.
runc_bundle() {
    local dir=$1 filter=$2
    mkdir -p "$dir"
    ln -s ../rootfs "$dir/rootfs"
    jq "$filter" "$spec" >"$dir/config.json"
}

run_board() {
    local board=$1 triple userland kflavour karch qemu cpu machine cgroup root docker_arch uname_m variant time64 scmp
    case "$board" in
        arm64) triple=aarch64-unknown-linux-gnu userland=arm64 kflavour=arm64 karch=arm64
            qemu=qemu-system-aarch64 machine=virt cpu=cortex-a72 cgroup=v2 root=tmpfs
            docker_arch=arm64 variant=v8 uname_m=aarch64 time64=no scmp=SCMP_ARCH_AARCH64 ;;
        armhf) triple=armv7-unknown-linux-gnueabihf userland=armhf kflavour=armmp karch=armhf
            qemu=qemu-system-arm machine=virt,highmem=off cpu=cortex-a15 cgroup=v1 root=ramdisk
            docker_arch=arm variant=v7 uname_m=armv7l time64=yes scmp=SCMP_ARCH_ARM ;;
        armv7-on-arm64) triple=armv7-unknown-linux-gnueabihf userland=armhf kflavour=arm64 karch=arm64
            qemu=qemu-system-aarch64 machine=virt cpu=cortex-a72 cgroup=v2 root=tmpfs
            docker_arch=arm variant=v7 uname_m=aarch64 time64=no scmp=SCMP_ARCH_ARM ;;
    esac
    local bin="target/$triple/release/dockbox"
    if [ -z "${DOCKBOX_DEVICES_NO_BUILD:-}" ]; then
        bin=$(scripts/build.sh --target "$triple" | tail -n1)
    fi
    [ -x "$bin" ] || { echo "test-devices: $bin is missing (scripts/build.sh --target $triple)" >&2; return 1; }

    # Debian's toolchain for the probe, and the board's architectures known to dpkg and apt.
    cross_install "$triple" >&2 || return 1
    local a added=
    for a in "$userland" "$karch"; do
        if [ "$a" != "$(dpkg --print-architecture)" ] && ! dpkg --print-foreign-architectures | grep -qx "$a"; then
            dpkg --add-architecture "$a"
            added=1
        fi
    done
    [ -z "$added" ] || apt-get update -qq

    local kdir
    kdir=$(kernel "$kflavour" "$karch") || return 1
    local work
    work=$(mktemp -d "/tmp/dockbox-devices-$board.XXXXXX")
    local r="$work/root"
    mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,proc,sys,dev,tmp,run,var/run,lib/modules,images,bundles,root}

    # Userland for the board's CPU: busybox, iptables and its libraries, unpacked, never
    # installed on the host.
    local deb debs
    debs=$(fetch_debs "$userland" busybox-static iptables) || return 1
    for deb in $debs; do dpkg-deb -x "$deb" "$r" || return 1; done
    local memory=1024
    if [ "${DOCKBOX_DEVICES_BENCH:-}" = yes ]; then
        # Debian's docker.io for this CPU beside ours, for scripts/bench/devices.sh: the
        # engine and the libraries its programs link, unpacked (no maintainer scripts run).
        debs=$(fetch_debs --no-deps "$userland" docker.io containerd runc tini libdevmapper1.02.1 \
            libsystemd0 libseccomp2 libudev1 libselinux1 libpcre2-8-0 libcap2 liblzma5 libzstd1 \
            liblz4-1 libgcrypt20 libgpg-error0) || return 1
        for deb in $debs; do dpkg-deb -x "$deb" "$r" || return 1; done
        memory=2048
    fi
    rm -rf "$r/usr/share" "$r"/usr/lib/*/gconv
    ln -sf xtables-legacy-multi "$r/usr/sbin/iptables"
    ln -sf xtables-legacy-multi "$r/usr/sbin/ip6tables"
    # The host's busybox (same Debian version) names the applets: the board's can't run here.
    local applet
    for applet in $(busybox --list); do
        [ -e "$r/bin/$applet" ] || ln -s busybox "$r/bin/$applet"
    done
    cp "$bin" "$r/usr/local/bin/dockbox"
    for applet in docker dockerd docker-containerd docker-containerd-ctr docker-containerd-shim docker-runc docker-init docker-proxy containerd containerd-shim runc ctr; do
        ln -s dockbox "$r/usr/local/bin/$applet"
    done
    local prefix
    prefix=$(cross_gnu_prefix "$triple")
    "$prefix-gcc" -static -O2 -D_TIME_BITS=64 -D_FILE_OFFSET_BITS=64 -o "$work/probe" scripts/devices/probe.c || return 1

    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
    printf 'root:x:0:\n' >"$r/etc/group"
    printf '127.0.0.1 localhost\n::1 localhost\n' >"$r/etc/hosts"
    printf 'nameserver 127.0.0.1\n' >"$r/etc/resolv.conf"

    # Kernel modules, in load order.
    local moddir rel
    moddir=$(echo "$kdir"/lib/modules/*)
    : >"$r/lib/modules/load-order"
    while read -r rel; do
        mkdir -p "$r/lib/modules/$(dirname "$rel")"
        cp "$moddir/$rel" "$r/lib/modules/$rel"
        echo "$rel" >>"$r/lib/modules/load-order"
    done < <(module_order "$kdir")

    # The container image and the runc bundles share one busybox root.
    local img="$work/image"
    mkdir -p "$img/bin" "$img/tmp" "$img/etc" "$img/root"
    chmod 1777 "$img/tmp"
    cp "$r/bin/busybox" "$img/bin/busybox"
    for applet in $(busybox --list); do [ -e "$img/bin/$applet" ] || ln -s busybox "$img/bin/$applet"; done
    cp "$work/probe" "$img/probe"
    cp "$work/probe" "$r/probe"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$img/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\n' >"$img/etc/group"
    busybox_image "$img" "$docker_arch" "$variant" "$r/images/busybox.tar" || return 1
    cp -a "$img" "$r/bundles/rootfs"
    spec="$work/spec.json"
    (cd "$work" && runc spec && mv config.json spec.json) || return 1
    local base='.root.readonly = false | .process.terminal = false'
    runc_bundle "$r/bundles/hello" "$base | .process.args = [\"echo\", \"hello-from-runc\"]"
    runc_bundle "$r/bundles/sleeper" "$base | .process.args = [\"sleep\", \"600\"]"
    runc_bundle "$r/bundles/mkdir-allowed" "$base | .process.args = [\"/probe\", \"mkdir\", \"/tmp/x\"]"
    runc_bundle "$r/bundles/mkdir-denied" "$base | .process.args = [\"/probe\", \"mkdir\", \"/tmp/x\"] | .linux.seccomp = {defaultAction: \"SCMP_ACT_ALLOW\", architectures: [\"$scmp\"], syscalls: [{names: [\"mkdir\", \"mkdirat\"], action: \"SCMP_ACT_ERRNO\", errnoRet: 1}]}"
    runc_bundle "$r/bundles/memory" "$base | .process.args = [\"dd\", \"if=/dev/zero\", \"of=/dev/null\", \"bs=64M\", \"count=1\"] | .linux.resources.memory = {limit: 33554432}"

    cat >"$r/board.env" <<ENV
BOARD=$board
BOARD_CGROUP=$cgroup
BOARD_ROOT=$root
BOARD_DOCKER_ARCH=$docker_arch
BOARD_UNAME_M=$uname_m
BOARD_TIME64=$time64
BOARD_BENCH=${DOCKBOX_DEVICES_BENCH:-no}
ENV
    cp scripts/devices/guest.sh "$r/init"
    chmod 755 "$r/init"
    (cd "$r" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$work/initramfs.cpio"
    rm -rf "$r"

    local cmdline="console=ttyAMA0 rdinit=/init panic=-1 loglevel=3"
    [ "$cgroup" = v2 ] && cmdline="$cmdline cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1"
    echo "test-devices: $board: booting $(basename "$kdir") ($qemu -M $machine -cpu $cpu), dockbox $(stat -c %s "$bin") bytes, initramfs $(stat -c %s "$work/initramfs.cpio") bytes" >&2
    local started log=$work/console.log
    started=$(date +%s)
    # No network device: the board's traffic stays on its own loopback and bridges.
    timeout 900 "$qemu" -M "$machine" -cpu "$cpu" -smp 2 -m "$memory" -nographic -no-reboot \
        -nic none -kernel "$kdir"/boot/vmlinuz-* -initrd "$work/initramfs.cpio" -append "$cmdline" \
        </dev/null 2>&1 | tr -d '\r' | tee "$log" | grep --line-buffered -E '^(PASS|FAIL|BENCH|    |board:|test-devices:)' || true
    local summary
    summary=$(grep '^test-devices: ' "$log" | tail -n1)
    echo "test-devices: $board: $(( $(date +%s) - started )) s in the emulator" >&2
    if [ -z "$summary" ]; then
        echo "test-devices: $board: the board did not finish; its console's end:" >&2
        tail -n 40 "$log" >&2
        rm -rf "$work"
        return 1
    fi
    rm -rf "$work"
    case "$summary" in *" 0 FAIL") return 0 ;; *) return 1 ;; esac
}

failed=()
for board in "${boards[@]}"; do
    run_board "$board" || failed+=("$board")
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "test-devices: FAILED on ${failed[*]}" >&2
    exit 1
fi
echo "test-devices: every step passed on ${boards[*]}" >&2
