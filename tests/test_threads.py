"""Objects shared between threads (issue 11): 4+ threads of mixed calls on one allocator, cache or
Kernel; afterwards nothing is lost or owned twice (check(), and what each thread holds adds up).

cffi releases the GIL around every call into the C core, so these threads really do run inside
the engines at the same time; the reference backend's threads interleave between bytecodes.
LINUXMM_THREAD_ROUNDS (default 1) repeats each test, for the 20-passes-in-a-row run the README's
Guarantees section reports.
"""
import os
import random
import re
import sys
import threading

import numpy as np
import pytest

import linuxmm
from linuxmm import (MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, InvalidFree,
                     OutOfMemory)

THREADS = 4
ROUNDS = int(os.environ.get("LINUXMM_THREAD_ROUNDS", "1"))
OPS = {"c": 30000, "reference": 3000}


@pytest.fixture(autouse=True)
def switch_often():
    """Switch threads every few bytecodes (not every 5 ms), so that the reference backend's
    pure-Python methods interleave too."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def run_threads(worker, n=THREADS):
    """Start n workers together; re-raise the first exception any of them raised."""
    barrier = threading.Barrier(n)
    errors = []
    results = [None] * n

    def body(i):
        try:
            barrier.wait()
            results[i] = worker(i)
        except BaseException as err:            # noqa: BLE001 - re-raised below
            errors.append(err)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def accounted_pages(k):
    """Free pages plus every page the kernel counts as in use by slab, page tables, anonymous
    and file memory: what a run that loses nothing keeps constant."""
    k.drain_pages()
    v = k.vm_counters()
    return sum(v[name] for name in ("nr_free_pages", "nr_slab_reclaimable",
                                    "nr_slab_unreclaimable", "nr_page_table_pages",
                                    "nr_anon_pages", "nr_file_pages"))


def mixed_slab_and_page_calls(rng, ops, cache, kmalloc, kfree, alloc, free, sizes, orders):
    """One thread's random cache objects, kmalloc objects and (pfn, order) page blocks: what it
    still holds at the end.  alloc(order) -> pfn and free(pfn, order) are the page calls."""
    objs, kobjs, pages = [], [], []
    for _ in range(ops):
        r = rng.random()
        if r < 0.25:
            objs.append(cache.alloc())
        elif r < 0.4 and objs:
            cache.free(objs.pop(rng.randrange(len(objs))))
        elif r < 0.55:
            kobjs.append(kmalloc(rng.choice(sizes)))
        elif r < 0.65 and kobjs:
            kfree(kobjs.pop(rng.randrange(len(kobjs))))
        elif r < 0.8:
            order = rng.choice(orders)
            pages.append((alloc(order), order))
        elif pages:
            free(*pages.pop(rng.randrange(len(pages))))
    return objs, kobjs, pages


def check_and_give_back(held, cache, kfree, free):
    """Nothing the threads hold (cache objects, kmalloc objects, page blocks) was handed out
    twice and the cache counts exactly its objects; then everything goes back."""
    objs = [a for o, _, _ in held for a in o]
    kobjs = [a for _, ko, _ in held for a in ko]
    assert len(objs) == len(set(objs)) and len(kobjs) == len(set(kobjs))
    assert cache.stats()["inuse"] == len(objs)
    disjoint_blocks([p for _, _, p in held])
    give_back(held, cache, kfree, free)
    assert cache.stats()["inuse"] == 0


def give_back(held, cache, kfree, free):
    for objs, kobjs, pages in held:
        for a in objs:
            cache.free(a)
        for a in kobjs:
            kfree(a)
        for pfn, order in pages:
            free(pfn, order)


def disjoint_blocks(held):
    """The number of pages in the (pfn, order) blocks the threads hold, checked to overlap
    nowhere: no page was handed to two threads."""
    pages = []
    for blocks in held:
        for pfn, order in blocks:
            pages.extend(range(pfn, pfn + (1 << order)))
    assert len(pages) == len(set(pages)), "a page was handed to two threads"
    return len(pages)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_buddy_allocator_shared_by_threads(backend, round_):
    b = backend.BuddyAllocator(1 << 14)
    ops = OPS[b.backend]

    def worker(i):
        rng = random.Random(1000 * round_ + i)
        held = []
        for _ in range(ops):
            r = rng.random()
            if r < 0.5 or not held:
                order = rng.choice((0, 0, 0, 1, 2, 3))
                try:
                    held.append((b.alloc(order), order))
                except OutOfMemory:
                    pass
            elif r < 0.9:
                pfn, order = held.pop(rng.randrange(len(held)))
                b.free(pfn, order)
            elif r < 0.95:
                b.free_bulk(b.alloc_bulk(8))
            else:
                with pytest.raises(InvalidFree):        # a wrong free changes nothing
                    b.free(b.start_pfn + b.nr_pages, 0)
        return held

    held = run_threads(worker)
    b.check()
    assert b.free_pages + disjoint_blocks(held) == b.nr_pages
    for blocks in held:
        for pfn, order in blocks:
            b.free(pfn, order)
    b.check()
    assert b.free_pages == b.nr_pages


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_kmem_cache_shared_with_page_and_kmalloc_calls(backend_name, round_):
    k = linuxmm.Kernel("256M", backend=backend_name)
    cache = k.kmem_cache_create("thread_test", 192)
    before = accounted_pages(k)
    ops = OPS[backend_name]

    def worker(i):
        cpu = i % k.cpus
        return mixed_slab_and_page_calls(
            random.Random(2000 * round_ + i), ops, cache, k.kmalloc, k.kfree,
            lambda order: k.alloc_pages(order=order, cpu=cpu),
            lambda pfn, order: k.free_pages(pfn, order, cpu=cpu),
            (8, 64, 200, 1000, 5000, 9000), (0, 0, 1, 3))

    held = run_threads(worker)
    k.check()
    check_and_give_back(held, cache, k.kfree, k.free_pages)
    k.check()
    cache.destroy()
    assert accounted_pages(k) == before


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_processes_on_one_kernel(backend_name, round_):
    """Each thread runs its own process on one Kernel: mmap, write, read back, touch, fork (the
    child sees the parent's bytes, its writes stay its own), munmap, exit; page allocations
    between them."""
    k = linuxmm.Kernel("128M", backend=backend_name, swap="64M")
    rounds = 12 if backend_name == "c" else 4

    def worker(i):
        rng = random.Random(3000 * round_ + i)
        p = k.spawn(f"worker{i}")
        kept, pages = [], []
        for n in range(rounds):
            length = rng.choice((1, 4, 16, 64)) * 4096
            addr = p.mmap(0, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
            data = bytes([(i * 31 + n) % 256]) * 100 + os.urandom(50)
            p.write(addr, data)
            p.touch_range(addr, length, write=True)
            child = p.fork()
            assert child.read(addr, len(data)) == data
            child.write(addr, b"child")             # copy-on-write: the parent keeps its bytes
            assert p.read(addr, len(data)) == data
            child.exit()
            order = rng.choice((0, 2))
            pages.append((k.alloc_pages(order=order), order))
            if rng.random() < 0.5:
                p.munmap(addr, length)
            else:
                kept.append((addr, data))
        for addr, data in kept:
            assert p.read(addr, len(data)) == data
        return p, pages

    before = accounted_pages(k)
    held = run_threads(worker)
    k.check()
    disjoint_blocks([pages for _, pages in held])
    for p, pages in held:
        p.exit()
        for pfn, order in pages:
            k.free_pages(pfn, order)
    k.check()
    assert accounted_pages(k) == before


def test_bulk_calls_are_one_step_for_other_threads(backend):
    """A bulk call holds the lock once: what one alloc_bulk returns is disjoint and freed whole
    by one free_bulk, whatever the other threads do meanwhile."""
    b = backend.BuddyAllocator(1 << 12)

    def worker(i):
        for _ in range(50):
            arr = b.alloc_bulk(64)
            assert len(np.unique(arr)) == len(arr)
            b.free_bulk(arr)

    run_threads(worker)
    b.check()
    assert b.free_pages == b.nr_pages


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_everything_at_once_under_memory_pressure(backend_name, round_):
    """4 threads each mixing every kind of call on one small Kernel with swap, so that reclaim,
    kswapd and swap-in run from several threads: afterwards every byte written reads back,
    check() holds, and exiting everything gives every page back."""
    k = linuxmm.Kernel("48M", backend=backend_name, swap="128M")
    cache = k.kmem_cache_create("mixed", 256)
    steps = 120 if backend_name == "c" else 40

    def worker(i):
        rng = random.Random(4000 * round_ + i)
        p = k.spawn(f"mixed{i}")
        regions, objs, kobjs, pages = [], [], [], []
        for n in range(steps):
            r = rng.random()
            if r < 0.3:
                length = rng.choice((16, 64, 256)) * 4096
                addr = p.mmap(0, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
                p.touch_range(addr, length, write=True)
                data = f"{i}:{n}:".encode() * 20
                p.write(addr + length - 4096, data)
                regions.append((addr, length, data))
            elif r < 0.4 and regions:
                addr, length, data = regions.pop(rng.randrange(len(regions)))
                assert p.read(addr + length - 4096, len(data)) == data
                p.munmap(addr, length)
            elif r < 0.5 and regions:
                addr, length, data = rng.choice(regions)
                assert p.read(addr + length - 4096, len(data)) == data
                child = p.fork()
                assert child.read(addr + length - 4096, len(data)) == data
                child.exit()
            elif r < 0.65:
                objs.append(cache.alloc())
            elif r < 0.7 and objs:
                cache.free(objs.pop())
            elif r < 0.85:
                kobjs.append(k.kmalloc(rng.choice((32, 512, 4096))))
            elif r < 0.9 and kobjs:
                k.kfree(kobjs.pop())
            else:
                order = rng.choice((0, 1))
                try:
                    pages.append((k.alloc_pages(order=order), order))
                except OutOfMemory:
                    pass
        for addr, length, data in regions:
            assert p.read(addr + length - 4096, len(data)) == data
        return p, objs, kobjs, pages

    before = accounted_pages(k)
    held = run_threads(worker)
    k.check()
    for p, objs, kobjs, pages in held:
        p.exit()
        give_back([(objs, kobjs, pages)], cache, k.kfree, k.free_pages)
    k.check()
    cache.destroy()
    assert accounted_pages(k) == before


ENGINES = ("struct lmm_buddy", "struct lmm_pa", "struct lmm_slab_sys", "struct lmm_mmu")
# entry points that take no engine lock: creation and destruction (no other thread has the
# engine yet or any more), snapshot export/import (under k.lock), the lock's own accessors, and
# the page callbacks the slab engine calls with the shared lock already held
UNLOCKED = re.compile(r"_(create|destroy|import|export|cb|set_lock|handle)$|^lmm_(buddy|pa)_lock$"
                      r"|^lmm_slab_buddy_|struct_size$")


def test_every_engine_entry_point_takes_the_lock():
    """An exported function of csrc/ whose first argument is an engine starts with LMM_LOCKED on
    that engine's lock: a new entry point cannot forget it."""
    csrc = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "csrc")
    pattern = re.compile(r"^(?!static)[a-z][\w \*]*?\b(lmm_\w+)\(((?:const )?struct lmm_\w+) "
                         r"\*(\w+)[,)][^{;]*\{\n\s*(.*)", re.M)
    seen = []
    for name in sorted(os.listdir(csrc)):
        if not name.endswith(".c") or name == "lock.c":
            continue
        with open(os.path.join(csrc, name)) as f:
            text = f.read()
        for func, engine, arg, first in pattern.findall(text):
            if engine not in ENGINES or UNLOCKED.search(func):
                continue
            seen.append(func)
            assert first.startswith(f"LMM_LOCKED({arg}->lock);"), f"{name}: {func} takes no lock"
    assert len(seen) > 100 and "lmm_buddy_alloc" in seen and "lmm_mmu_access" in seen


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_bare_slab_allocator_shares_its_buddys_lock(backend, round_):
    """A SlabAllocator over a bare BuddyAllocator takes the buddy's lock: threads mixing cache
    objects, kmalloc (large ones take buddy blocks) and the buddy's own alloc/free."""
    b = backend.BuddyAllocator(1 << 14)
    sa = backend.SlabAllocator(b)
    cache = sa.kmem_cache_create("bare_thread_test", 128)
    assert sa.lock is b.lock and cache.lock is b.lock
    ops = OPS[b.backend] // 4

    def worker(i):
        return mixed_slab_and_page_calls(random.Random(5000 * round_ + i), ops, cache,
                                         sa.kmalloc, sa.kfree, b.alloc, b.free,
                                         (8, 100, 3000, 9000), (0, 1))

    held = run_threads(worker)
    b.check()
    sa.check()
    check_and_give_back(held, cache, sa.kfree, b.free)
    b.check()
    sa.check()


def test_kernel_lock_behaves_as_an_rlock(backend_name):
    """k.lock (the C core's lock, or the reference's RLock): recursive for its holder, refused
    to other threads while held (acquire(blocking=False) is False and a C call of theirs
    waits), released only by its holder; the Kernel's methods work inside it."""
    k = linuxmm.Kernel("64M", backend=backend_name)
    lock = k.lock
    assert lock.acquire() and lock.acquire(blocking=False)     # recursive
    pfn = k.alloc_pages()                                       # methods run inside it
    seen = {}

    def other():
        seen["try"] = lock.acquire(blocking=False)
        try:
            lock.release()
        except RuntimeError:
            seen["release"] = "refused"
        seen["alloc"] = k.alloc_pages()                         # waits for the holder

    t = threading.Thread(target=other)
    t.start()
    t.join(timeout=0.5)
    assert t.is_alive() and seen == {"try": False, "release": "refused"}
    lock.release()
    lock.release()
    t.join(timeout=10)
    assert not t.is_alive() and seen["alloc"] != pfn
    k.free_pages(pfn)
    k.free_pages(seen["alloc"])
    with pytest.raises(RuntimeError):
        lock.release()
    k.check()
