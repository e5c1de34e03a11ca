/*
 * vma.c - bulk VMA lookups (mm/mmap.c: find_vma, include/linux/mm.h: vma_lookup) over a sorted
 * snapshot of an address space's VMAs.  The tree itself lives in Python (linuxmm/vm/tree.py);
 * a bulk call hands its arrays here so that millions of lookups cost one C call.
 */
#include <stdint.h>

#include "lmm.h"

/* Index of the first entry of ends[0..n) greater than addr (n if none): a branch-free binary
 * search, the loop body compiles to a conditional move. */
static int64_t upper_bound(const int64_t *ends, int64_t n, int64_t addr)
{
	const int64_t *base = ends;
	int64_t len = n;

	while (len > 1) {
		int64_t half = len / 2;

		base = base[half - 1] > addr ? base : base + half;
		len -= half;
	}
	if (len == 1 && *base <= addr)
		base++;
	return base - ends;
}

/* find_vma() (first VMA ending above addr) for each address, or vma_lookup() when exact (that
 * VMA must also contain addr): its vm_start, or -1. */
static int64_t lookup_bulk(const int64_t *starts, const int64_t *ends, int64_t n,
			   const int64_t *addrs, int64_t *out, int64_t count, int exact)
{
	int64_t i;

	if (n < 0 || count < 0)
		return -LMM_EINVAL;
	for (i = 0; i < count; i++) {
		int64_t idx = upper_bound(ends, n, addrs[i]);

		out[i] = idx < n && (!exact || starts[idx] <= addrs[i]) ? starts[idx] : -1;
	}
	return count;
}

int64_t lmm_vma_find_bulk(const int64_t *starts, const int64_t *ends, int64_t n,
			  const int64_t *addrs, int64_t *out, int64_t count)
{
	return lookup_bulk(starts, ends, n, addrs, out, count, 0);
}

int64_t lmm_vma_lookup_bulk(const int64_t *starts, const int64_t *ends, int64_t n,
			    const int64_t *addrs, int64_t *out, int64_t count)
{
	return lookup_bulk(starts, ends, n, addrs, out, count, 1);
}
