#!/bin/sh
# PID 1 of an emulated board (scripts/test-devices.sh puts it in the initramfs as /init, with
# /board.env). It mounts what a device's init would, loads the kernel modules the engine needs,
# then runs each step and prints one PASS or FAIL line for it, a summary line
# "test-devices: BOARD: N PASS, M FAIL", and powers the machine off.
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
. /board.env

if [ "$$" = 1 ] && [ "$BOARD_ROOT" = tmpfs ] && [ ! -e /.switched ]; then
    # A root that is a mount (as on a board booted from a disk), so pivot_root works: copy the
    # initramfs into a tmpfs and make that the root.
    mount -t proc proc /proc
    mkdir -p /newroot
    mount -t tmpfs -o size=900m,mode=755 root /newroot
    for d in /*; do
        case "$d" in /newroot|/proc|/sys|/dev) ;; *) cp -a "$d" /newroot/ ;; esac
    done
    mkdir -p /newroot/proc /newroot/sys /newroot/dev
    touch /newroot/.switched
    umount /proc
    exec switch_root /newroot /init
fi

mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /run /tmp /var/lib/docker /var/run
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs shm /dev/shm
mount -t tmpfs -o mode=755 run /run
mount -t tmpfs tmp /tmp
mount -t tmpfs -o size=600m docker /var/lib/docker
hostname "board-$BOARD"
ip link set lo up

case "$BOARD_CGROUP" in
    v2) mount -t cgroup2 cgroup2 /sys/fs/cgroup ;;
    v1)
        mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
        for c in cpu,cpuacct cpuset memory devices freezer pids blkio net_cls,net_prio perf_event; do
            mkdir -p "/sys/fs/cgroup/$c"
            mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" 2>/dev/null || rmdir "/sys/fs/cgroup/$c"
        done
        mkdir -p /sys/fs/cgroup/systemd
        mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
        ;;
esac

while read -r ko; do
    insmod "/lib/modules/$ko" 2>/tmp/insmod.err || echo "board: insmod $ko: $(cat /tmp/insmod.err)"
done < /lib/modules/load-order

pass=0
fail=0
# step NAME COMMAND...: runs the check, one line for it; its output is shown when it fails.
step() {
    name=$1
    shift
    if "$@" >/tmp/step.out 2>&1; then
        echo "PASS $BOARD: $name"
        pass=$((pass + 1))
    else
        echo "FAIL $BOARD: $name"
        tail -n 25 /tmp/step.out | sed 's/^/    /'
        fail=$((fail + 1))
    fi
}

# expect WANT COMMAND...: the command's output (trimmed) is WANT.
expect() {
    want=$1
    shift
    got=$("$@" 2>&1)
    [ "$got" = "$want" ] && return 0
    echo "want: $want"
    echo "got:  $got"
    return 1
}

# wait_for SECONDS COMMAND...: retries until the command succeeds.
wait_for() {
    n=$1
    shift
    while [ "$n" -gt 0 ]; do
        "$@" && return 0
        sleep 1
        n=$((n - 1))
    done
    "$@"
}

runc_flags=
[ "$BOARD_ROOT" = ramdisk ] && runc_flags=--no-pivot

# --- The runtime alone -----------------------------------------------------------------------
runc_run() {
    expect hello-from-runc docker-runc run $runc_flags -b /bundles/hello hello
}
runc_lifecycle() {
    docker-runc run -d $runc_flags -b /bundles/sleeper sleeper </dev/null >/tmp/sleeper.log 2>&1 || return 1
    expect running sh -c "docker-runc state sleeper | sed -n 's/.*\"status\": *\"\\([a-z]*\\)\".*/\\1/p'" || return 1
    expect exec-ok docker-runc exec sleeper echo exec-ok || return 1
    docker-runc kill sleeper KILL || return 1
    wait_for 20 sh -c "docker-runc state sleeper | grep -q '\"stopped\"'" || return 1
    docker-runc delete sleeper || return 1
    ! docker-runc state sleeper >/dev/null 2>&1
}
runc_seccomp_denied() {
    expect ok docker-runc run $runc_flags -b /bundles/mkdir-allowed mkdir-allowed || return 1
    expect EPERM docker-runc run $runc_flags -b /bundles/mkdir-denied mkdir-denied
}
runc_memory_limit() {
    docker-runc run $runc_flags -b /bundles/memory memory
    rc=$?
    echo "exit status $rc"
    [ "$rc" = 137 ]
}
step "runc run of a busybox bundle" runc_run
step "runc run -d, state, exec, kill, delete" runc_lifecycle
step "runc: a call the profile denies returns EPERM" runc_seccomp_denied
step "runc: a memory limit kills (exit 137)" runc_memory_limit

