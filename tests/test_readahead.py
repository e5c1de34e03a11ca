"""linuxmm.vm.readahead against known answers.

Every expected number comes from /work/shared/docs/linux-mm-virtual.md §7.2 (measured on Linux
6.18) or is worked by hand from the 6.18 sources (mm/readahead.c, mm/filemap.c, mm/fadvise.c) in
the comment next to it; none was produced by running the module.  Windows are written
(first page, number of pages, PG_readahead page or None), one tuple per read_pages call.
"""
import ctypes
import ctypes.util
import errno
import mmap
import os
import sys
import time

import pytest

from linuxmm.vm import readahead as ra_mod
from linuxmm.vm.constants import VM_EXEC, VM_HUGEPAGE, VM_RAND_READ, VM_READ, VM_SEQ_READ
from linuxmm.vm.readahead import (POSIX_FADV_DONTNEED, POSIX_FADV_NORMAL, POSIX_FADV_NOREUSE,
                                  POSIX_FADV_RANDOM, POSIX_FADV_SEQUENTIAL, POSIX_FADV_WILLNEED,
                                  Bdi, FaultBeyondEOF, FileRaState, fadvise, file_read,
                                  filemap_fault_readahead, force_page_cache_ra, get_init_ra_size,
                                  get_next_ra_size, madvise_willneed, map_pages_mmap_miss,
                                  page_cache_sync_ra)

P = 4096
KiB, MiB = 1024, 1024 * 1024


class FakeMapping:
    """A page cache reduced to a set of present indices and a set of PG_readahead pages."""

    def __init__(self, nr_pages, *, i_size=None, cached=()):
        self.n = nr_pages
        self.i_size = nr_pages * P if i_size is None else i_size
        self.cached = set(cached)
        self.marks = set()
        self.reads = []
        self.accessed = []

    def nr_pages(self):
        return self.n

    def is_cached(self, index):
        return index in self.cached

    def test_readahead(self, index):
        return index in self.marks

    def test_clear_readahead(self, index):
        hit = index in self.marks
        self.marks.discard(index)
        return hit

    def read_pages(self, indices, mark):
        assert indices and indices == list(range(indices[0], indices[0] + len(indices)))
        assert not self.cached.intersection(indices) and indices[-1] < self.n
        assert mark is None or mark in indices
        self.cached.update(indices)
        if mark is not None:
            self.marks.add(mark)
        self.reads.append((indices[0], len(indices), mark))

    def mark_accessed(self, index):
        self.accessed.append(index)

    def take(self):
        reads, self.reads = self.reads, []
        return reads


def setup(nr_pages=1 << 16, read_ahead_kb=128, max_sectors_kb=1280, **kw):
    bdi = Bdi(read_ahead_kb, max_sectors_kb)
    return FakeMapping(nr_pages, **kw), FileRaState(bdi), bdi


REF = dict(read_ahead_kb=8192, max_sectors_kb=4096)   # the reference machine's vda (§7.2)


# -- window sizes -------------------------------------------------------------------------------

# get_init_ra_size: r = roundup_pow_of_two(req); r <= max/32 -> 4r; r <= max/4 -> 2r; else max.
# max 32 reproduces the source comment "1-2 page = 16k, 3-4 page 32k, 5-8 page = 64k, > 8 = 128k".
@pytest.mark.parametrize("req,max_pages,expected", [
    (1, 32, 4), (2, 32, 4), (3, 32, 8), (4, 32, 8), (5, 32, 16), (8, 32, 16), (9, 32, 32),
    (32, 32, 32), (100, 32, 32),
    (1, 2048, 4), (64, 2048, 256), (65, 2048, 256), (256, 2048, 512), (512, 2048, 1024),
    (513, 2048, 2048),
])
def test_get_init_ra_size(req, max_pages, expected):
    assert get_init_ra_size(req, max_pages) == expected


