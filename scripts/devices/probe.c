/* A tiny static helper for the emulated boards (scripts/test-devices.sh), built with that
 * CPU's cross gcc: busybox has no way to make a chosen system call or set a clock past 2038
 * on 32-bit ARM (Debian's busybox there has a 32-bit time_t).
 *   probe unshare0        unshare(0): allowed by the kernel to anyone, denied by Docker's
 *                         default seccomp profile to a process without CAP_SYS_ADMIN
 *   probe nosuch          a system call number no kernel has (1000 on every CPU)
 *   probe mkdir PATH      mkdir(2), for a profile of our own that denies it
 *   probe settime EPOCH   clock_settime(CLOCK_REALTIME) with a 64-bit time_t
 *   probe time            prints time(NULL) as a 64-bit number
 *   probe now-ms          prints CLOCK_MONOTONIC in milliseconds (busybox's date has no %N)
 * Each call prints "ok" or the errno's name (EPERM, ENOSYS, ...) and exits 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int report(long r) {
    if (r == -1) {
        const char *name = strerrorname_np(errno);
        printf("%s\n", name ? name : "unknown-errno");
    } else {
        printf("ok\n");
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "unshare0") == 0)
        return report(syscall(SYS_unshare, 0));
    if (argc >= 2 && strcmp(argv[1], "nosuch") == 0)
        return report(syscall(1000));
    if (argc >= 3 && strcmp(argv[1], "mkdir") == 0)
        return report(mkdir(argv[2], 0755));
    if (argc >= 3 && strcmp(argv[1], "settime") == 0) {
        struct timespec ts = { .tv_sec = (time_t)strtoll(argv[2], NULL, 10), .tv_nsec = 0 };
        if (sizeof(ts.tv_sec) != 8) {
            printf("time_t-is-%u-bytes\n", (unsigned)sizeof(ts.tv_sec));
            return 1;
        }
        return report(clock_settime(CLOCK_REALTIME, &ts));
    }
    if (argc >= 2 && strcmp(argv[1], "time") == 0) {
        printf("%lld\n", (long long)time(NULL));
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "now-ms") == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        printf("%lld\n", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
        return 0;
    }
    fprintf(stderr, "usage: probe unshare0|nosuch|mkdir PATH|settime EPOCH|time|now-ms\n");
    return 2;
}
