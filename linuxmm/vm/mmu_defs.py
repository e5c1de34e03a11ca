"""What both MMU backends share: PTE bits, per-frame page flags, counter indices, access-stop
reasons and the VMA snapshot layout the bulk access loop reads.

Pure Python (the reference MMU uses it); csrc/lmm.h repeats every value as an LMM_* #define for
the C core and tests/test_mmu_defs.py checks that both agree.

Page tables are x86_64 4-level (PGD -> PUD -> PMD -> PTE, 9 bits a level, P4D folded) with the
hardware's entry format: the pfn in bits 12..51, flag bits below and NX in bit 63.  Entries are
handled as unsigned 64-bit Python ints; the numpy views hold them as uint64.
"""

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PTRS_PER_TABLE = 512
PMD_SHIFT = 21
PUD_SHIFT = 30
PGDIR_SHIFT = 39
PMD_SIZE = 1 << PMD_SHIFT
PUD_SIZE = 1 << PUD_SHIFT
PGDIR_SIZE = 1 << PGDIR_SHIFT
HPAGE_PMD_ORDER = PMD_SHIFT - PAGE_SHIFT          # 9: a PMD-mapped THP is order 9

# -- PTE bits (arch/x86/include/asm/pgtable_types.h) ---------------------------------------
_PAGE_PRESENT = 1 << 0
_PAGE_RW = 1 << 1
_PAGE_USER = 1 << 2
_PAGE_PWT = 1 << 3
_PAGE_PCD = 1 << 4
_PAGE_ACCESSED = 1 << 5
_PAGE_DIRTY = 1 << 6
_PAGE_PSE = 1 << 7             # a PMD/PUD leaf (huge page)
_PAGE_GLOBAL = 1 << 8
_PAGE_PROTNONE = _PAGE_GLOBAL  # PROT_NONE: P clear, this bit set; still "present" to the kernel
_PAGE_SPECIAL = 1 << 9         # no struct page behind it to count (the zero page)
_PAGE_NX = 1 << 63
PTE_PFN_MASK = ((1 << 52) - 1) & ~((1 << PAGE_SHIFT) - 1)
PTE_FLAGS_MASK = ((1 << 64) - 1) & ~PTE_PFN_MASK

# the entry that points to a lower table (_PAGE_TABLE): P, RW, US, A, D
_PAGE_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY


def pte_pfn(pte):
    return (pte & PTE_PFN_MASK) >> PAGE_SHIFT


def pte_present(pte):
    """pte_present: P, or PROT_NONE (kept present for the kernel's purposes)."""
    return bool(pte & (_PAGE_PRESENT | _PAGE_PROTNONE))


# -- per-frame page flags (the fault-path half of struct page / folio) ----------------------
# Kept in one uint32 per frame next to refcount, mapcount, mapping and index.  The owner bits
# (PG_ANON, PG_FILE, PG_PGTABLE, PG_ZERO) say who holds an allocated frame; k.check() proves
# every frame has exactly one owner.
PG_ANON = 1 << 0              # folio_test_anon: mapping is an anon_vma id
PG_ANON_EXCLUSIVE = 1 << 1    # PageAnonExclusive: mapped by exactly one mm, may be reused
PG_FILE = 1 << 2              # in a page cache: mapping is an inode's mapping id
PG_PGTABLE = 1 << 3           # a page-table page (PageTable)
PG_ZERO = 1 << 4              # the shared zero page / huge zero page
PG_UPTODATE = 1 << 5
PG_DIRTY = 1 << 6
PG_READAHEAD = 1 << 7         # the async readahead marker
PG_REFERENCED = 1 << 8
PG_ACTIVE = 1 << 9
PG_LRU = 1 << 10
PG_SWAPBACKED = 1 << 11       # anon and shmem
PG_HEAD = 1 << 12             # first page of a large folio (THP)
PG_TAIL = 1 << 13             # other pages of a large folio
PG_LOCKED = 1 << 14
PG_WRITEBACK = 1 << 15
PG_MLOCKED = 1 << 16
PG_SHMEM = 1 << 17            # a shmem/tmpfs page-cache page (with PG_FILE)
PG_SWAPCACHE = 1 << 18        # an anonymous folio in the swap cache (mapping index = its slot)
PG_RECLAIM = 1 << 19          # written back for reclaim: rotate to the tail when done
PG_UNEVICTABLE = 1 << 20      # on the unevictable list (mlocked, ramfs)
PG_WORKINGSET = 1 << 21       # refaulted within the workingset
PG_OWNER_MASK = PG_ANON | PG_FILE | PG_PGTABLE | PG_ZERO
# The order of a large page-cache folio, kept on every one of its frames (Python only: the C
# core never looks at these bits).  Anonymous THPs do not use it (their tails carry PG_TAIL
# alone); a page-cache frame of order k > 0 has PG_HEAD (the first) or PG_TAIL (the others).
PG_ORDER_SHIFT = 24
PG_ORDER_MASK = 0xF << PG_ORDER_SHIFT