# get_next_ra_size: cur < max/16 -> 4cur; cur <= max/2 -> 2cur; else max.
@pytest.mark.parametrize("cur,max_pages,expected", [
    (1, 32, 4), (2, 32, 4), (8, 32, 16), (16, 32, 32), (17, 32, 32), (32, 32, 32),
    (4, 2048, 16), (127, 2048, 508), (128, 2048, 256), (1024, 2048, 2048), (1025, 2048, 2048),
])
def test_get_next_ra_size(cur, max_pages, expected):
    assert get_next_ra_size(cur, max_pages) == expected


def test_bdi_and_state_defaults():
    bdi = Bdi()
    assert (bdi.ra_pages, bdi.io_pages) == (32, 320)
    ra = FileRaState(Bdi(**REF))
    assert (ra.ra_pages, ra.prev_pos, ra.mmap_miss, ra.start, ra.size) == (2048, -1, 0, 0, 0)


# -- mmap faults --------------------------------------------------------------------------------

def test_read_around_default():
    # §7.2 [C]: fault at p caches [p-16, p+15]; marker at start + size - async = 84 + 32 - 8.
    m, ra, bdi = setup()
    assert filemap_fault_readahead(m, ra, bdi, 100, VM_READ) is True
    assert m.take() == [(84, 32, 108)]
    assert ra.mmap_miss == 1


def test_read_around_reference_machine():
    # §7.2 [C]: read_ahead_kb 8192: [p-1024, p+1023], marker p+512.
    m, ra, bdi = setup(**REF)
    assert filemap_fault_readahead(m, ra, bdi, 2000, VM_READ)
    assert m.take() == [(976, 2048, 2512)]


def test_read_around_clipped_at_zero_and_eof():
    m, ra, bdi = setup(nr_pages=20)
    filemap_fault_readahead(m, ra, bdi, 3, VM_READ)
    # start max(0, 3 - 16) = 0; do_page_cache_ra clips the 32 pages to EOF (20) before
    # page_cache_ra_unbounded computes the mark: 0 + 20 - 8 = 12.
    assert m.take() == [(0, 20, 12)]


def test_touching_4096_pages_from_zero_on_reference_machine():
    # §7.2 [C]: touching every page of the first 4096 from page 0 costs 1 major fault and leaves
    # pages 0-6143 cached.  By hand: fault 0 -> [0, 2048) marker 1536; 1536 (expected) -> start
    # 2048, size 2048, [2048, 4096) marker 2048; 2048 -> [4096, 6144) marker 4096, never touched.
    m, ra, bdi = setup(**REF)
    majors = sum(filemap_fault_readahead(m, ra, bdi, p, VM_READ) for p in range(4096))
    assert majors == 1
    assert m.cached == set(range(6144))
    assert m.take() == [(0, 2048, 1536), (2048, 2048, 2048), (4096, 2048, 4096)]


def test_async_at_marker_and_mmap_miss_decrement():
    m, ra, bdi = setup()
    filemap_fault_readahead(m, ra, bdi, 100, VM_READ)
    m.take()
    # expected = 84 + 32 - 8 = 108: start 116, size max(32, next(32)) = 32, end 148 (4-aligned).
    assert filemap_fault_readahead(m, ra, bdi, 108, VM_READ) is False
    assert m.take() == [(116, 32, 116)]
    assert ra.mmap_miss == 0 and 108 not in m.marks


def test_retried_fault_starts_no_async_readahead():
    m, ra, bdi = setup()
    filemap_fault_readahead(m, ra, bdi, 100, VM_READ)
    m.take()
    filemap_fault_readahead(m, ra, bdi, 108, VM_READ, tried=True)
    assert m.take() == [] and ra.mmap_miss == 1 and 108 in m.marks


def test_madv_random_reads_only_the_page():
    # §7.2/§5.10 [C]: VM_RAND_READ -> no readahead, one major fault per page.
    m, ra, bdi = setup(**REF)
    assert all(filemap_fault_readahead(m, ra, bdi, p, VM_READ | VM_RAND_READ) for p in range(3))
    assert m.take() == [(0, 1, None), (1, 1, None), (2, 1, None)]


