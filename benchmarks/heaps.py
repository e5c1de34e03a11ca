"""Heap states the allocator benchmarks start from."""
import numpy as np

NR_PAGES = 1 << 18          # 1 GiB of 4 KiB pages


def clean(cls, nr_pages=NR_PAGES):
    """Everything free in max-order blocks: each order-0 alloc+free splits and merges ten orders."""
    return cls(nr_pages)


def fragmented(cls, nr_pages=NR_PAGES, seed=1):
    """Half of the pages allocated, chosen at random: plenty of order-0 blocks, no split needed."""
    b = cls(nr_pages)
    pfns = b.alloc_bulk(nr_pages)
    assert len(pfns) == nr_pages
    rng = np.random.default_rng(seed)
    b.free_bulk(rng.permutation(pfns)[: nr_pages // 2])
    assert b.free_pages == nr_pages - nr_pages // 2
    return b


def python_pairs(b, pairs):
    """alloc+free pairs through the public API; returns the sum of the pfns (a checksum)."""
    alloc, free = b.alloc, b.free
    total = 0
    for _ in range(pairs):
        pfn = alloc()
        total += pfn
        free(pfn)
    return total


def bulk_rounds(b, rounds, batch=1024):
    total = 0
    for _ in range(rounds):
        pfns = b.alloc_bulk(batch)
        assert len(pfns) == batch
        total += int(pfns.sum())
        b.free_bulk(pfns)
    return total