# --- The engine ------------------------------------------------------------------------------
start_dockerd() {
    if [ "$BOARD_ROOT" = ramdisk ]; then export DOCKER_RAMDISK=true; fi
    dockerd >/tmp/dockerd.log 2>&1 &
    echo $! >/tmp/dockerd.pid
    n=0
    until docker version >/dev/null 2>&1; do
        if ! kill -0 "$(cat /tmp/dockerd.pid)" 2>/dev/null || [ "$n" -ge 120 ]; then
            tail -n 30 /tmp/dockerd.log
            return 1
        fi
        n=$((n + 1))
        sleep 1
    done
    cat /tmp/dockerd.log
}
engine_arch() {
    expect "$BOARD_DOCKER_ARCH" docker version -f '{{.Server.Arch}}' || return 1
    expect "$BOARD_UNAME_M" docker info -f '{{.Architecture}}'
}
engine_load() {
    docker load -i /images/busybox.tar | grep -q 'Loaded image: busybox:latest' || return 1
    expect "$BOARD_DOCKER_ARCH" docker image inspect -f '{{.Architecture}}' busybox
}
engine_run_rm() {
    expect hello-from-docker docker run --rm busybox echo hello-from-docker || return 1
    [ -z "$(docker ps -aq)" ]
}
# The process tree Docker documents: dockerd ─ containerd ─ shim ─ container.
ppid_of() { sed 's/.*) [A-Za-z] \([0-9]*\).*/\1/' "/proc/$1/stat"; }
argv0_of() { tr '\0' '\n' <"/proc/$1/cmdline" | head -n1 | sed 's,.*/,,'; }
engine_detached() {
    docker run -d --name sleeper busybox sh -c 'echo started; exec sleep 600' >/dev/null || return 1
    wait_for 20 sh -c 'docker logs sleeper | grep -q started' || return 1
    expect exec-ok docker exec sleeper echo exec-ok || return 1
    pid=$(docker inspect -f '{{.State.Pid}}' sleeper)
    shim=$(ppid_of "$pid")
    containerd=$(ppid_of "$shim")
    dockerd=$(ppid_of "$containerd")
    tree="$(argv0_of "$dockerd")-$(argv0_of "$containerd")-$(argv0_of "$shim")-$(argv0_of "$pid")"
    echo "tree: $tree"
    [ "$dockerd" = "$(cat /tmp/dockerd.pid)" ] || return 1
    [ "$tree" = "dockerd-docker-containerd-docker-containerd-shim-sleep" ] || return 1
    case "$BOARD_CGROUP" in
        v2) grep -q '^0::/.*docker' "/proc/$pid/cgroup" ;;
        v1) grep -q ':memory:/.*docker' "/proc/$pid/cgroup" ;;
    esac || { cat "/proc/$pid/cgroup"; return 1; }
    docker stop -t 2 sleeper >/dev/null || return 1
    expect exited docker inspect -f '{{.State.Status}}' sleeper || return 1
    docker rm sleeper >/dev/null
}
engine_publish() {
    docker run -d --name web -p 8080:80 busybox sh -c 'echo hello-from-httpd >/tmp/index.html; exec httpd -f -p 80 -h /tmp' >/dev/null || return 1
    wait_for 30 sh -c 'wget -q -O - http://127.0.0.1:8080/index.html | grep -q hello-from-httpd'
    rc=$?
    docker rm -f web >/dev/null
    return $rc
}
engine_restart() {
    docker run -d --name flaky --restart on-failure:2 busybox sh -c 'exit 3' >/dev/null || return 1
    wait_for 90 sh -c '[ "$(docker inspect -f "{{.RestartCount}} {{.State.Status}}" flaky)" = "2 exited" ]'
    rc=$?
    docker inspect -f '{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}' flaky
    docker rm -f flaky >/dev/null
    return $rc
}
engine_seccomp() {
    expect ok docker run --rm --security-opt seccomp=unconfined busybox /probe unshare0 || return 1
    expect EPERM docker run --rm busybox /probe unshare0 || return 1
    expect ENOSYS docker run --rm busybox /probe nosuch
}
engine_memory() {
    docker run --name hog -m 32m busybox dd if=/dev/zero of=/dev/null bs=64M count=1
    rc=$?
    got=$(docker inspect -f '{{.State.ExitCode}} {{.State.OOMKilled}}' hog)
    docker rm hog >/dev/null
    echo "exit $rc, inspect: $got"
    [ "$rc" = 137 ]
}
engine_time64() {
    # 2040-01-01T00:00:00Z, past the 32-bit time_t's end (2038-01-19).
    expect ok /probe settime 2208988800 || return 1
    /probe time
    docker run --name future busybox true || return 1
    created=$(docker inspect -f '{{.Created}}' future)
    finished=$(docker inspect -f '{{.State.FinishedAt}}' future)
    listed=$(docker ps -a --filter name=future --format '{{.CreatedAt}}')
    echo "created $created finished $finished listed $listed"
    docker rm future >/dev/null
    case "$created" in 2040-01-01T*) ;; *) return 1 ;; esac
    case "$finished" in 2040-01-01T*) ;; *) return 1 ;; esac
    case "$listed" in 2040-01-01*) ;; *) return 1 ;; esac
}
stop_dockerd() {
    kill -TERM "$(cat /tmp/dockerd.pid)"
    wait_for 30 sh -c '! kill -0 $(cat /tmp/dockerd.pid) 2>/dev/null' || return 1
    ! pidof docker-containerd >/dev/null
}