def test_madv_sequential_fault_after_a_gap():
    # §7.2 [C]: MADV_SEQUENTIAL, p > 0 with p-1 uncached: 2048 pages from p, no marker.  Source:
    # page_cache_sync_ra(req 2048): prev_pos -1 is not adjacent, page_cache_prev_miss(p-1) = p-1,
    # contig 0 <= req -> do_page_cache_ra(2048, lookahead 0): the mark p+2048 lies past the read.
    m, ra, bdi = setup(**REF)
    filemap_fault_readahead(m, ra, bdi, 5000, VM_READ | VM_SEQ_READ)
    assert m.take() == [(5000, 2048, None)]
    assert (ra.start, ra.size) == (0, 0)


def test_madv_sequential_from_page_zero():
    # index 0: size = get_init_ra_size(2048, 2048) = 2048, async = 2048 >> 1 = 1024.
    m, ra, bdi = setup(**REF)
    filemap_fault_readahead(m, ra, bdi, 0, VM_READ | VM_SEQ_READ)
    assert m.take() == [(0, 2048, 1024)]


def test_mmap_lotsamiss_stops_read_around():
    m, ra, bdi = setup(nr_pages=1 << 20)
    for k in range(100):
        filemap_fault_readahead(m, ra, bdi, 1000 * k + 500, VM_READ)
    assert len(m.take()) == 100 and ra.mmap_miss == 100
    # 101st miss: mmap_miss 101 > MMAP_LOTSAMISS -> no readahead, the page alone is read.
    assert filemap_fault_readahead(m, ra, bdi, 200000, VM_READ)
    assert m.take() == [(200000, 1, None)] and ra.mmap_miss == 101
    filemap_fault_readahead(m, ra, bdi, 200000, VM_READ)   # a hit: -1
    assert ra.mmap_miss == 100
    map_pages_mmap_miss(ra, 16)
    assert ra.mmap_miss == 84
    map_pages_mmap_miss(ra, 200)
    assert ra.mmap_miss == 0


def test_vm_exec_window_clipped_to_vma():
    # 6.16+: exec_folio_order() 0 on x86: start max(pgoff, vm_pgoff) = 10, end min(10 + 32,
    # vm_pgoff + vma_pages = 20), async 0 -> no marker.
    m, ra, bdi = setup()
    filemap_fault_readahead(m, ra, bdi, 10, VM_READ | VM_EXEC, vm_pgoff=0, vma_pages=20)
    assert m.take() == [(10, 10, None)]
    # VM_EXEC overrides VM_RAND_READ ((flags & (RAND|EXEC)) == RAND is false).
    filemap_fault_readahead(m, ra, bdi, 40, VM_READ | VM_EXEC | VM_RAND_READ)
    assert m.take() == [(40, 32, None)]


def test_vm_hugepage_on_order0_mapping():
    # PMD path: index aligned down to 512, size 1024, async 512 -> one do_page_cache_ra from 512
    # with mark 512 + 1024 - 512.
    m, ra, bdi = setup()
    filemap_fault_readahead(m, ra, bdi, 700, VM_READ | VM_HUGEPAGE)
    assert m.take() == [(512, 1024, 1024)]


def test_fault_beyond_eof():
    m, ra, bdi = setup(nr_pages=10)
    with pytest.raises(FaultBeyondEOF):
        filemap_fault_readahead(m, ra, bdi, 10, VM_READ)


# -- read(2) ------------------------------------------------------------------------------------