def pg_order(flags):
    """folio_order() of a page-cache frame from its flags (0 for an order-0 folio)."""
    return (int(flags) & PG_ORDER_MASK) >> PG_ORDER_SHIFT

# -- per-mm counters (mm->rss_stat and friends): one int64 array per mm ----------------------
MM_FILEPAGES = 0
MM_ANONPAGES = 1
MM_SWAPENTS = 2
MM_SHMEMPAGES = 3
MM_MIN_FLT = 4            # current->min_flt (getrusage ru_minflt)
MM_MAJ_FLT = 5            # current->maj_flt
MM_PGTABLES_BYTES = 6     # mm->pgtables_bytes (VmPTE)
MM_HIWATER_RSS = 7        # mm->hiwater_rss (VmHWM), updated when rss falls or on read
MM_HUGE_PMDS = 8          # PMD-mapped THPs (AnonHugePages of smaps/meminfo)
NR_MM_COUNTERS = 16

# -- global event counters (/proc/vmstat vm_event items) ------------------------------------
EV_PGFAULT = 0
EV_PGMAJFAULT = 1
EV_PGREUSE = 2
EV_THP_FAULT_ALLOC = 3
EV_THP_FAULT_FALLBACK = 4
EV_PGPGIN = 5
EV_PGPGOUT = 6
EV_PGACTIVATE = 7
EV_THP_ZERO_PAGE_ALLOC = 8
EV_PGLAZYFREE = 9
NR_VM_EVENTS = 16
VM_EVENT_NAMES = {EV_PGFAULT: "pgfault", EV_PGMAJFAULT: "pgmajfault", EV_PGREUSE: "pgreuse",
                  EV_THP_FAULT_ALLOC: "thp_fault_alloc",
                  EV_THP_FAULT_FALLBACK: "thp_fault_fallback", EV_PGPGIN: "pgpgin",
                  EV_PGPGOUT: "pgpgout", EV_PGACTIVATE: "pgactivate",
                  EV_THP_ZERO_PAGE_ALLOC: "thp_zero_page_alloc", EV_PGLAZYFREE: "pglazyfree"}

# -- LRU lists (enum lru_list) ---------------------------------------------------------------
LRU_INACTIVE_ANON = 0
LRU_ACTIVE_ANON = 1
LRU_INACTIVE_FILE = 2
LRU_ACTIVE_FILE = 3
LRU_UNEVICTABLE = 4
NR_LRU_LISTS = 5

# -- node counters (node_stat_item, in pages) -------------------------------------------------
NR_INACTIVE_ANON = 0
NR_ACTIVE_ANON = 1
NR_INACTIVE_FILE = 2
NR_ACTIVE_FILE = 3
NR_UNEVICTABLE = 4
NR_ANON_MAPPED = 5        # nr_anon_pages (AnonPages)
NR_FILE_MAPPED = 6        # nr_mapped (Mapped)
NR_FILE_PAGES = 7         # nr_file_pages (Cached + Buffers + SwapCached)
NR_FILE_DIRTY = 8         # nr_dirty
NR_WRITEBACK = 9
NR_SHMEM = 10
NR_ANON_THPS = 11         # nr_anon_transparent_hugepages, in THPs
NR_PAGETABLE = 12         # nr_page_table_pages (PageTables)
NR_SHMEM_PMDMAPPED = 13
NR_FILE_PMDMAPPED = 14
NR_NODE_ITEMS = 16
NODE_STAT_NAMES = {NR_INACTIVE_ANON: "nr_inactive_anon", NR_ACTIVE_ANON: "nr_active_anon",
                   NR_INACTIVE_FILE: "nr_inactive_file", NR_ACTIVE_FILE: "nr_active_file",
                   NR_UNEVICTABLE: "nr_unevictable", NR_ANON_MAPPED: "nr_anon_pages",
                   NR_FILE_MAPPED: "nr_mapped", NR_FILE_PAGES: "nr_file_pages",
                   NR_FILE_DIRTY: "nr_dirty", NR_WRITEBACK: "nr_writeback",
                   NR_SHMEM: "nr_shmem", NR_ANON_THPS: "nr_anon_transparent_hugepages",
                   NR_PAGETABLE: "nr_page_table_pages",
                   NR_SHMEM_PMDMAPPED: "nr_shmem_pmdmapped",
                   NR_FILE_PMDMAPPED: "nr_file_pmdmapped"}

# -- the VMA snapshot the bulk access loop reads (one row per VMA, sorted by start) ----------
# int64 columns: vm_start, vm_end, vm_flags, vm_pgoff, anon_vma id (0: none), snapshot flags
SNAP_START = 0
SNAP_END = 1
SNAP_FLAGS = 2
SNAP_PGOFF = 3
SNAP_ANON_VMA = 4
SNAP_KIND = 5
SNAP_COLUMNS = 6
SNAPK_ANON = 1            # private anonymous VMA whose faults the loop may handle itself
SNAPK_NO_ZERO_PAGE = 2    # read faults must not map the zero page (e.g. THP-eligible): to Python

