"""BuddyAllocator behaviour on both backends: hand-worked split/merge sequences and bad input."""
import numpy as np
import pytest

import linuxmm


def snapshot(b):
    return b.nr_free, b.free_pages, [b.free_list(o) for o in range(b.max_order + 1)]


# -- boot ------------------------------------------------------------------------------------------

def test_boot_takes_largest_aligned_blocks_in_pfn_order(backend):
    # pfns 1..1000: 1/o0 2/o1 4/o2 8/o3 16/o4 32/o5 64/o6 128/o7 256/o8, then 512/o8 768/o7
    # 896/o6 960/o5 992/o3 1000/o0 (worked by hand from __free_pages_memory).
    b = backend.BuddyAllocator(1000, start_pfn=1)
    assert b.nr_free == [2, 1, 1, 2, 1, 2, 2, 2, 2, 0, 0]
    assert b.free_pages == 1000
    assert b.free_list(8) == [256, 512]       # each block added at the tail
    assert b.free_list(0) == [1, 1000]
    assert b.free_list(3) == [8, 992]
    b.check()


def test_boot_caps_blocks_at_max_order(backend):
    b = backend.BuddyAllocator(4096 + 3, max_order=10)
    assert b.nr_free == [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 4]
    assert b.free_list(10) == [0, 1024, 2048, 3072]


# -- allocation: __rmqueue_smallest + expand -------------------------------------------------------

def test_split_keeps_lower_half_and_frees_upper_halves_at_head(backend):
    b = backend.BuddyAllocator(16, max_order=3)
    assert b.free_list(3) == [0, 8]
    assert b.alloc(0) == 0                    # order-3 block at 0 split: 4/o2, 2/o1, 1/o0
    assert [b.free_list(o) for o in range(4)] == [[1], [2], [4], [8]]
    assert b.alloc(0) == 1
    assert b.alloc(1) == 2
    assert b.alloc(0) == 4                    # splits 4/o2: 6/o1, 5/o0
    assert [b.free_list(o) for o in range(4)] == [[5], [6], [], [8]]
    assert b.alloc(2) == 8                    # splits 8/o3: 12/o2
    assert b.free_list(2) == [12]
    b.check()


def test_allocation_takes_list_head(backend):
    b = backend.BuddyAllocator(64, max_order=2)   # 16 order-2 blocks, ascending
    assert [b.alloc(2) for _ in range(3)] == [0, 4, 8]


def test_out_of_memory(backend):
    b = backend.BuddyAllocator(8, max_order=3)
    assert b.alloc(3) == 0
    with pytest.raises(linuxmm.OutOfMemory) as exc:
        b.alloc(0)
    assert isinstance(exc.value, MemoryError) and isinstance(exc.value, linuxmm.MMError)
    b.check()


# -- freeing: __free_one_page, buddy_merge_likely --------------------------------------------------

def test_free_merges_back_to_the_original_blocks(backend):
    b = backend.BuddyAllocator(16, max_order=3)
    pfns = [b.alloc(0) for _ in range(16)]
    assert sorted(pfns) == list(range(16))
    for p in pfns:
        b.free(p)
    assert b.nr_free == [0, 0, 0, 2]
    b.check()


def test_head_and_tail_insertion(backend):
    # Worked by hand (32 pages, max_order 4, boot lists o4 = [0, 16]).
    b = backend.BuddyAllocator(32, max_order=4)
    assert b.alloc(0) == 0        # 8/o3 4/o2 2/o1 1/o0 freed
    assert b.alloc(0) == 1
    assert b.alloc(1) == 2
    assert b.alloc(2) == 4
    assert b.alloc(3) == 8
    assert b.alloc(0) == 16       # 24/o3 20/o2 18/o1 17/o0 freed
    # 4's buddy 0 is allocated; the order-3 block 0..7 would need 8 too (allocated): head.
    b.free(4, 2)
    assert b.free_list(2) == [4, 20]
    # 2's buddy 0 is allocated, but 0^4 = 4 is a free order-2 block: merge likely -> tail.
    b.free(2, 1)
    assert b.free_list(1) == [18, 2]
    # 1's buddy 0 is allocated; 0^2 = 2 is a free order-1 block -> tail.
    b.free(1)
    assert b.free_list(0) == [17, 1]
    assert b.alloc(1) == 18       # the head, not the block kept for merging
    # freeing 0 now merges 0+1 -> 0/o1, +2 -> 0/o2, +4 -> 0/o3 (8 is allocated): stops at o3
    b.free(0)
    assert b.free_list(3) == [0, 24]
    b.check()