def test_pread_1mib_twice_reference_machine():
    # §7.2 [C]: 1 MiB at 0 caches 0-511, the next 1 MiB 0-1535.  By hand: sync req 256 at index
    # 0 -> size init(256, 2048) = 512, async 256 -> [0, 512) marker 256.  Second read: batch [256]
    # ends at the marker -> async: expected 0 + 512 - 256 = 256 -> start 512, size next(512) =
    # 1024, end 1536 (4-aligned) -> [512, 1536) marker 512.
    m, ra, bdi = setup(nr_pages=4096, **REF)
    assert file_read(m, ra, bdi, 0, MiB) == list(range(256))
    assert m.take() == [(0, 512, 256)] and ra.prev_pos == MiB
    assert file_read(m, ra, bdi, MiB, MiB) == list(range(256, 512))
    assert m.take() == [(512, 1024, 512)]
    assert m.cached == set(range(1536))


def test_8mib_of_4kib_reads_order0():
    # §7.2 [C] measured 0-3071 on ext4, which uses large folios in 6.18 (async windows there are
    # trimmed to folio-order alignment: [1536, 2048) then [2048, 3072)).  For an order-0 mapping,
    # worked by hand: read 0 -> init(1) = 4, async 3 -> [0,4) mark 1; each marker hit is the
    # expected index, so start += size, size = next(size): 16, 64, 256, 512, 1024, 2048, 2048
    # (every end is a multiple of 4, so the 6.16+ alignment trims nothing).  The marker at 1876
    # is read (< 2048), the one at 3924 is not.
    m, ra, bdi = setup(nr_pages=8192, **REF)
    for k in range(2048):
        assert file_read(m, ra, bdi, k * P, P) == [k]
    assert m.take() == [(0, 4, 1), (4, 16, 4), (20, 64, 20), (84, 256, 84), (340, 512, 340),
                        (852, 1024, 852), (1876, 2048, 1876), (3924, 2048, 3924)]
    assert m.cached == set(range(5972))


def test_8mib_of_4kib_reads_large_folios():
    # §7.2 [C]: on ext4 (large folios, mapping_max_folio_order 9) 8 MiB of 4 KiB reads leave
    # 0-3071 cached.  By hand (ra_pages 2048), each async window: start += size,
    # size = next(size), ra->order += 2, end rounded down to 1 << min(order, 11) when that stays
    # above start; folio order min(order, 9, ilog2(size)):
    #   [0,4) order 0, mark 1;  [4,20) order 2;  [20,80): 84 rounded to 80, order 4;
    #   [80,320) order 6;  [320,768): next(240) = 480, 800 rounded to 768, order 8;
    #   [768,1024): next(448) = 896, 1664 rounded to 1024, order 8 (ilog2 256);
    #   [1024,1536): 512, order 9;  [1536,2048): next(512) = 1024, 2560 rounded to 2048;
    #   [2048,3072): 1024 (3072 is not above 2048 when rounded: kept), marker on 2048,
    # which no read reaches.
    import linuxmm as L
    k = L.Kernel("1G", read_ahead_kb=8192, max_sectors_kb=4096)
    k.create_file("/data/f", 8192 * P)
    f = k.open("/data/f")
    for i in range(2048):
        f.read(i * P, P)
    assert sorted(f.f_inode.i_mapping.pages) == list(range(3072))
    k.check()


def test_sequential_4kib_reads_default_ra_pages():
    # ra_pages 32, 256-page file, 4 KiB reads.  read 0: init(1, 32) = 4, async 3 -> (0, 4, 1).
    # 1: expected 1 -> start 4, size next(4) = 8 (4 <= 16), end 12 -> (4, 8, 4).
    # 4: start 12, size 16 -> (12, 16, 12).  12: start 28, size 32 -> (28, 32, 28).
    # then 32-page windows at 60, 92, ..., 220, each marked at its first page; 220: start 252,
    # 32 pages clipped to EOF (4 pages) and lookahead 32 > 4 -> no marker.
    m, ra, bdi = setup(nr_pages=256)
    for k in range(256):
        assert file_read(m, ra, bdi, k * P, P) == [k]
    assert m.take() == ([(0, 4, 1), (4, 8, 4), (12, 16, 12)]
                        + [(s, 32, s) for s in range(28, 252, 32)] + [(252, 4, None)])


