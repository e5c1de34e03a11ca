"""Kernel-wide invariants of the fault path: every frame has exactly one owner and every count
agrees with the page tables and the page cache (run by Kernel.check())."""
from collections import Counter

import numpy as np

from ..errors import InvariantError
from .mmu_defs import (_PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE, _PAGE_SPECIAL, MM_ANONPAGES,
                       MM_FILEPAGES, MM_PGTABLES_BYTES, MM_SHMEMPAGES, NR_ACTIVE_ANON,
                       NR_ACTIVE_FILE, NR_ANON_MAPPED, NR_FILE_MAPPED, NR_FILE_PAGES,
                       NR_INACTIVE_ANON, NR_INACTIVE_FILE, NR_PAGETABLE, NR_SHMEM, PAGE_SIZE,
                       PG_ACTIVE, PG_ANON, PG_FILE, PG_HEAD, PG_LRU, PG_OWNER_MASK, PG_PGTABLE,
                       PG_SHMEM, PG_SWAPBACKED, PG_SWAPCACHE, PG_TAIL, PG_ZERO, pte_pfn,
                       PG_DIRTY, PG_ORDER_MASK, PG_READAHEAD, PG_REFERENCED, PG_UPTODATE,
                       NR_UNEVICTABLE, PG_MLOCKED, PG_UNEVICTABLE, pg_order)

HPAGE_NR = 512


def _mappings(kernel):
    """Every address_space: the file system's inodes and the files VMAs map (shmem)."""
    seen = {}
    for inode in kernel.fs.inodes.values():
        seen[inode.i_mapping.id] = inode.i_mapping
    for process in kernel._processes.values():
        for vma in process.mm.tree:
            if vma.vm_file is not None:
                mapping = vma.vm_file.f_inode.i_mapping
                seen[mapping.id] = mapping
    for mapping in kernel.address_spaces.values():
        seen[mapping.id] = mapping
    return seen


# flags every frame of a page-cache folio shares with its head
_FOLIO_FLAGS = (PG_FILE | PG_SHMEM | PG_SWAPBACKED | PG_UPTODATE | PG_LRU | PG_DIRTY
                | PG_READAHEAD | PG_REFERENCED | PG_ACTIVE | PG_ORDER_MASK)


def _check_file_folio(mmu, pfn, f, problems):
    """A frame of a large page-cache folio: naturally aligned in pfn and index, PG_HEAD on the
    first frame only, PG_TAIL on the others, same mapping and consecutive indices, the
    folio-wide flags equal on all frames."""
    order = pg_order(f)
    nr = 1 << order
    head = pfn & ~(nr - 1)
    hf = int(mmu.flags[head])
    want = PG_HEAD if pfn == head else PG_TAIL
    if f & (PG_HEAD | PG_TAIL) != want:
        problems.append(f"file pfn {pfn} of an order-{order} folio at {head} lacks "
                        f"{'PG_HEAD' if want == PG_HEAD else 'PG_TAIL'}")
    if hf & _FOLIO_FLAGS != f & _FOLIO_FLAGS or mmu.mapping[head] != mmu.mapping[pfn] \
            or int(mmu.index[head]) + (pfn - head) != int(mmu.index[pfn]) \
            or int(mmu.index[head]) & (nr - 1):
        problems.append(f"file pfn {pfn}: state {f:#x}/{int(mmu.index[pfn])} disagrees with "
                        f"its folio head {head} ({hf:#x}/{int(mmu.index[head])})")