def test_no_merge_at_max_order(backend):
    b = backend.BuddyAllocator(32, max_order=3)
    assert b.nr_free == [0, 0, 0, 4]


# -- bulk -------------------------------------------------------------------------------------------

def test_alloc_bulk_matches_single_allocations(backend):
    a = backend.BuddyAllocator(256, start_pfn=3)
    b = backend.BuddyAllocator(256, start_pfn=3)
    got = a.alloc_bulk(100)
    assert isinstance(got, np.ndarray) and got.dtype == np.int64
    assert got.tolist() == [b.alloc() for _ in range(100)]
    assert snapshot(a) == snapshot(b)


def test_alloc_bulk_is_short_when_memory_runs_out(backend):
    b = backend.BuddyAllocator(10)
    got = b.alloc_bulk(25)
    assert sorted(got.tolist()) == list(range(10))
    assert len(b.alloc_bulk(5)) == 0
    b.free_bulk(got)
    assert b.free_pages == 10
    b.check()


def test_free_bulk_accepts_any_integer_buffer(backend):
    b = backend.BuddyAllocator(64)
    got = b.alloc_bulk(40)
    b.free_bulk(got[:10].astype(np.int32))
    b.free_bulk(got[10:20].tolist())
    b.free_bulk(memoryview(got[20:30].astype(np.uint64)))
    b.free_bulk(got[30:])
    assert b.free_pages == 64
    b.free_bulk([])
    b.check()


def test_bulk_of_higher_order(backend):
    b = backend.BuddyAllocator(64)
    got = b.alloc_bulk(5, order=3)
    assert got.tolist() == [0, 8, 16, 24, 32]
    b.free_bulk(got, order=3)
    assert b.nr_free[6] == 1


# -- bad input: every error, state unchanged ---------------------------------------------------------

def _prepared(backend):
    b = backend.BuddyAllocator(64, start_pfn=64, max_order=4)
    held = [b.alloc(0), b.alloc(2), b.alloc(1)]
    return b, held


@pytest.mark.parametrize("pfn_of, order, reason", [
    (lambda h: h[0], 0, None),                 # valid, freed once first below (double free)
    (lambda h: 10, 0, "range"),
    (lambda h: 128, 0, "range"),
    (lambda h: h[1] + 2, 1, "nothead"),        # interior of an allocated order-2 block
    (lambda h: h[1] + 1, 1, "align"),
    (lambda h: h[1], 1, "order-mismatch"),
    (lambda h: h[1], 3, "align"),
    (lambda h: h[1], 11, "order"),
    (lambda h: h[1], -1, "order"),
    (lambda h: 100, 0, "free"),                # never allocated, inside a free block
])
def test_bad_free_raises_and_changes_nothing(backend, pfn_of, order, reason):
    b, held = _prepared(backend)
    if reason is None:
        b.free(held[0])
        reason = "free"
    before = snapshot(b)
    with pytest.raises(linuxmm.InvalidFree) as exc:
        b.free(pfn_of(held), order)
    assert exc.value.reason == reason
    assert isinstance(exc.value, ValueError)
    assert snapshot(b) == before
    b.check()


def test_error_messages_are_identical_on_both_backends():
    msgs = []
    for mod in (linuxmm, linuxmm.reference):
        b, held = _prepared(mod)
        out = []
        for pfn, order in [(held[1], 1), (5, 0), (held[1] + 1, 1), (100, 0), (held[1] + 2, 1)]:
            with pytest.raises(linuxmm.InvalidFree) as exc:
                b.free(pfn, order)
            out.append(str(exc.value))
        msgs.append(out)
    assert msgs[0] == msgs[1]
    assert msgs[0][0] == f"pfn {held[1]} was allocated with order 2, freed with order 1"