def test_sequential_128kib_reads_default_ra_pages():
    # req 32 = max: init(32, 32) = 32, async 32 >> 1 = 16 -> (0, 32, 16).  The batch stops at the
    # marker 16 -> async req 32 - 16 = 16: expected 16 -> start 32, size 32 -> (32, 32, 32).
    # Read 2 meets the marker 32 first -> (64, 32, 64), and so on: one window ahead.
    m, ra, bdi = setup(nr_pages=1024)
    file_read(m, ra, bdi, 0, 128 * KiB)
    assert m.take() == [(0, 32, 16), (32, 32, 32)]
    file_read(m, ra, bdi, 128 * KiB, 128 * KiB)
    assert m.take() == [(64, 32, 64)]


def test_fadv_random_reads_exactly_the_request():
    # §7.2 [C]: POSIX_FADV_RANDOM, 64 KiB chunks -> 0-255 for 1 MiB; force_page_cache_ra(16).
    m, ra, bdi = setup(nr_pages=4096, **REF)
    fadvise(m, ra, bdi, 0, 0, POSIX_FADV_RANDOM)
    for k in range(16):
        file_read(m, ra, bdi, k * 64 * KiB, 64 * KiB)
    assert m.take() == [(16 * k, 16, None) for k in range(16)]
    assert m.cached == set(range(256))
    m2, ra2, bdi2 = setup(nr_pages=64)
    file_read(m2, ra2, bdi2, 0, 8 * P, random=True)
    assert m2.take() == [(0, 8, None)]


def test_read_straddling_eof():
    # i_size = 10 pages + 100 bytes (11 pages): a read at 40000 of 10000 bytes copies 40000..41059
    # from pages 9 and 10; nothing past EOF; prev_pos = 41060.
    m, ra, bdi = setup(nr_pages=11, i_size=10 * P + 100)
    assert file_read(m, ra, bdi, 40000, 10000) == [9, 10]
    assert ra.prev_pos == 10 * P + 100
    assert file_read(m, ra, bdi, 10 * P + 100, 10) == []


def test_small_random_read_and_history_paths():
    # page_cache_sync_ra at 500 with 468..499 cached, prev_pos far away: prev_miss(499, 32) finds
    # no gap and returns 468 (the last index looked at), contig 31 > 1 -> size min(32, 32), async 1
    # -> (500, 32, 531).
    m, ra, bdi = setup(nr_pages=4096, cached=range(468, 500))
    page_cache_sync_ra(m, ra, bdi, 500, 1)
    assert m.take() == [(500, 32, 531)]
    # Nothing before 3000: contig 0 <= req -> read as is, state untouched.
    page_cache_sync_ra(m, ra, bdi, 3000, 2)
    assert m.take() == [(3000, 2, None)] and ra.start == 500
    # Cached from the start (0..9): the scan wraps, miss = ULONG_MAX, contig 10 doubled to 20,
    # size min(21, 32) -> (10, 21, 30).
    m, ra, bdi = setup(nr_pages=4096, cached=range(10))
    page_cache_sync_ra(m, ra, bdi, 10, 1)
    assert m.take() == [(10, 21, 30)]


def test_marker_without_matching_state():
    # 0..63 cached, marker at 40, fresh state: expected 0 != 40 -> next_miss(41, 32) = 64,
    # size next(64 - 40 + 1 = 25) = 32 (25 > 16), end 96 -> (64, 32, 64).
    m, ra, bdi = setup(nr_pages=4096, cached=range(64))
    m.marks.add(40)
    file_read(m, ra, bdi, 40 * P, P)
    assert m.take() == [(64, 32, 64)]


def test_ra_pages_zero_reads_one_page_at_a_time():
    m, ra, bdi = setup(nr_pages=64, read_ahead_kb=0)
    assert file_read(m, ra, bdi, 0, 4 * P) == [0, 1, 2, 3]
    assert m.take() == [(0, 1, None), (1, 1, None), (2, 1, None), (3, 1, None)]