# -- why the bulk access loop stopped (returned with the index of the access) ---------------
ACCESS_DONE = 0           # every access completed
ACCESS_FAULT = 1          # a fault the loop does not handle: Python's handle_mm_fault does it
ACCESS_NOMEM = 2          # the page allocator refused a page: Python retries with reclaim
ACCESS_KSWAPD = 3         # the access completed, but its allocation woke kswapd: run it first

# -- address space and allocation (x86_64, 4-level) ------------------------------------------
TASK_SIZE = 0x7FFFFFFFF000            # TASK_SIZE_MAX: user addresses are below it
USER_TOP = 1 << 47                    # what the lower half of the PGD maps (walk/free ranges)
PAE_TASK_SIZE = 0xC0000000            # i386 PAE (levels=3): TASK_SIZE and the user part's top
PAE_PGD_PTRS = 4                      # PTRS_PER_PGD on PAE = PREALLOCATED_PMDS
GFP_PGTABLE_USER = 0xCC0 | 0x400000 | 0x100      # GFP_KERNEL | __GFP_ACCOUNT | __GFP_ZERO
GFP_ANON_PAGE = 0x100CCA              # GFP_HIGHUSER_MOVABLE, the anonymous fault's page
VM_READ = 0x1
VM_WRITE = 0x2
VM_EXEC = 0x4

# table levels as the MMU engines number them
LEVEL_PTE = 1
LEVEL_PMD = 2
LEVEL_PUD = 3
LEVEL_PGD = 4

# -- swap areas in the MMU engines (csrc/swap.c; linuxmm/vm/swap.py) --------------------------
MAX_SWAPFILES = 32                 # 1 << SWP_TYPE_BITS (minus the special types, 27 really)
SWAPFILE_CLUSTER = 512
# swap's counters and readahead state: int64 mmu.swap_stat[NR_SWAP_STATS]
SWS_NONRESIDENT_AGE = 0   # the node's nonresident age (workingset.py)
SWS_RA_HITS = 1           # swapin_readahead_hits
SWS_PREV_OFFSET = 2       # swapin_nr_pages' prev_offset
SWS_LAST_RA = 3           # swapin_nr_pages' last_readahead_pages
SWS_PAGE_CLUSTER = 4      # vm.page-cluster as the access loop's caller last set it
SWS_PSWPIN = 5
SWS_PSWPOUT = 6
SWS_SWAP_RA = 7
SWS_SWAP_RA_HIT = 8
SWS_NR_SWAPCACHED = 9
SWS_REFAULT_ANON = 10     # workingset_refault_anon
SWS_ACTIVATE_ANON = 11    # workingset_activate_anon
SWS_RESTORE_ANON = 12     # workingset_restore_anon
NR_SWAP_STATS = 16
# the /proc/vmstat items kept in swap_stat
SWAP_STAT_NAMES = {SWS_PSWPIN: "pswpin", SWS_PSWPOUT: "pswpout", SWS_SWAP_RA: "swap_ra",
                   SWS_SWAP_RA_HIT: "swap_ra_hit", SWS_NR_SWAPCACHED: "nr_swapcached",
                   SWS_REFAULT_ANON: "workingset_refault_anon",
                   SWS_ACTIVATE_ANON: "workingset_activate_anon",
                   SWS_RESTORE_ANON: "workingset_restore_anon"}
# one swap area's scalars: int64 info[NR_SWPI]
SWPI_MAX = 0              # slots, the header included (si->max)
SWPI_PAGES = 1            # usable slots (si->pages)
SWPI_INUSE = 2            # si->inuse_pages
SWPI_CURRENT = 3          # cpu 0's current cluster
SWPI_NEXT_OFFSET = 4      # where its next slot search starts
SWPI_FREE_HEAD = 5        # the free-cluster ring: first entry
SWPI_NR_FREE = 6          # the free-cluster ring: entries
SWPI_SYNC = 7             # SWP_SYNCHRONOUS_IO (zram)
NR_SWPI = 8
# a swap-cache folio's entry in mmu.swap_entry[pfn]: type << 40 | offset (0: none)
SWP_ENTRY_SHIFT = 40

def swapin_window(st, offset, max_pages):
    """__swapin_nr_pages(): the readahead window for a swap-in at `offset` from the recent
    readahead hits in st (a swap_stat array: SWS_RA_HITS, SWS_PREV_OFFSET, SWS_LAST_RA), which
    it updates.  The Python fault path and the reference engine share it; csrc/swap.c is the
    C twin."""
    hits = int(st[SWS_RA_HITS])
    st[SWS_RA_HITS] = 0
    pages = hits + 2
    if pages == 2:
        prev = int(st[SWS_PREV_OFFSET])
        if offset != prev + 1 and offset != prev - 1:
            pages = 1
    else:
        roundup = 4
        while roundup < pages:
            roundup <<= 1
        pages = roundup
    pages = max(min(pages, max_pages), int(st[SWS_LAST_RA]) // 2)
    if not hits:
        st[SWS_PREV_OFFSET] = offset
    st[SWS_LAST_RA] = pages
    return pages
