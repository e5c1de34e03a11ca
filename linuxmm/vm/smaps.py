"""/proc/<pid>/smaps, smaps_rollup and statm (fs/proc/task_mmu.c: show_smap, __show_smap,
smaps_account, smaps_page_accumulate, show_smaps_rollup, task_statm), byte for byte."""
from .constants import PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, VM_LOCKED, vm_flags_string
from .mmu_defs import (_PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE,
                       _PAGE_SPECIAL,
                       MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES, PG_ANON, PG_DIRTY,
                       PG_REFERENCED, PG_SWAPBACKED, PMD_SIZE, pte_pfn)
from .procfs import vma_header, vma_line

PSS_SHIFT = 12
_FIELDS = ("resident", "pss", "pss_dirty", "pss_anon", "pss_file", "pss_shmem", "shared_clean",
           "shared_dirty", "private_clean", "private_dirty", "referenced", "anonymous",
           "lazyfree", "anonymous_thp", "swap", "swap_pss", "pss_locked")


def _new_stats():
    return dict.fromkeys(_FIELDS, 0)


def _accumulate(mss, flags, size, pss, dirty, locked, private):
    """smaps_page_accumulate."""
    mss["pss"] += pss
    if flags & PG_ANON:
        mss["pss_anon"] += pss
    elif flags & PG_SWAPBACKED:
        mss["pss_shmem"] += pss
    else:
        mss["pss_file"] += pss
    if locked:
        mss["pss_locked"] += pss
    if dirty or flags & PG_DIRTY:
        mss["pss_dirty"] += pss
        mss["private_dirty" if private else "shared_dirty"] += size
    else:
        mss["private_clean" if private else "shared_clean"] += size


def _swap_entry(mm, entry, mss):
    """smaps_pte_entry of a swap PTE: Swap, and SwapPss shared by the entry's users."""
    from .swap import pte_to_swp_entry
    count = mm.kernel.swap_state.swap_count(pte_to_swp_entry(entry))
    mss["swap"] += PAGE_SIZE
    pss = PAGE_SIZE << PSS_SHIFT
    mss["swap_pss"] += pss // count if count >= 2 else pss


def smap_gather(mm, vma, mss):
    """The page-table walk of smap_gather_stats for one VMA (the zero page and other special
    PTEs are skipped: no struct page to count)."""
    mmu = mm.kernel.mmu
    addrs, entries = mmu.walk(mm.pgd, vma.vm_start, vma.vm_end)
    locked = bool(vma.vm_flags & VM_LOCKED)
    for entry in entries.tolist():
        if entry and not entry & (_PAGE_PRESENT | _PAGE_PROTNONE):
            _swap_entry(mm, entry, mss)
            continue
        if not entry & (_PAGE_PRESENT | _PAGE_PROTNONE) or entry & _PAGE_SPECIAL:
            continue                          # pte_present: PROT_NONE PTEs count too
        pfn = pte_pfn(entry)
        nr = (PMD_SIZE >> PAGE_SHIFT) if entry & _PAGE_PSE else 1
        size = nr * PAGE_SIZE
        flags = int(mmu.flags[pfn])
        young = bool(entry & _PAGE_ACCESSED)
        dirty = bool(entry & _PAGE_DIRTY)
        if flags & PG_ANON:
            mss["anonymous"] += size
            if not flags & PG_SWAPBACKED and not dirty and not flags & PG_DIRTY:
                mss["lazyfree"] += size
            if entry & _PAGE_PSE:
                mss["anonymous_thp"] += size
        mss["resident"] += size
        if young or flags & PG_REFERENCED:
            mss["referenced"] += size
        if mmu.refcount[pfn] == 1:
            _accumulate(mss, flags, size, size << PSS_SHIFT, dirty, locked, True)
            continue
        mapcount = int(mmu.mapcount[pfn])
        pss = PAGE_SIZE << PSS_SHIFT
        if mapcount >= 2:
            pss //= mapcount
        for _ in range(nr):
            _accumulate(mss, flags, PAGE_SIZE, pss, dirty, locked, mapcount < 2)