# mem_of PID: "rss pss private" in KiB, from smaps_rollup.
mem_of() {
    awk '/^Rss:/ {r = $2} /^Pss:/ {p = $2} /^Private_(Clean|Dirty):/ {v += $2} END {print r, p, v}' "/proc/$1/smaps_rollup"
}
# children_of PID: the pids whose parent it is.
children_of() {
    for f in /proc/[0-9]*/stat; do
        p=${f#/proc/}
        p=${p%/stat}
        [ "$(ppid_of "$p" 2>/dev/null)" = "$1" ] && echo "$p"
    done
}
# bench_engine NAME DOCKERD_PID DOCKER...: with BOARD_BENCH=yes (scripts/bench/devices.sh),
# the idle daemons' memory, one shim's, and the mean time of `run --rm busybox true` (three
# runs; emulated, so only a ratio between engines means anything).
bench_engine() {
    name=$1
    dpid=$2
    shift 2
    sleep 5
    cpid=
    for p in $(children_of "$dpid"); do
        case "$(argv0_of "$p")" in *containerd*) cpid=$p ;; esac
    done
    echo "BENCH $BOARD $name idle-dockerd $(mem_of "$dpid")"
    echo "BENCH $BOARD $name idle-containerd $(mem_of "$cpid")"
    "$@" run -d --name bench busybox sleep 600 >/dev/null
    pid=$("$@" inspect -f '{{.State.Pid}}' bench)
    echo "BENCH $BOARD $name shim $(mem_of "$(ppid_of "$pid")")"
    t0=$(/probe now-ms)
    for i in 1 2 3; do "$@" run --rm busybox true; done
    t1=$(/probe now-ms)
    echo "BENCH $BOARD $name run-rm-ms $(((t1 - t0) / 3))"
    "$@" rm -f bench >/dev/null
}
# Debian's docker.io for this CPU, when the board has it (scripts/bench/devices.sh), measured
# the same way after ours has stopped.
bench_docker_io() {
    [ -x /usr/sbin/dockerd ] || return 0
    PATH=/usr/sbin:/usr/bin:/sbin:/bin /usr/sbin/dockerd -H unix:///run/dio.sock --data-root /var/lib/docker-io \
        --exec-root /run/docker-io --pidfile /run/dio.pid >/tmp/dio.log 2>&1 &
    dpid=$!
    n=0
    until /usr/bin/docker -H unix:///run/dio.sock version >/dev/null 2>&1; do
        if ! kill -0 "$dpid" 2>/dev/null || [ "$n" -ge 300 ]; then
            echo "BENCH $BOARD docker.io did-not-start"
            tail -n 20 /tmp/dio.log
            return 1
        fi
        n=$((n + 1))
        sleep 1
    done
    /usr/bin/docker -H unix:///run/dio.sock load -i /images/busybox.tar >/dev/null
    bench_engine docker.io "$dpid" /usr/bin/docker -H unix:///run/dio.sock
    kill "$dpid"
    wait "$dpid"
}

step "dockerd starts with its containerd" start_dockerd
[ "${BOARD_BENCH:-}" = yes ] && docker load -i /images/busybox.tar >/dev/null && bench_engine dockbox "$(cat /tmp/dockerd.pid)" docker
step "docker version/info architecture ($BOARD_DOCKER_ARCH, $BOARD_UNAME_M)" engine_arch
step "docker load of a $BOARD_DOCKER_ARCH busybox image" engine_load
step "docker run --rm" engine_run_rm
step "run -d, logs, exec, process tree, cgroup $BOARD_CGROUP, stop" engine_detached
step "-p 8080:80 reachable from the board" engine_publish
step "restart policy on-failure:2" engine_restart
step "seccomp default profile: EPERM for a denied call, ENOSYS for an unknown one" engine_seccomp
step "docker run -m 32m: the memory limit kills" engine_memory
[ "$BOARD_TIME64" = yes ] && step "a date past 2038: created and finished times, docker ps" engine_time64
step "dockerd stops, its containerd with it" stop_dockerd
[ "${BOARD_BENCH:-}" = yes ] && bench_docker_io

echo "test-devices: $BOARD: $pass PASS, $fail FAIL"
sync
poweroff -f
