"""Kernel access to page frames: page_address(), kmap/kunmap (mm/highmem.c: kmap_high,
map_new_virtual, flush_all_zero_pkmaps, kunmap_high) and kmap_local_page/kunmap_local
(__kmap_local_page_prot, kunmap_local_indexed).

Lowmem pages (every page on x86_64; pfn < max_low_pfn on i386) live in the kernel's direct map
at PAGE_OFFSET + pfn * 4096 and are returned without taking a slot.  HighMem pages (i386 only)
need a slot: one of LAST_PKMAP = 512 (PAE) persistent slots at PKMAP_BASE for kmap(), or one of
KM_MAX_IDX = 16 per-CPU fixmap slots for kmap_local_page(), unmapped strictly LIFO.

The kernel exports no counter of kmaps; ``stats()`` (``k.kmap_stats()``) reports the pkmap
slots in use and the kmap_local depth of each CPU.  Misuse raises InvalidFree (a ValueError)
and changes nothing: kunmap of a page that is not kmapped (kunmap_high's BUG), kunmap_local of
an address that is not the CPU's last kmap_local (WARN_ON_ONCE(addr != __fix_to_virt(idx))).
Where the kernel would sleep (every pkmap slot held) or BUG (a 17th kmap_local), RuntimeError.
"""
from . import _args
from .errors import InvalidFree

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
LAST_PKMAP = 512                   # CONFIG_X86_PAE (1024 without PAE)
LAST_PKMAP_MASK = LAST_PKMAP - 1
# PKMAP_BASE = (LDT_BASE_ADDR - PAGE_SIZE) & PMD_MASK and the fixmap sit just below 4 GiB; their
# exact values depend on NR_CPUS and the fixmap's contents.  These are a typical PAE layout.
PKMAP_BASE = 0xFF800000
FIXADDR_TOP = 0xFFFFF000
KM_MAX_IDX = 16
FIX_KMAP_BEGIN = 16                # fixmap index of the first kmap_local slot (illustrative)