def _dec(key, value):
    width = 7 if key == "Private_Hugetlb:" else 8
    pad = key.ljust(16) if len(key) < 16 else key + " "
    return f"{pad}{value:{width}d} kB\n"


def _show_smap(mss, rollup):
    kb = lambda b: b >> 10                             # noqa: E731
    pss = lambda b: b >> PSS_SHIFT >> 10               # noqa: E731
    rows = [("Rss:", kb(mss["resident"])), ("Pss:", pss(mss["pss"])),
            ("Pss_Dirty:", pss(mss["pss_dirty"]))]
    if rollup:
        rows += [("Pss_Anon:", pss(mss["pss_anon"])), ("Pss_File:", pss(mss["pss_file"])),
                 ("Pss_Shmem:", pss(mss["pss_shmem"]))]
    rows += [("Shared_Clean:", kb(mss["shared_clean"])),
             ("Shared_Dirty:", kb(mss["shared_dirty"])),
             ("Private_Clean:", kb(mss["private_clean"])),
             ("Private_Dirty:", kb(mss["private_dirty"])),
             ("Referenced:", kb(mss["referenced"])), ("Anonymous:", kb(mss["anonymous"])),
             ("KSM:", 0), ("LazyFree:", kb(mss["lazyfree"])),
             ("AnonHugePages:", kb(mss["anonymous_thp"])), ("ShmemPmdMapped:", 0),
             ("FilePmdMapped:", 0), ("Shared_Hugetlb:", 0), ("Private_Hugetlb:", 0),
             ("Swap:", kb(mss["swap"])), ("SwapPss:", pss(mss["swap_pss"])),
             ("Locked:", pss(mss["pss_locked"]))]
    return "".join(_dec(k, v) for k, v in rows)


def thp_eligible(mm, vma):
    from .huge_memory import thp_vma_suitable_mode
    if not thp_vma_suitable_mode(mm, vma):
        return 0
    first = (vma.vm_start + PMD_SIZE - 1) & ~(PMD_SIZE - 1)
    return 1 if first + PMD_SIZE <= vma.vm_end else 0


def render_smaps(mm):
    out = []
    for vma in mm.tree:
        mss = _new_stats()
        smap_gather(mm, vma, mss)
        out.append(vma_header(mm, vma))
        out.append(_dec("Size:", (vma.vm_end - vma.vm_start) >> 10))
        out.append(_dec("KernelPageSize:", 4))
        out.append(_dec("MMUPageSize:", 4))
        out.append(_show_smap(mss, False))
        out.append(f"THPeligible:    {thp_eligible(mm, vma):8d}\n")
        out.append("VmFlags: " + vm_flags_string(vma.vm_flags) + "\n")
    gate = mm.gate_vma
    if gate is not None:
        out.append(vma_line(gate[0], gate[1], gate[2], 0, (0, 0), 0, "[vsyscall]"))
        out.append(_dec("Size:", (gate[1] - gate[0]) >> 10))
        out.append(_dec("KernelPageSize:", 4))
        out.append(_dec("MMUPageSize:", 4))
        out.append(_show_smap(_new_stats(), False))
        out.append(f"THPeligible:    {0:8d}\n")
        out.append("VmFlags: " + vm_flags_string(gate[2]) + "\n")
    return "".join(out)


def render_smaps_rollup(mm):
    vmas = list(mm.tree)
    mss = _new_stats()
    for vma in vmas:
        smap_gather(mm, vma, mss)
    start = vmas[0].vm_start if vmas else 0
    end = vmas[-1].vm_end if vmas else 0
    head = vma_line(start, end, 0, 0, (0, 0), 0, "[rollup]")
    return head + _show_smap(mss, True)


def render_statm(mm):
    """task_statm: size resident shared text lib data dt, in pages."""
    c = mm.counters
    shared = int(c[MM_FILEPAGES] + c[MM_SHMEMPAGES])
    resident = shared + int(c[MM_ANONPAGES])
    text = (((mm.end_code + ~PAGE_MASK) & PAGE_MASK) - (mm.start_code & PAGE_MASK)) >> PAGE_SHIFT
    data = mm.data_vm + mm.stack_vm
    return f"{mm.total_vm} {resident} {shared} {text} 0 {data} 0\n"
