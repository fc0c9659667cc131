/* The hello-world image's only program: prints a greeting with raw syscalls, no libc. */
static const char message[] =
    "Hello from dockbox!\n"
    "This message shows that your installation appears to be working correctly.\n\n"
    "To generate this message, dockbox took the following steps:\n"
    " 1. The docker client contacted the dockbox daemon.\n"
    " 2. The daemon pulled the \"hello-world\" image from the registry.\n"
    " 3. The daemon created a new container from that image which runs the\n"
    "    executable that produces the output you are currently reading.\n"
    " 4. The daemon streamed that output to the docker client, which sent it\n"
    "    to your terminal.\n\n";

static long sys3(long n, long a, long b, long c) {
    long ret;
#if defined(__x86_64__)
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    ret = x0;
#else
#error "hello.c supports x86_64 and aarch64"
#endif
    return ret;
}

#if defined(__x86_64__)
#define SYS_WRITE 1
#define SYS_EXIT 60
#else
#define SYS_WRITE 64
#define SYS_EXIT 93
#endif

void _start(void) {
    sys3(SYS_WRITE, 1, (long)message, sizeof(message) - 1);
    for (;;)
        sys3(SYS_EXIT, 0, 0, 0);
}