def check_frames(kernel):
    mmu = kernel.mmu
    flags = mmu.flags
    problems = []
    tables = set()
    mapped = Counter()
    for process in kernel._processes.values():
        mm = process.mm
        if mm.pgd is None:
            continue
        own = list(mmu.table_pages(mm.pgd)) + list(mm.deposited.values())
        for pfn in own:
            if pfn in tables:
                problems.append(f"page-table page {pfn} belongs to two tables")
            tables.add(pfn)
            if flags[pfn] != PG_PGTABLE:
                problems.append(f"page-table page {pfn} has flags {int(flags[pfn]):#x}")
        expect_bytes = (len(own) - 1) * PAGE_SIZE
        if mm.counters[MM_PGTABLES_BYTES] != expect_bytes:
            problems.append(f"pid {process.pid}: VmPTE {int(mm.counters[MM_PGTABLES_BYTES])} "
                            f"bytes, tables hold {expect_bytes}")
        rss = Counter()
        _, entries = mmu.walk(mm.pgd, 0, mm.task_size)
        for entry in entries.tolist():
            if not entry & (_PAGE_PRESENT | _PAGE_PROTNONE) or entry & _PAGE_SPECIAL:
                continue
            pfn = pte_pfn(entry)
            mapped[pfn] += 1
            f = int(flags[pfn])
            n = HPAGE_NR if entry & _PAGE_PSE else 1
            if f & PG_ANON:
                rss[MM_ANONPAGES] += n
            elif f & PG_SHMEM:
                rss[MM_SHMEMPAGES] += n
            elif f & PG_FILE:
                rss[MM_FILEPAGES] += n
            else:
                problems.append(f"pid {process.pid} maps pfn {pfn} which has no owner")
        for i in (MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES):
            if rss[i] != mm.counters[i]:
                problems.append(f"pid {process.pid}: rss counter {i} is "
                                f"{int(mm.counters[i])}, its PTEs map {rss[i]}")
    cached = {}
    for mapping in _mappings(kernel).values():
        for index, pfn in mapping.pages.items():
            if pfn in cached:
                problems.append(f"pfn {pfn} is cached twice")
            cached[pfn] = mapping
            if not flags[pfn] & PG_FILE or mmu.mapping[pfn] != mapping.id \
                    or mmu.index[pfn] != index:
                problems.append(f"cache page {pfn} ({mapping.host.path}:{index}) has state "
                                f"{int(flags[pfn]):#x}/{int(mmu.mapping[pfn])}/"
                                f"{int(mmu.index[pfn])}")
    owned = np.nonzero(flags & PG_OWNER_MASK)[0].tolist()
    batched = Counter(kernel.lru_lazyfree)           # references of cpu 0's folio batches
    batched.update(kernel.lru_deactivate)
    batched.update(pfn for pfn, _ in kernel.mlock_fbatch)
    node = Counter()
    nr_mlock = 0
    for pfn in owned:
        f = int(flags[pfn])
        kinds = [k for k in (PG_ANON, PG_FILE, PG_PGTABLE, PG_ZERO) if f & k]
        if len(kinds) != 1:
            problems.append(f"pfn {pfn} has {len(kinds)} owners (flags {f:#x})")
            continue
        if f & PG_FILE:
            nr = 1                  # every frame of a page-cache folio is counted on its own
            if f & PG_ORDER_MASK:
                _check_file_folio(mmu, pfn, f, problems)
        elif f & PG_TAIL:
            continue
        else:
            nr = HPAGE_NR if f & PG_HEAD else 1
        ref, mc = int(mmu.refcount[pfn]), int(mmu.mapcount[pfn])
        if f & PG_PGTABLE:
            node[NR_PAGETABLE] += 1
            if pfn not in tables:
                problems.append(f"page-table page {pfn} is in no page table")
        elif f & PG_ZERO:
            if pfn not in (kernel.zero_pfn, kernel.huge_zero_pfn):
                problems.append(f"pfn {pfn} claims to be a zero page")
        elif f & PG_ANON:             # references: its mappings, the lru batch's, swap cache
            held = batched[pfn] + (1 if f & PG_SWAPCACHE else 0)
            if f & PG_SWAPCACHE:
                node[NR_FILE_PAGES] += 1
            if mc != mapped[pfn] or ref != mc + held or ref <= 0 or (not mc and not held):
                problems.append(f"anon pfn {pfn}: refcount {ref}, mapcount {mc}, "
                                f"{mapped[pfn]} PTEs, {held} in lru batches")
            if mc:
                node[NR_ANON_MAPPED] += nr
        else:
            if pfn not in cached:
                problems.append(f"file pfn {pfn} is in no page cache")
            if mc != mapped[pfn] or ref != mc + 1 + batched[pfn]:
                problems.append(f"file pfn {pfn}: refcount {ref}, mapcount {mc}, "
                                f"{mapped[pfn]} PTEs, {batched[pfn]} in lru batches")
            node[NR_FILE_PAGES] += 1
            if f & PG_SHMEM:
                node[NR_SHMEM] += 1
            if mc:
                node[NR_FILE_MAPPED] += 1
        if f & PG_MLOCKED:
            nr_mlock += nr
        if f & PG_UNEVICTABLE and not f & PG_LRU:
            problems.append(f"pfn {pfn} is PG_unevictable but on no LRU (flags {f:#x})")
        if f & PG_LRU:
            anon = bool(f & PG_SWAPBACKED)
            active = bool(f & PG_ACTIVE)
            key = ((NR_ACTIVE_ANON if active else NR_INACTIVE_ANON) if anon
                   else (NR_ACTIVE_FILE if active else NR_INACTIVE_FILE))
            if f & PG_UNEVICTABLE:
                key = NR_UNEVICTABLE
            node[key] += nr
    from .lruvec import check_lru
    check_lru(mmu, problems)
    for pfn in tables:
        if pfn not in owned:
            problems.append(f"page-table page {pfn} is not marked PG_PGTABLE")
    for item in (NR_ANON_MAPPED, NR_FILE_MAPPED, NR_FILE_PAGES, NR_SHMEM, NR_PAGETABLE,
                 NR_INACTIVE_ANON, NR_ACTIVE_ANON, NR_INACTIVE_FILE, NR_ACTIVE_FILE,
                 NR_UNEVICTABLE):
        if node[item] != mmu.node[item]:
            problems.append(f"node counter {item} is {int(mmu.node[item])}, frames say "
                            f"{node[item]}")
    if nr_mlock != kernel.mlock_stats["nr_mlock"]:
        problems.append(f"nr_mlock is {kernel.mlock_stats['nr_mlock']}, PG_mlocked frames "
                        f"say {nr_mlock}")
    for head, count in kernel.mlock_count.items():
        if not int(flags[head]) & PG_UNEVICTABLE or count < 0:
            problems.append(f"mlock_count {count} of pfn {head}, which is not unevictable")
    # the allocator must have handed each of these frames out, and slab must not own one too
    # (every frame when there are few, an even sample of 20000 otherwise)
    pa = kernel._pa
    step = max(1, len(owned) // 20000)
    for pfn in owned[::step]:
        state = pa.page_info(pfn)["state"]
        if state not in ("allocated", "tail"):
            problems.append(f"pfn {pfn} is owned but the allocator says {state}")
            break
        if kernel.slab.object_info(kernel.slab.page_address(pfn))["kind"] is not None:
            problems.append(f"pfn {pfn} is owned by the fault path and by slab")
            break
    if problems:
        raise InvariantError("; ".join(problems[:20]))