def test_mark_accessed_once_per_page_per_read():
    m, ra, bdi = setup(nr_pages=64)
    file_read(m, ra, bdi, 0, 100)
    file_read(m, ra, bdi, 100, 100)   # same page as prev_pos - 1: not marked again
    # 200..8391 spans pages 0-2: page 0 is prev_pos - 1's page again, 1 and 2 (i > 0) are marked.
    file_read(m, ra, bdi, 200, 2 * P)
    assert m.accessed == [0, 1, 2]


def test_read_rejects_bad_arguments():
    m, ra, bdi = setup()
    for off, length in ((-1, 10), (0, -1)):
        with pytest.raises(OSError) as e:
            file_read(m, ra, bdi, off, length)
        assert e.value.errno == errno.EINVAL
    assert file_read(m, ra, bdi, 0, 0) == [] and m.take() == []


# -- fadvise / madvise --------------------------------------------------------------------------

def test_willneed_limited_to_max_of_ra_and_io_pages():
    # §7.2 [C]: 64 MiB WILLNEED caches 0-2047: min(16384, max(1024, 2048)), in 512-page chunks.
    m, ra, bdi = setup(nr_pages=16384, **REF)
    fadvise(m, ra, bdi, 0, 64 * MiB, POSIX_FADV_WILLNEED)
    assert m.take() == [(0, 512, None), (512, 512, None), (1024, 512, None), (1536, 512, None)]


def test_sequential_doubles_ra_pages_for_willneed():
    # §7.2 [C]: after POSIX_FADV_SEQUENTIAL (ra_pages 4096) a 32 MiB WILLNEED caches 4096 pages.
    m, ra, bdi = setup(nr_pages=16384, **REF)
    fadvise(m, ra, bdi, 0, 0, POSIX_FADV_SEQUENTIAL)
    assert ra.ra_pages == 4096
    fadvise(m, ra, bdi, 0, 32 * MiB, POSIX_FADV_WILLNEED)
    assert m.cached == set(range(4096)) and len(m.take()) == 8


def test_advice_state_changes():
    m, ra, bdi = setup()
    fadvise(m, ra, bdi, 0, 0, POSIX_FADV_RANDOM)
    fadvise(m, ra, bdi, 0, 0, POSIX_FADV_NOREUSE)
    assert ra.random and ra.noreuse and ra.ra_pages == 32
    fadvise(m, ra, bdi, 0, 0, POSIX_FADV_SEQUENTIAL)
    assert not ra.random and ra.noreuse and ra.ra_pages == 64
    fadvise(m, ra, bdi, 0, 0, POSIX_FADV_NORMAL)
    assert not ra.random and not ra.noreuse and ra.ra_pages == 32
    assert m.take() == []


@pytest.mark.parametrize("offset,length,expected", [
    (0, 0, (0, ((1 << 63) - 1) >> 12)),   # len 0: endbyte LLONG_MAX, a page-end byte
    (100, 2 * P, (1, 1)),                  # partial first and last pages kept
    (0, P, (0, 0)),                        # endbyte 4095 ends a page
    (0, 100, None),                        # end_index 0 would go to -1: nothing
    (10 * P, 100, (10, 10)),               # endbyte = i_size - 1: the partial EOF page goes
    (1, 3 * P, (1, 2)),                    # endbyte 12288: page 3 only partly covered
    (5 * P, P - 1, None),                  # start 5 > end 4
])
def test_dontneed_range_rounding(offset, length, expected):
    m, ra, bdi = setup(nr_pages=11, i_size=10 * P + 100)
    assert fadvise(m, ra, bdi, offset, length, POSIX_FADV_DONTNEED) == expected


