"""MADV_COLD, MADV_PAGEOUT and drop_caches against the host (tests/host/faulthost.py): page-cache
residency (mincore of the mapping, the file's own residency), smaps Rss/Swap/Referenced and
fault counts after the advice, with swap on a /dev/zram0 area (SWP_SYNCHRONOUS_IO) where the
host allows it (root, zram0 unused, no other swap area: the scenario skips otherwise).  Both
backends.  The host numbers are measured live; assert_same_as_host leaves out observations the
host does not reproduce itself (readahead I/O timing, DAMON's access sampling)."""
import pytest

from host import faulthost as fh
from host.faulthost import (MADV_COLD, MADV_PAGEOUT, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED,
                            PROT_READ, RW)

pytestmark = [pytest.mark.host,
              pytest.mark.skipif(not fh.host_available(), reason="needs Linux, gcc and /proc")]

ANON = MAP_PRIVATE | MAP_ANONYMOUS
OBS = {"mincore": 1, "smaps": 1}
SWAP_PAGES = 16384                           # 64 MiB of zram


def anon(var, npages):
    return ("mmap", var, npages, RW, ANON, None, 0, 0)


def fmap(var, name, npages, prot=PROT_READ, flags=MAP_PRIVATE, align=5):
    return ("mmap", var, npages, prot, flags, name, 0, align)


def cached(name, npages):
    return [("file", name, npages), ("cache", name, 0, npages, {"filecore": 1})]


SCENARIOS = {
    # clean page cache mapped once: the range's pages leave the cache; re-reading faults them
    "file_private_pageout_part": cached("f", 64) + [
        fmap("a", "f", 64), ("read", "a", 0, 64, OBS),
        ("madvise", "a", 16, 16, MADV_PAGEOUT, OBS), ("pread", "f", 0, 0, {"filecore": 1}),
        ("read", "a", 0, 64, OBS)],
    # MADV_COLD clears the young bits (smaps Referenced), keeps everything cached and mapped
    "file_cold_then_read": cached("f", 32) + [
        fmap("a", "f", 32), ("read", "a", 0, 32, OBS), ("madvise", "a", 0, 32, MADV_COLD, OBS),
        ("read", "a", 0, 32, OBS)],
    # a page mapped by two VMAs is left alone
    "file_pageout_mapped_twice": cached("f", 32) + [
        fmap("a", "f", 32), ("read", "a", 0, 32), fmap("b", "f", 32, align=0),
        ("read", "b", 0, 8), ("madvise", "a", 0, 32, MADV_PAGEOUT, OBS),
        ("pread", "f", 0, 0, {"filecore": 1})],
    # shared writable mapping: dirty pages are unmapped but stay cached (PG_reclaim), clean
    # ones go.  (Not re-read here: in Linux PG_reclaim is PG_readahead's bit, so fault-around
    # skips those pages and the first fault starts async readahead, whose I/O timing decides
    # the host's fault counts; linuxmm keeps the two flags apart.)
    "file_shared_dirty_pageout": cached("f", 32) + [
        fmap("a", "f", 32, prot=RW, flags=MAP_SHARED), ("read", "a", 0, 32),
        ("write", "a", 0, 8), ("madvise", "a", 0, 32, MADV_PAGEOUT, OBS),
        ("pread", "f", 0, 0, {"filecore": 1})],
    # without swap anonymous pages stay (shrink_folio_list activates them)
    "anon_pageout_no_swap": [
        anon("a", 32), ("write", "a", 0, 32), ("madvise", "a", 0, 16, MADV_PAGEOUT, OBS),
        ("read", "a", 0, 32, OBS)],
    "anon_cold": [anon("a", 32), ("write", "a", 0, 32, OBS),
                  ("madvise", "a", 0, 32, MADV_COLD, OBS), ("write", "a", 0, 32, OBS)],
    "madvise_errors": [anon("a", 8), ("mlock", "a", 0, 4), ("madvise", "a", 0, 8, MADV_PAGEOUT),
                       ("madvise", "a", 4, 8, MADV_COLD), ("munmap", "a", 6, 1),
                       ("madvise", "a", 4, 4, MADV_PAGEOUT, OBS)],
}

SWAP_SCENARIOS = {
    # swapped out: Rss -> Swap, not resident; touching again: one major fault a page (zram:
    # no readahead) and the bytes are back
    "anon_pageout_swap_then_read": [
        ("swapon", SWAP_PAGES), anon("a", 32), ("write", "a", 0, 32),
        ("madvise", "a", 8, 16, MADV_PAGEOUT, OBS), ("read", "a", 0, 32, OBS),
        ("madvise", "a", 0, 32, MADV_PAGEOUT, OBS), ("write", "a", 0, 32, 2, OBS)],
    # a private file mapping: the COW copies are swapped, the clean cache pages dropped
    "file_private_cow_pageout_swap": cached("f", 32) + [
        ("swapon", SWAP_PAGES), fmap("a", "f", 32, prot=RW), ("read", "a", 0, 32),
        ("write", "a", 0, 8), ("madvise", "a", 0, 32, MADV_PAGEOUT, OBS),
        ("pread", "f", 0, 0, {"filecore": 1}), ("read", "a", 0, 8, OBS)],
    # after fork the pages are shared: neither side pages them out
    "anon_pageout_after_fork": [
        ("swapon", SWAP_PAGES), anon("a", 16), ("write", "a", 0, 16),
        ("fork_child", [("madvise", "a", 0, 16, MADV_PAGEOUT, OBS)]),
        ("madvise", "a", 0, 16, MADV_PAGEOUT, OBS)],
}

DROP_SCENARIOS = {
    # drop_caches 1: mapped pages (fault-around maps 0..15) and the dirty page 40 stay
    "drop_caches_mapped_and_dirty": cached("f", 64) + [
        fmap("a", "f", 64, flags=MAP_SHARED), ("read", "a", 0, 1),
        fmap("b", "f", 64, prot=RW, flags=MAP_SHARED, align=0), ("write", "b", 40, 1),
        ("munmap", "b", 0, 64), ("drop_caches", 1), ("pread", "f", 0, 0, {"filecore": 1}),
        ("read", "a", 0, 16, OBS)],
}

ALL = {**SCENARIOS, **SWAP_SCENARIOS, **DROP_SCENARIOS}
def host_results(name):
    return fh.host_results_or_skip(ALL, name)


@pytest.mark.parametrize("backend", ["c", "reference"])
@pytest.mark.parametrize("name", sorted(ALL))
def test_madv_scenario_matches_host(name, backend):
    host = host_results(name)
    fh.assert_same_as_host(ALL[name], host, fh.run_linuxmm(ALL[name], backend))