def test_bad_alloc_arguments(backend):
    b = backend.BuddyAllocator(64, max_order=4)
    before = snapshot(b)
    for order in (-1, 5, 2**40):
        with pytest.raises(ValueError):
            b.alloc(order)
    for order in (1.0, "0", None):
        with pytest.raises(TypeError):
            b.alloc(order)
    with pytest.raises(TypeError):
        b.free("3")
    with pytest.raises(ValueError):
        b.alloc_bulk(-1)
    with pytest.raises(ValueError):
        b.alloc_bulk(3, order=5)
    assert snapshot(b) == before


@pytest.mark.parametrize("kwargs", [
    dict(nr_pages=0), dict(nr_pages=-5), dict(nr_pages=2**32), dict(nr_pages=8, max_order=21),
    dict(nr_pages=8, max_order=-1), dict(nr_pages=8, start_pfn=-1),
])
def test_bad_construction(backend, kwargs):
    kwargs = dict(kwargs)
    nr = kwargs.pop("nr_pages")
    with pytest.raises(ValueError):
        backend.BuddyAllocator(nr, **kwargs)


def test_bad_bulk_free_is_all_or_nothing(backend):
    b = backend.BuddyAllocator(64)
    got = b.alloc_bulk(20)
    b.free(int(got[5]))
    before = snapshot(b)
    for bad, reason in [
        (np.append(got[:4], got[5]), "free"),           # one already free
        (np.append(got[:4], got[2]), "dup"),            # named twice in one call
        (np.append(got[6:9], 1000), "range"),
    ]:
        with pytest.raises(linuxmm.InvalidFree) as exc:
            b.free_bulk(bad)
        assert exc.value.reason == reason
        assert snapshot(b) == before
    with pytest.raises(linuxmm.InvalidFree):
        b.free_bulk(got[6:9], order=11)
    with pytest.raises(TypeError):
        b.free_bulk(np.array([1.5, 2.0]))
    assert snapshot(b) == before
    b.check()


# -- scale -------------------------------------------------------------------------------------------

def test_64gib_machine_boots_with_compact_metadata():
    b = linuxmm.BuddyAllocator(16 << 20)          # 16M pages = 64 GiB
    assert b.nr_free[10] == 16 << 10
    assert b.metadata_bytes <= 16 * (16 << 20) + (1 << 20)
    assert b.alloc(0) == 0


def test_arguments_beyond_64_bits_and_of_wrong_type(backend):
    b = backend.BuddyAllocator(64)
    before = snapshot(b)
    for pfn, order, reason in [(2**70, 0, "range"), (-2**70, 0, "range"), (0, 2**40, "order")]:
        with pytest.raises(linuxmm.InvalidFree) as exc:
            b.free(pfn, order)
        assert exc.value.reason == reason
    for bad in (1.5, "0", None):
        with pytest.raises(ValueError):         # a wrong type is a TypeError and a ValueError
            b.alloc(bad)
        with pytest.raises(TypeError):
            b.alloc(bad)
    assert snapshot(b) == before


def test_kernel_bad_argument_types_raise_value_error(backend_name):
    k = linuxmm.Kernel("256M", backend=backend_name)
    from linuxmm import GFP_KERNEL
    for args in [(GFP_KERNEL, 1.5), ("GFP_KERNEL", 0), (GFP_KERNEL, None)]:
        with pytest.raises(ValueError):
            k.alloc_pages(*args)
    with pytest.raises(ValueError):
        k.free_pages(1.5)


def test_bulk_free_refuses_values_int64_cannot_hold(backend):
    b = backend.BuddyAllocator(64)
    got = b.alloc_bulk(4)
    before = snapshot(b)
    with pytest.raises(ValueError, match="out of range"):
        b.free_bulk(np.array([int(got[0]), 2**64 - 1], dtype=np.uint64))
    assert snapshot(b) == before
