/*
 * vmhelper: runs memory system calls on the host kernel for linuxmm's differential tests.
 *
 * Reads one command per line on stdin, answers one line on stdout ("<result> <errno>", result as
 * unsigned decimal; errno 0 on success).  Never calls malloc, so the heap (brk) stays untouched.
 *
 *   window <pages> <guard> <hint> reserve a window with a shared PROT_NONE guard on each side,
 *                                 at hint exactly (0: anywhere); answers "<base> 0" (first usable
 *                                 address)
 *   mmap <addr> <len> <prot> <flags> <fd> <off>
 *   munmap <addr> <len>           mprotect <addr> <len> <prot>      madvise <addr> <len> <advice>
 *   mremap <old> <oldlen> <newlen> <flags> <new>
 *   brk <addr>                    raw brk(2): answers the new break
 *   open <path> <flags>           answers the fd
 *   touch <addr>                  write one byte at addr (the test only touches writable pages)
 *   fill <addr> <count>           map count read-only pages at addr, addr + 2 pages, ...
 *                                 (MAP_FIXED_NOREPLACE); answers how many succeeded
 *   maps <lo> <hi>                the /proc/self/maps lines with lo <= start < hi, then "end"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static char outbuf[1 << 16];
static char mapsbuf[1 << 22];

static void answer(long ret)
{
	int err = ret == -1 ? errno : 0;

	printf("%lu %d\n", (unsigned long)ret, err);
	fflush(stdout);
}

static void show_maps(unsigned long lo, unsigned long hi)
{
	int fd = open("/proc/self/maps", O_RDONLY);
	size_t used = 0;
	ssize_t n;
	char *line, *next;

	if (fd < 0) {
		printf("end\n");
		fflush(stdout);
		return;
	}
	while (used < sizeof(mapsbuf) - 1 &&
	       (n = read(fd, mapsbuf + used, sizeof(mapsbuf) - 1 - used)) > 0)
		used += (size_t)n;
	close(fd);
	mapsbuf[used] = 0;
	for (line = mapsbuf; line && *line; line = next) {
		unsigned long start = strtoul(line, NULL, 16);

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (start >= lo && start < hi)
			printf("%s\n", line);
	}
	printf("end\n");
	fflush(stdout);
}

int main(void)
{
	char cmd[4096], word[32], path[4000];
	unsigned long a, b, c, d, e, f;

	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	setvbuf(stdin, NULL, _IONBF, 0);
	while (fgets(cmd, sizeof(cmd), stdin)) {
		if (sscanf(cmd, "%31s", word) != 1)
			continue;
		errno = 0;
		if (!strcmp(word, "window") && sscanf(cmd, "%*s %lu %lu %lu", &a, &b, &c) == 3) {
			size_t total = (a + 2 * b) * 4096;
			char *p = mmap((void *)c, total, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS |
				       (c ? MAP_FIXED_NOREPLACE : 0), -1, 0);

			if (p == MAP_FAILED) {
				answer(-1);
				continue;
			}
			munmap(p + b * 4096, a * 4096);
			answer((long)(p + b * 4096));
		} else if (!strcmp(word, "mmap") &&
			   sscanf(cmd, "%*s %lu %lu %lu %lu %ld %lu", &a, &b, &c, &d, (long *)&e, &f) == 6) {
			void *p = mmap((void *)a, b, (int)c, (int)d, (int)(long)e, (off_t)f);

			answer(p == MAP_FAILED ? -1 : (long)p);
		} else if (!strcmp(word, "munmap") && sscanf(cmd, "%*s %lu %lu", &a, &b) == 2) {
			answer(munmap((void *)a, b));
		} else if (!strcmp(word, "mprotect") && sscanf(cmd, "%*s %lu %lu %lu", &a, &b, &c) == 3) {
			answer(mprotect((void *)a, b, (int)c));
		} else if (!strcmp(word, "madvise") && sscanf(cmd, "%*s %lu %lu %lu", &a, &b, &c) == 3) {
			answer(madvise((void *)a, b, (int)c));
		} else if (!strcmp(word, "mremap") &&
			   sscanf(cmd, "%*s %lu %lu %lu %lu %lu", &a, &b, &c, &d, &e) == 5) {
			void *p = (void *)syscall(SYS_mremap, a, b, c, d, e);

			answer(p == MAP_FAILED ? -1 : (long)p);
		} else if (!strcmp(word, "brk") && sscanf(cmd, "%*s %lu", &a) == 1) {
			answer(syscall(SYS_brk, a));
		} else if (!strcmp(word, "open") && sscanf(cmd, "%*s %3999s %lu", path, &a) == 2) {
			answer(open(path, (int)a));
		} else if (!strcmp(word, "touch") && sscanf(cmd, "%*s %lu", &a) == 1) {
			*(volatile char *)a = 1;
			answer(0);
		} else if (!strcmp(word, "fill") && sscanf(cmd, "%*s %lu %lu", &a, &b) == 2) {
			for (c = 0; c < b; c++)
				if (mmap((void *)(a + 2 * c * 4096), 4096, PROT_READ, MAP_PRIVATE |
					 MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED)
					break;
			printf("%lu %d\n", c, c < b ? errno : 0);
			fflush(stdout);
		} else if (!strcmp(word, "maps") && sscanf(cmd, "%*s %lu %lu", &a, &b) == 2) {
			show_maps(a, b);
		} else {
			printf("? 22\n");
			fflush(stdout);
		}
	}
	return 0;
}