def test_fadvise_rejects_bad_arguments_and_accepts_negative_offset():
    m, ra, bdi = setup(nr_pages=16)
    for length, advice in ((-1, POSIX_FADV_NORMAL), (0, 6), (0, -1)):
        with pytest.raises(OSError) as e:
            fadvise(m, ra, bdi, 0, length, advice)
        assert e.value.errno == errno.EINVAL
    # generic_fadvise checks only len: a negative offset is accepted and reads nothing
    # (start_index wraps past EOF).
    assert fadvise(m, ra, bdi, -P, 2 * P, POSIX_FADV_WILLNEED) is None and m.take() == []


def test_madvise_willneed():
    m, ra, bdi = setup(nr_pages=64)
    with pytest.raises(OSError) as e:
        madvise_willneed(m, ra, bdi, 100, P)
    assert e.value.errno == errno.EINVAL
    madvise_willneed(m, ra, bdi, P, 0)
    assert m.take() == []
    madvise_willneed(m, ra, bdi, P, 1)          # rounded up to one page
    madvise_willneed(m, ra, bdi, 8 * P, 100 * P)  # min(100, max(320, 32)), clipped at EOF 64
    assert m.take() == [(1, 1, None), (8, 56, None)]


def test_force_page_cache_ra_skips_cached_runs():
    m, ra, bdi = setup(nr_pages=64, cached={3, 4})
    force_page_cache_ra(m, ra, bdi, 0, 8)
    assert m.take() == [(0, 3, None), (5, 3, None)]


def test_constants():
    assert (POSIX_FADV_NORMAL, POSIX_FADV_RANDOM, POSIX_FADV_SEQUENTIAL, POSIX_FADV_WILLNEED,
            POSIX_FADV_DONTNEED, POSIX_FADV_NOREUSE) == (0, 1, 2, 3, 4, 5)
    assert ra_mod.MMAP_LOTSAMISS == 100


# -- host ---------------------------------------------------------------------------------------

def _host_bdi(path):
    """(read_ahead_kb, max_sectors_kb) of the block device holding path, or a reason string."""
    dev = os.stat(path).st_dev
    major, minor = os.major(dev), os.minor(dev)
    if major == 0:
        return f"{path} is on an anonymous device {major}:{minor} (tmpfs/overlay/btrfs): no bdi"
    base = os.path.realpath(f"/sys/dev/block/{major}:{minor}")
    for queue in (os.path.join(base, "queue"), os.path.join(os.path.dirname(base), "queue")):
        try:
            with open(os.path.join(queue, "read_ahead_kb")) as f:
                rakb = int(f.read())
            with open(os.path.join(queue, "max_sectors_kb")) as f:
                return rakb, int(f.read())
        except OSError:
            continue
    return f"no queue/read_ahead_kb for block device {major}:{minor}"


class _Host:
    NR = 4096   # 16 MiB

    def __init__(self, path):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long)
        for name in ("munmap", "madvise"):
            getattr(libc, name).argtypes = (ctypes.c_void_p, ctypes.c_size_t) + (
                (ctypes.c_int,) if name == "madvise" else ())
        libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p)
        self.libc = libc
        with open(path, "wb") as f:
            f.write(os.urandom(self.NR * P))
            f.flush()
            os.fsync(f.fileno())
        self.fd = os.open(path, os.O_RDONLY)
        self.addr = libc.mmap(None, self.NR * P, mmap.PROT_READ, mmap.MAP_SHARED, self.fd, 0)
        if self.addr in (None, ctypes.c_void_p(-1).value):
            os.close(self.fd)
            raise OSError(ctypes.get_errno(), "mmap")
        # MADV_RANDOM: the measuring mapping itself never starts readahead.
        if libc.madvise(self.addr, self.NR * P, mmap.MADV_RANDOM) != 0:
            self.close()
            raise OSError(ctypes.get_errno(), "madvise")

    def resident(self):
        buf = ctypes.create_string_buffer(self.NR)
        if self.libc.mincore(self.addr, self.NR * P, buf) != 0:
            raise OSError(ctypes.get_errno(), "mincore")
        return {i for i, b in enumerate(buf.raw) if b & 1}

    def stable(self):
        last, same = None, 0
        for _ in range(60):
            now = self.resident()
            same = same + 1 if now == last else 0
            if same >= 3:
                return now
            last = now
            time.sleep(0.05)
        return None

    def drop(self):
        for _ in range(10):
            os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_DONTNEED)
            if self.stable() == set():
                return True
        return False

    def close(self):
        self.libc.munmap(self.addr, self.NR * P)
        os.close(self.fd)