class Kmap:
    """page_address / kmap / kmap_local state of one Kernel."""

    def __init__(self, arch, page_offset, max_low_pfn, max_pfn, cpus):
        self.highmem = arch == "i386"
        self.page_offset = page_offset
        self.max_low_pfn = max_low_pfn if self.highmem else max_pfn
        self.max_pfn = max_pfn
        self.cpus = cpus
        self.pkmap_count = [0] * LAST_PKMAP     # 0 free, 1 mapped unused, n > 1: n - 1 users
        self.pkmap_page = [None] * LAST_PKMAP   # pfn mapped by each slot
        self.page_slot = {}                     # pfn -> pkmap slot (page_address of HighMem)
        self.last_pkmap_nr = 0
        self.local = [[] for _ in range(cpus)]  # per CPU: the kmap_local stack of pfns

    # -- helpers --------------------------------------------------------------------------
    def _pfn(self, pfn):
        pfn = _args.as_int(pfn, "pfn")
        if not 0 <= pfn < self.max_pfn:
            raise ValueError(f"pfn {pfn} is outside 0..{self.max_pfn - 1}")
        return pfn

    def _cpu(self, cpu):
        cpu = _args.as_int(cpu, "cpu")
        if not 0 <= cpu < self.cpus:
            raise ValueError(f"cpu must be in 0..{self.cpus - 1}, got {cpu}")
        return cpu

    def is_highmem(self, pfn):
        return pfn >= self.max_low_pfn

    def lowmem_address(self, pfn):
        return self.page_offset + (pfn << PAGE_SHIFT)

    @staticmethod
    def local_address(cpu, idx):
        """__fix_to_virt(FIX_KMAP_BEGIN + idx + KM_MAX_IDX * cpu)."""
        return FIXADDR_TOP - ((FIX_KMAP_BEGIN + idx + KM_MAX_IDX * cpu) << PAGE_SHIFT)

    def page_address(self, pfn):
        """The kernel address of a page, or None for a HighMem page without a pkmap slot."""
        pfn = self._pfn(pfn)
        if not self.is_highmem(pfn):
            return self.lowmem_address(pfn)
        slot = self.page_slot.get(pfn)
        return None if slot is None else PKMAP_BASE + (slot << PAGE_SHIFT)

    # -- kmap / kunmap ----------------------------------------------------------------------
    def _flush_all_zero_pkmaps(self):
        for i in range(LAST_PKMAP):
            if self.pkmap_count[i] == 1:
                self.pkmap_count[i] = 0
                del self.page_slot[self.pkmap_page[i]]
                self.pkmap_page[i] = None

    def _map_new_virtual(self, pfn):
        count = LAST_PKMAP
        while True:
            self.last_pkmap_nr = (self.last_pkmap_nr + 1) & LAST_PKMAP_MASK
            if not self.last_pkmap_nr:
                self._flush_all_zero_pkmaps()
                count = LAST_PKMAP
            if not self.pkmap_count[self.last_pkmap_nr]:
                break
            count -= 1
            if not count:
                raise RuntimeError("every pkmap slot is in use: kmap() would sleep")
        slot = self.last_pkmap_nr
        self.pkmap_count[slot] = 1
        self.pkmap_page[slot] = pfn
        self.page_slot[pfn] = slot
        return slot

    def kmap(self, pfn):
        pfn = self._pfn(pfn)
        if not self.is_highmem(pfn):
            return self.lowmem_address(pfn)
        slot = self.page_slot.get(pfn)
        if slot is None:
            slot = self._map_new_virtual(pfn)
        self.pkmap_count[slot] += 1
        return PKMAP_BASE + (slot << PAGE_SHIFT)

    def kunmap(self, pfn):
        pfn = self._pfn(pfn)
        if not self.is_highmem(pfn):
            return
        slot = self.page_slot.get(pfn)
        if slot is None or self.pkmap_count[slot] < 2:
            raise InvalidFree(f"kunmap of pfn {pfn}, which is not kmapped")
        self.pkmap_count[slot] -= 1          # 1: stays mapped until the next flush

    # -- kmap_local_page / kunmap_local -----------------------------------------------------
    def kmap_local_page(self, pfn, cpu=0):
        pfn, cpu = self._pfn(pfn), self._cpu(cpu)
        if not self.is_highmem(pfn):
            return self.lowmem_address(pfn)
        stack = self.local[cpu]
        if len(stack) >= KM_MAX_IDX:
            raise RuntimeError(f"cpu {cpu} already holds {KM_MAX_IDX} kmap_local mappings")
        stack.append(pfn)
        return self.local_address(cpu, len(stack) - 1)

    def kunmap_local(self, addr, cpu=0):
        addr, cpu = _args.as_int(addr, "addr"), self._cpu(cpu)
        lo = self.local_address(self.cpus - 1, KM_MAX_IDX - 1)
        hi = self.local_address(0, 0)
        if not lo <= addr < hi + PAGE_SIZE:
            if self.page_offset <= addr < self.lowmem_address(self.max_low_pfn):
                return                          # a lowmem page: nothing was mapped
            raise InvalidFree(f"kunmap_local of {addr:#x}: not a kmap_local address")
        stack = self.local[cpu]
        if not stack or addr & ~(PAGE_SIZE - 1) != self.local_address(cpu, len(stack) - 1):
            raise InvalidFree(f"kunmap_local of {addr:#x} on cpu {cpu}: not its last "
                              "kmap_local mapping (they are unmapped in reverse order)")
        stack.pop()

    def stats(self):
        """No kernel counter exists: pkmap slots in use (count > 1), slots mapped but unused
        (count 1, freed at the next flush), and each CPU's kmap_local depth."""
        return {"pkmap_slots": LAST_PKMAP if self.highmem else 0,
                "pkmap_in_use": sum(1 for c in self.pkmap_count if c > 1),
                "pkmap_unused": sum(1 for c in self.pkmap_count if c == 1),
                "kmap_local": [len(s) for s in self.local]}
