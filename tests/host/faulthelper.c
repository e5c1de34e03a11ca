/* Host side of tests/host/faulthost.py: runs one fault scenario step per stdin line and
 * prints one "key=value ..." line per step.  Fault counts are getrusage(RUSAGE_SELF) deltas
 * taken around exactly the measured system call or access loop; everything that loop writes
 * (globals, the rusage buffers, the stack) is written beforehand, so the helper's own pages
 * never fault inside the window (warmup() is redone after fork, where they are COW again).
 *
 * Commands (numbers decimal, addresses and lengths in bytes unless "pages"):
 *   region <hint>                       reserve-and-release a free window at hint -> addr=
 *   file <slot> <path> <npages>         create, fill page i with (i*7+1)&255, fsync, FADV_DONTNEED
 *   truncfile <slot> <path> <npages>    create empty, ftruncate to npages (all holes)
 *   map <addr> <len> <prot> <flags> <slot|-1> <off>   mmap at addr (MAP_FIXED_NOREPLACE)
 *   read|write <addr> <npages> <step>   one byte per touched page (write stores 0x5a)
 *   madvise|mprotect <addr> <len> <arg> ; munmap <addr> <len>
 *   mlock|munlock <addr> <len> ; mlock2 <addr> <len> <flags> ; mlockall <flags> ; munlockall
 *   fadvise <slot> <off> <len> <advice> ; pread <slot> <off> <len>
 *   cache <slot> <first> <count> <chunk>  pread those pages, chunk pages per pread, then wait
 *                                       until mincore shows them all
 *   mincore <addr> <npages>             settled residency string: 1 resident, 0 not, - unmapped
 *   filecore <slot>                     residency of the whole file (via a PROT_READ mapping)
 *   fork                                child: prints pid= and takes the following commands
 *   exit                                child exits; the parent then prints its line
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define PG 4096L
#define IOBUF (16L << 20)
#define MAXPAGES (1L << 20)

static char iobuf[IOBUF];
static unsigned char vec[MAXPAGES];
static char res[MAXPAGES + 256];
static char line[4096];
static int fds[64];

static sigjmp_buf jb;
static volatile int g_sig, g_code;
static volatile unsigned long g_addr, g_done;
static volatile unsigned long g_sum;
static struct rusage ru0, ru1;

static void handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    g_sig = sig;
    g_code = si->si_code;
    g_addr = (unsigned long)si->si_addr;
    siglongjmp(jb, 1);
}

static void out(const char *s)
{
    size_t n = strlen(s), done = 0;
    while (done < n) {
        ssize_t w = write(1, s + done, n - done);
        if (w <= 0)
            _exit(3);
        done += w;
    }
}

static void prepare(void)           /* write all the measured window writes, before it opens */
{
    g_sig = g_code = 0;
    g_addr = g_done = g_sum = 0;
    memset(&ru0, 0, sizeof(ru0));
    memset(&ru1, 0, sizeof(ru1));
}

static void report(const char *extra)
{
    char *p = res;
    p += sprintf(p, "pid=%d minflt=%ld majflt=%ld", (int)getpid(), ru1.ru_minflt - ru0.ru_minflt,
                 ru1.ru_majflt - ru0.ru_majflt);
    if (g_sig)
        p += sprintf(p, " sig=%d code=%d sigaddr=%lu", g_sig, g_code, g_addr);
    sprintf(p, " %s\n", extra);
    out(res);
}

/* The measured access loop: every touched page costs one byte load or store. */
static void access_loop(unsigned long addr, long npages, long step, int wr)
{
    prepare();
    if (sigsetjmp(jb, 1) == 0) {
        getrusage(RUSAGE_SELF, &ru0);
        for (long i = 0; i < npages; i += step) {
            volatile char *p = (volatile char *)(addr + i * PG);
            g_done = i;
            if (wr)
                *p = 0x5a;
            else
                g_sum += (unsigned char)*p;
        }
        g_done = npages;
    }
    getrusage(RUSAGE_SELF, &ru1);
}

static void *warm;
static unsigned long reg_lo, reg_hi;

/* Map every page of the helper's own VMAs (text, data, bss, stack; not the test region), so
 * that no page of the helper itself faults inside a measured window or changes RssFile later
 * (after fork the child starts with empty tables for file VMAs and COW-protected data). */
static void populate_self(void)
{
    int fd = open("/proc/self/maps", O_RDONLY);
    long n = 0, r;
    if (fd < 0)
        return;
    while (n < (long)sizeof(res) - 1 && (r = read(fd, res + n, sizeof(res) - 1 - n)) > 0)
        n += r;
    close(fd);
    res[n] = 0;
    for (char *l = res; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(l, "%lx-%lx %7s", &lo, &hi, perms) != 3 || hi > (1UL << 47))
            continue;
        if (lo < reg_hi && hi > reg_lo)
            continue;
        if (perms[0] != 'r')
            continue;
        if (madvise((void *)lo, hi - lo, perms[1] == 'w' ? 23 /* POPULATE_WRITE */ : 22) != 0)
            continue;
    }
}

