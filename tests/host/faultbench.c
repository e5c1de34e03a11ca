/* Host side of the anonymous first-touch fault benchmark (benchmarks/ratios_faults.py):
 *   faultbench <npages> <repeat>
 * Each run mmaps fresh private anonymous memory (MADV_NOHUGEPAGE, so every page is one 4 KiB
 * fault as in linuxmm), writes one byte per page in address order between two
 * clock_gettime(CLOCK_MONOTONIC) calls, and munmaps it.  Prints the best run:
 *   ns_per_fault=<best ns / npages> minflt=<getrusage minor faults in that run> pages=<npages>
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#define PG 4096L

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s npages repeat\n", argv[0]);
        return 2;
    }
    long npages = atol(argv[1]), repeat = atol(argv[2]);
    double best = 1e300;
    long best_flt = 0;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);       /* fault in the vDSO data and the stack beforehand */
    getrusage(RUSAGE_SELF, &ru1);
    now_ns();
    for (long r = 0; r < repeat; r++) {
        volatile char *m = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
        madvise((void *)m, npages * PG, MADV_NOHUGEPAGE);
        getrusage(RUSAGE_SELF, &ru0);
        double t0 = now_ns();
        for (long i = 0; i < npages; i++)
            m[i * PG] = 1;
        double t1 = now_ns();
        getrusage(RUSAGE_SELF, &ru1);
        if (t1 - t0 < best) {
            best = t1 - t0;
            best_flt = ru1.ru_minflt - ru0.ru_minflt;
        }
        munmap((void *)m, npages * PG);
    }
    printf("ns_per_fault=%.2f minflt=%ld pages=%ld\n", best / npages, best_flt, npages);
    return 0;
}