def _scenarios():
    """Patterns whose page sets do not depend on large folios (read-around, WILLNEED and forced
    reads use min-order folios; the 1 MiB pread pair ends on 4-page-aligned windows)."""
    def pread_pair(fd):
        os.pread(fd, MiB, 0)
        yield
        os.pread(fd, MiB, MiB)
        yield

    def random_64k(fd):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        for k in range(16):
            os.pread(fd, 64 * KiB, k * 64 * KiB)
        yield

    def willneed(fd):
        os.posix_fadvise(fd, 4 * MiB, 12 * MiB, os.POSIX_FADV_WILLNEED)
        yield

    def touch_2000(fd):
        with mmap.mmap(fd, _Host.NR * P, prot=mmap.PROT_READ) as mm:
            mm[2000 * P]
            yield

    def model_touch_2000(m, ra, bdi):
        filemap_fault_readahead(m, ra, bdi, 2000, VM_READ)
        yield

    def model_pread_pair(m, ra, bdi):
        file_read(m, ra, bdi, 0, MiB)
        yield
        file_read(m, ra, bdi, MiB, MiB)
        yield

    def model_random_64k(m, ra, bdi):
        fadvise(m, ra, bdi, 0, 0, POSIX_FADV_RANDOM)
        for k in range(16):
            file_read(m, ra, bdi, k * 64 * KiB, 64 * KiB)
        yield

    def model_willneed(m, ra, bdi):
        fadvise(m, ra, bdi, 4 * MiB, 12 * MiB, POSIX_FADV_WILLNEED)
        yield

    return [("pread 1 MiB twice", pread_pair, model_pread_pair),
            ("FADV_RANDOM 64 KiB reads", random_64k, model_random_64k),
            ("WILLNEED 12 MiB at 4 MiB", willneed, model_willneed),
            ("mmap read-around at page 2000", touch_2000, model_touch_2000)]


@pytest.mark.host
@pytest.mark.parametrize("name,host_steps,model_steps", _scenarios(),
                         ids=[name for name, _, _ in _scenarios()])
def test_host_cache_residency(tmp_path, name, host_steps, model_steps):
    if not sys.platform.startswith("linux") or not hasattr(os, "posix_fadvise"):
        pytest.skip("needs Linux posix_fadvise and mincore")
    path = str(tmp_path / "ra16m")
    open(path, "wb").close()
    found = _host_bdi(path)
    if isinstance(found, str):
        print(found)
        pytest.skip(found)
    rakb, maxkb = found
    try:
        host = _Host(path)
    except OSError as e:
        pytest.skip(f"host setup failed: {e}")
    try:
        if not host.drop():
            pytest.skip("the host would not drop the file's cache")
        m, ra, bdi = setup(nr_pages=_Host.NR, read_ahead_kb=rakb, max_sectors_kb=maxkb)
        fd = os.open(path, os.O_RDONLY)   # a fresh struct file: a fresh file_ra_state
        try:
            for step, _ in enumerate(zip(host_steps(fd), model_steps(m, ra, bdi))):
                seen = host.stable()
                if seen is None:
                    pytest.skip("mincore never settled")
                if seen != m.cached:
                    if seen < m.cached:
                        pytest.skip(f"{name} step {step}: the host lost "
                                    f"{len(m.cached - seen)} predicted pages (reclaim noise)")
                    assert sorted(seen ^ m.cached)[:20] == [], (name, step)
        finally:
            os.close(fd)
    finally:
        host.close()