static void warmup(void)
{
    volatile char stack[256 * 1024];
    for (long i = 0; i < (long)sizeof(stack); i += PG)
        stack[i] = 1;
    memset(iobuf, 0, sizeof(iobuf));
    memset(vec, 0, sizeof(vec));
    memset(res, 0, sizeof(res));
    memset(line, 0, sizeof(line));
    for (int k = 0; k < 2; k++) {
        access_loop((unsigned long)warm, 4, 1, 1);
        access_loop((unsigned long)warm, 4, 1, 0);
        access_loop((unsigned long)warm + 4 * PG, 1, 1, 0);    /* PROT_NONE: the signal path */
    }
    populate_self();
    prepare();
}

static int readline(void)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(0, &c, 1);
        if (r <= 0)
            return -1;
        if (c == '\n')
            break;
        if (n < sizeof(line) - 1)
            line[n++] = c;
    }
    line[n] = 0;
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Residency of [addr, addr+npages) into res: polled until three samples 20 ms apart agree
 * (a major fault's read-around I/O may still be completing), at most ~3 s. */
static char *residency(unsigned long addr, long npages)
{
    static char prev[MAXPAGES + 1];
    char *s = res + 200;
    int same = 0;
    if (npages > MAXPAGES - 300)
        npages = MAXPAGES - 300;
    for (int round = 0; round < 150 && same < 2; round++) {
        if (mincore((void *)addr, npages * PG, vec) == 0) {
            for (long i = 0; i < npages; i++)
                s[i] = (vec[i] & 1) ? '1' : '0';
        } else {
            for (long i = 0; i < npages; i++) {
                unsigned char v;
                if (mincore((void *)(addr + i * PG), PG, &v) == 0)
                    s[i] = (v & 1) ? '1' : '0';
                else
                    s[i] = '-';
            }
        }
        s[npages] = 0;
        same = (round > 0 && strcmp(prev, s) == 0) ? same + 1 : 0;
        memcpy(prev, s, npages + 1);
        if (same < 2)
            sleep_ms(20);
    }
    return s;
}

static void reply_err(int rc, const char *extra)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "err=%d %s", rc ? errno : 0, extra);
    report(buf);
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    warm = mmap(NULL, 5 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect((char *)warm + 4 * PG, PG, PROT_NONE);
    for (int i = 0; i < 64; i++)
        fds[i] = -1;
    warmup();
    out("ready\n");
    while (readline() == 0) {
        char cmd[32] = "", path[1024] = "";
        unsigned long a = 0, b = 0, c = 0, d = 0, e = 0;
        long sa1 = 0;
        sscanf(line, "%31s", cmd);
        if (!strcmp(cmd, "region")) {
            sscanf(line, "%*s %lu %lu", &a, &b);
            void *p = mmap((void *)a, b, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            unsigned long got = p == MAP_FAILED ? 0 : (unsigned long)p;
            if (p != MAP_FAILED)
                munmap(p, b);
            reg_lo = got;
            reg_hi = got + b;
            snprintf(res, 200, "addr=%lu\n", got);
            out(res);
        } else if (!strcmp(cmd, "file")) {
            sscanf(line, "%*s %lu %1023s %lu", &a, path, &b);
            prepare();
            getrusage(RUSAGE_SELF, &ru0);
            int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
            int rc = fd < 0;
            for (unsigned long i = 0; !rc && i < b; i++) {
                memset(iobuf, (int)((i * 7 + 1) & 255), PG);
                rc = write(fd, iobuf, PG) != PG;
            }
            if (!rc)
                rc = fsync(fd) || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            getrusage(RUSAGE_SELF, &ru1);
            fds[a] = fd;
            reply_err(rc, "");
        } else if (!strcmp(cmd, "truncfile")) {
            sscanf(line, "%*s %lu %1023s %lu", &a, path, &b);
            prepare();
            getrusage(RUSAGE_SELF, &ru0);
            int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
            int rc = fd < 0 || ftruncate(fd, (off_t)(b * PG));
            getrusage(RUSAGE_SELF, &ru1);
            fds[a] = fd;
            reply_err(rc, "");
        } else if (!strcmp(cmd, "map")) {
            sscanf(line, "%*s %lu %lu %lu %lu %ld %lu", &a, &b, &c, &d, &sa1, &e);
            int fd = sa1 < 0 ? -1 : fds[sa1];
            void *p;
            prepare();
            getrusage(RUSAGE_SELF, &ru0);
            p = mmap((void *)a, b, (int)c, (int)d | MAP_FIXED_NOREPLACE, fd, (off_t)e);
            getrusage(RUSAGE_SELF, &ru1);
            char buf[64];
            snprintf(buf, sizeof(buf), "addr=%lu", p == MAP_FAILED ? 0 : (unsigned long)p);
            reply_err(p == MAP_FAILED, buf);
        } else if (!strcmp(cmd, "read") || !strcmp(cmd, "write")) {
            sscanf(line, "%*s %lu %lu %lu", &a, &b, &c);
            access_loop(a, (long)b, (long)c, cmd[0] == 'w');
            char buf[96];
            snprintf(buf, sizeof(buf), "done=%lu sum=%lu", g_done, g_sum);
            report(buf);
        } else if (!strcmp(cmd, "madvise") || !strcmp(cmd, "mprotect") || !strcmp(cmd, "munmap")) {
            int rc;
            sscanf(line, "%*s %lu %lu %lu", &a, &b, &c);
            prepare();
            getrusage(RUSAGE_SELF, &ru0);
            if (cmd[1] == 'a')
                rc = madvise((void *)a, b, (int)c);
            else if (cmd[1] == 'p')
                rc = mprotect((void *)a, b, (int)c);
            else
                rc = munmap((void *)a, b);
            getrusage(RUSAGE_SELF, &ru1);
            reply_err(rc, "");
        } else if (!strcmp(cmd, "mlock") || !strcmp(cmd, "munlock") || !strcmp(cmd, "mlock2")) {
            int rc;
            sscanf(line, "%*s %lu %lu %lu", &a, &b, &c);
            prepare();
            getrusage(RUSAGE_SELF, &ru0);
            if (!strcmp(cmd, "mlock"))
                rc = mlock((void *)a, b);
            else if (!strcmp(cmd, "munlock"))
                rc = munlock((void *)a, b);
            else
                rc = syscall(SYS_mlock2, a, b, c) != 0;
            getrusage(RUSAGE_SELF, &ru1);
            reply_err(rc, "");
        } else if (!strcmp(cmd, "mlockall") || !strcmp(cmd, "munlockall")) {
            int rc;
            sscanf(line, "%*s %lu", &a);
            prepare();
            getrusage(RUSAGE_SELF, &ru0);
            rc = cmd[1] == 'l' ? mlockall((int)a) : munlockall();
            getrusage(RUSAGE_SELF, &ru1);
            reply_err(rc, "");
        } else if (!strcmp(cmd, "fadvise")) {
            sscanf(line, "%*s %lu %lu %lu %lu", &a, &b, &c, &d);
            prepare();
            getrusage(RUSAGE_SELF, &ru0);
            int rc = posix_fadvise(fds[a], (off_t)b, (off_t)c, (int)d);
            getrusage(RUSAGE_SELF, &ru1);
            errno = rc;
            reply_err(rc, "");
        } else if (!strcmp(cmd, "pread") || !strcmp(cmd, "cache")) {
            sscanf(line, "%*s %lu %lu %lu %lu", &a, &b, &c, &d);
            long total = 0, r = 0, off = (long)b, len = (long)c, step = len;
            if (cmd[0] == 'c') {
                off = (long)b * PG;
                len = (long)c * PG;
                step = (long)d * PG;
            }
            prepare();
            getrusage(RUSAGE_SELF, &ru0);
            while (total < len) {
                long chunk = step < len - total ? step : len - total;
                if (chunk > IOBUF)
                    chunk = IOBUF;
                r = pread(fds[a], iobuf, chunk, off + total);
                if (r <= 0)
                    break;
                total += r;
            }
            getrusage(RUSAGE_SELF, &ru1);
            if (cmd[0] == 'c') {      /* wait until the cache holds them all */
                for (int round = 0; round < 200; round++) {
                    void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fds[a], off);
                    int all = 1;
                    if (m != MAP_FAILED) {
                        mincore(m, len, vec);
                        munmap(m, len);
                    }
                    for (long i = 0; i < len / PG; i++)
                        all &= vec[i] & 1;
                    if (all)
                        break;
                    sleep_ms(10);
                }
            }
            char buf[64];
            snprintf(buf, sizeof(buf), "n=%ld", total);
            reply_err(r < 0, buf);
        } else if (!strcmp(cmd, "mincore")) {
            sscanf(line, "%*s %lu %lu", &a, &b);
            char *s = residency(a, (long)b);
            out("core=");
            out(s);
            out("\n");
        } else if (!strcmp(cmd, "filecore")) {
            sscanf(line, "%*s %lu", &a);
            struct stat st;
            fstat(fds[a], &st);
            long n = (st.st_size + PG - 1) / PG;
            void *m = n ? mmap(NULL, n * PG, PROT_READ, MAP_SHARED, fds[a], 0) : MAP_FAILED;
            char *s = m == MAP_FAILED ? (char *)"" : residency((unsigned long)m, n);
            out("core=");
            out(s);
            out("\n");
            if (m != MAP_FAILED)
                munmap(m, n * PG);
        } else if (!strcmp(cmd, "fork")) {
            pid_t pid = fork();
            if (pid == 0) {
                warmup();
                snprintf(res, 200, "pid=%d\n", (int)getpid());
                out(res);
                continue;
            }
            int status = 0;
            waitpid(pid, &status, 0);
            warmup();
            snprintf(res, 200, "pid=%d status=%d\n", (int)getpid(), status);
            out(res);
        } else if (!strcmp(cmd, "exit")) {
            _exit(0);
        } else {
            out("error=unknown\n");
        }
    }
    return 0;
}
