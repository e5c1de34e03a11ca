"""x86 boot of physical memory: e820 map -> memblock -> zones, as Linux 6.x does it.

Everything here is a pure function of the inputs (arch, e820 map, reservations) and works on
pfn ranges, never on single pages, so a 1 TiB machine boots in microseconds.

Kernel sources imitated: arch/x86/kernel/e820.c (parsing, sanitising, ``e820__memblock_setup``),
arch/x86/kernel/setup.c (``trim_bios_range``: the first page and 640 KiB-1 MiB are not RAM;
``memblock_reserve(0, SZ_1M)``: the first MiB stays reserved), arch/x86/mm/init.c
(``zone_sizes_init``), arch/x86/mm/init_32.c (``find_low_pfn_range``: 896 MiB lowmem),
mm/mm_init.c (``free_area_init``, ``calculate_node_totalpages``), mm/sparse.c (memmap per section).
"""
import re

from .errors import ArgumentTypeError
from .units import parse_size

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
MAX_DMA_PFN = (16 << 20) >> PAGE_SHIFT          # 4096: ZONE_DMA ends at 16 MiB
MAX_DMA32_PFN = (4 << 30) >> PAGE_SHIFT         # 1048576: ZONE_DMA32 ends at 4 GiB
MAXMEM_PFN_32 = (896 << 20) >> PAGE_SHIFT       # 229376: i386 lowmem (1 GiB - 128 MiB vmalloc)
MAX_PFN_32 = (4 << 30) >> PAGE_SHIFT            # i386 without HIGHMEM64G (gone in 6.15): 4 GiB
PAGES_PER_SECTION = 1 << (27 - PAGE_SHIFT)      # SECTION_SIZE_BITS 27: 128 MiB sections
STRUCT_PAGE_SIZE = 64
# The kernel image (text, data, bss) and the other early memblock allocations (page tables,
# per-cpu areas, ...): the 9419 pages (36.8 MiB) the reference machine kept in ZONE_DMA32, placed
# where x86 loads the kernel, CONFIG_PHYSICAL_START = 16 MiB.  A deliberate simplification.
KERNEL_RESERVED_PAGES = 9419
KERNEL_START_PFN = (16 << 20) >> PAGE_SHIFT

ARCHES = ("x86_64", "i386")
# MAX_PHYSMEM_BITS: the physical address width the model supports.  x86_64 with 4-level paging
# maps 46 bits (64 TiB) of physical memory; i386 with PAE addresses 36 bits (64 GiB), of which
# the kernel (no HIGHMEM64G since 6.15) uses the first 4 GiB.  RAM beyond is refused at boot.
PHYS_ADDR_BITS = {"x86_64": 46, "i386": 36}
# Host memory a boot touches per page frame, beyond what stays lazily mapped: the MMU's LRU link
# arrays (2 x int32 per frame, initialised to -1) and one host page of the allocator's page
# metadata per max-order block (the block heads memblock_free_all() writes).
HOST_BYTES_PER_FRAME = 8
HOST_BYTES_PER_MAX_ORDER_BLOCK = 4096
MAX_ORDER_PAGES = 1024
# Zone names in zone-index order, as the kernel configures them for each arch.
ZONE_NAMES = {
    "x86_64": ("DMA", "DMA32", "Normal", "Movable", "Device"),
    "i386": ("DMA", "Normal", "HighMem", "Movable"),
}

E820_USABLE = "usable"
_E820_LINE = re.compile(
    r"\[mem\s+(0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)\]\s+(.+?)\s*$")
_E820_TYPES = {  # also accept /sys/firmware/memmap/*/type words
    "system ram": E820_USABLE,
}


# -- pfn range sets: sorted lists of disjoint [start, end) ---------------------------------
def normalize(ranges):
    """Sorted, merged, non-empty [start, end) ranges."""
    out = []
    for s, e in sorted(r for r in ranges if r[1] > r[0]):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1][1] = e
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def subtract(ranges, cut):
    """ranges minus cut (both normalised)."""
    out = []
    cut = normalize(cut)
    for s, e in ranges:
        for cs, ce in cut:
            if ce <= s or cs >= e:
                continue
            if cs > s:
                out.append((s, cs))
            s = max(s, ce)
            if s >= e:
                break
        if s < e:
            out.append((s, e))
    return out


def intersect(ranges, start, end):
    """The parts of ranges inside [start, end)."""
    return [(max(s, start), min(e, end)) for s, e in ranges if s < end and e > start]


def count(ranges):
    return sum(e - s for s, e in ranges)


# -- e820 -----------------------------------------------------------------------------------
def parse_e820(e820):
    """[(start, end_inclusive, type)] from tuples or ``BIOS-e820: [mem 0x..-0x..] type`` lines.

    Text (one string, or a list of strings: lines of a dmesg dump) gives its ``BIOS-e820:``
    lines; other lines are ignored (``e820: update/remove``, ``PCI: ECAM ... reserved as E820
    entry`` ... describe the kernel's own later edits, which boot() models).  Text without any
    ``BIOS-e820:`` line is read as bare ``[mem 0x..-0x..] type`` lines.
    """
    if not isinstance(e820, str):
        e820 = list(_iterable(e820, "e820"))
        if e820 and all(isinstance(item, str) for item in e820):
            e820 = "\n".join(e820)
    if isinstance(e820, str):
        lines = e820.splitlines()
        entries = [line for line in lines if "BIOS-e820:" in line]
        if not entries:
            entries = [line for line in lines if _E820_LINE.search(line)]
        if not entries:
            raise ValueError("no 'BIOS-e820: [mem 0x...-0x...] type' line in the e820 text")
    else:
        entries = e820
    out = []
    for item in entries:
        if isinstance(item, str):
            m = _E820_LINE.search(item)
            if not m:
                raise ValueError(f"cannot parse e820 line {item!r}")
            start, end, kind = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
        else:
            try:
                start, end, kind = item
            except (TypeError, ValueError):
                raise ValueError(f"an e820 entry is (start, end, type), got {item!r}") from None
            start, end = parse_size(start), parse_size(end)
            if not isinstance(kind, str):
                raise ValueError(f"e820 type must be a string such as 'usable', got {kind!r}")
        if end < start:
            raise ValueError(f"e820 entry ends before it starts: {start:#x}-{end:#x}")
        kind = kind.strip()
        kind = _E820_TYPES.get(kind.lower(), kind)
        out.append((start, end, kind))
    return out


def default_e820(mem):
    """The firmware map of a simple PC (QEMU's i440fx layout) with ``mem`` bytes of RAM.

    Below 4 GiB RAM ends at 3 GiB when the machine has 3.5 GiB or more (the rest is remapped
    above 4 GiB), the 639 KiB of conventional memory end at 0x9fbff (EBDA above), and the BIOS
    area 0x9fc00-0xfffff is reserved.
    """
    if mem < (2 << 20):
        raise ValueError(f"mem must be at least 2 MiB, got {mem}")
    low = mem if mem < 0xE0000000 else 0xC0000000
    e820 = [(0, 0x9FBFF, E820_USABLE), (0x9FC00, 0xFFFFF, "reserved"),
            (0x100000, low - 1, E820_USABLE)]
    if low < mem:
        e820.append((0xFEFFC000, 0xFEFFFFFF, "reserved"))
        e820.append((1 << 32, (1 << 32) + (mem - low) - 1, E820_USABLE))
    return e820


def e820_format(e820):
    """The e820 map as the kernel prints it at boot (``e820__print_table``)."""
    return "".join(f"BIOS-e820: [mem {s:#018x}-{e:#018x}] {t}\n" for s, e, t in e820)


def memory_pfns(e820, arch):
    """memblock.memory in pfns: whole pages of usable RAM minus what x86 never treats as RAM.

    Where entries overlap, non-RAM wins (e820's sanitiser keeps the higher type).  The first
    page (BIOS data) and 640 KiB-1 MiB (legacy VGA/ROM hole) are removed (``trim_bios_range``);
    partial pages are dropped (PFN_UP(start), PFN_DOWN(end + 1)).  i386 stops at 4 GiB.
    """
    ram, other = [], []
    for start, end, kind in e820:
        (ram if kind == E820_USABLE else other).append((start, end + 1))
    ram = subtract(normalize(ram), normalize(other))
    pfns = []
    for s, e in ram:
        ps, pe = (s + PAGE_SIZE - 1) >> PAGE_SHIFT, e >> PAGE_SHIFT
        if pe > ps:
            pfns.append((ps, pe))
    pfns = subtract(normalize(pfns), [(0, 1), (0xA0, 0x100)])
    if arch == "i386":
        pfns = intersect(pfns, 0, MAX_PFN_32)
    if not pfns:
        raise ValueError("the e820 map has no usable RAM")
    return pfns


def check_phys_limit(table, arch):
    """ValueError for usable RAM beyond the arch's physical address width (PHYS_ADDR_BITS)."""
    bits = PHYS_ADDR_BITS[arch]
    for start, end, kind in table:
        if kind == E820_USABLE and end >= 1 << bits:
            size = (1 << bits) >> 30
            size = f"{size >> 10} TiB" if size >= 1024 else f"{size} GiB"
            raise ValueError(
                f"usable RAM at {start:#x}-{end:#x} lies beyond {arch}'s {bits}-bit physical "
                f"address space ({size}), the most linuxmm models (docs/physical.md)")


def host_available_bytes():
    """MemAvailable of the host (/proc/meminfo), or None where there is no such file."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def host_bytes_needed(max_pfn):
    """Host memory a boot of max_pfn page frames touches (see HOST_BYTES_PER_FRAME)."""
    return (max_pfn * HOST_BYTES_PER_FRAME
            + -(-max_pfn // MAX_ORDER_PAGES) * HOST_BYTES_PER_MAX_ORDER_BLOCK)


def check_host_memory(max_pfn):
    """MemoryError, before anything is allocated, when the metadata of a machine of max_pfn
    page frames would not fit in the host's available memory."""
    need = host_bytes_needed(max_pfn)
    avail = host_available_bytes()
    if avail is not None and need > avail:
        raise MemoryError(
            f"a machine of {max_pfn} page frames ({(max_pfn << PAGE_SHIFT) >> 30} GiB of "
            f"physical address space) needs about {need >> 20} MiB of host memory for its page "
            f"metadata; the host has {avail >> 20} MiB available (MemAvailable)")


# -- zones ----------------------------------------------------------------------------------
def zone_limits(arch, max_pfn):
    """Upper pfn limit of each zone (``zone_sizes_init``) and max_low_pfn."""
    if arch == "x86_64":
        max_low_pfn = max_pfn
        limits = [min(MAX_DMA_PFN, max_low_pfn), min(MAX_DMA32_PFN, max_low_pfn), max_low_pfn]
    else:
        max_low_pfn = min(max_pfn, MAXMEM_PFN_32)
        limits = [min(MAX_DMA_PFN, max_low_pfn), max_low_pfn, max_pfn]
    return limits, max_low_pfn


def zone_spans(arch, memory):
    """[(name, start_pfn, spanned)] for every configured zone (``free_area_init``)."""
    node_start, node_end = memory[0][0], memory[-1][1]
    limits, _ = zone_limits(arch, node_end)
    names = ZONE_NAMES[arch]
    spans = []
    low = node_start
    for name, high in zip(names, limits):
        high = max(high, low)
        start = min(max(node_start, low), high)
        end = min(max(node_end, low), high)
        # calculate_node_totalpages(): an empty zone's zone_start_pfn is 0
        spans.append((name, start if end > start else 0, end - start))
        low = high
    for name in names[len(limits):]:          # Movable (no kernelcore=) and Device: empty
        spans.append((name, 0, 0))
    return spans


# -- memblock reservations --------------------------------------------------------------------
def alloc_top_down(memory, reserved, nr_pages, align, limit):
    """memblock_alloc: the highest free, aligned [start, start + nr_pages) below limit."""
    free = subtract(intersect(memory, 0, limit), reserved)
    for s, e in reversed(free):
        start = ((e - nr_pages) // align) * align
        if start >= s:
            return start
    return None


def present_sections(memory):
    """Sorted ids of the 128 MiB memory sections that hold any RAM (online sections)."""
    sections = set()
    for s, e in memory:
        sections.update(range(s // PAGES_PER_SECTION, (e - 1) // PAGES_PER_SECTION + 1))
    return sorted(sections)


def memmap_pages(memory):
    """Pages of struct page arrays: 64 bytes per page of every present 128 MiB section."""
    return len(present_sections(memory)) * PAGES_PER_SECTION * STRUCT_PAGE_SIZE // PAGE_SIZE


def offline_pageblocks(memory, start, spanned, pageblock_order=9):
    """How many of the pfns start, start + pageblock_nr_pages, ... inside the zone fall in
    sections without RAM: pagetypeinfo_showblockcount_print() skips them (no online page)."""
    if spanned == 0:
        return 0
    step = 1 << pageblock_order
    end = start + spanned
    online = normalize([(sec * PAGES_PER_SECTION, (sec + 1) * PAGES_PER_SECTION)
                        for sec in present_sections(memory)])
    total = (spanned + step - 1) // step

    def visits(lo, hi):          # k with lo <= start + k * step < hi
        lo, hi = max(lo, start), min(hi, end)
        if hi <= lo:
            return 0
        return (hi - start + step - 1) // step - (lo - start + step - 1) // step

    return total - sum(visits(s, e) for s, e in online)


def reserve_kernel_image(memory, reserved):
    """The kernel image and early allocations: at 16 MiB, or the lowest fit above 1 MiB."""
    kernel = (KERNEL_START_PFN, KERNEL_START_PFN + KERNEL_RESERVED_PAGES)
    free = subtract(memory, normalize(reserved))
    if count(intersect(free, *kernel)) == KERNEL_RESERVED_PAGES:
        return kernel
    for s, e in free:                       # small machine
        if e - s >= KERNEL_RESERVED_PAGES:
            return (s, s + KERNEL_RESERVED_PAGES)
    raise ValueError("not enough memory to boot: the kernel image needs "
                     f"{KERNEL_RESERVED_PAGES} contiguous pages above 1 MiB")


def reserve_memmap(memory, arch, reserved):
    """The struct page arrays, memblock-allocated top-down below the end of (low) memory."""
    limit = memory[-1][1] if arch == "x86_64" else zone_limits(arch, memory[-1][1])[1]
    nr = memmap_pages(memory)
    start = alloc_top_down(memory, normalize(reserved), nr, 1, limit)
    if start is None:
        raise ValueError(f"not enough memory to boot: the memmap needs {nr} pages")
    return (start, start + nr)


def _iterable(value, name):
    """A table argument: a list (any iterable); ArgumentTypeError for a number, None..."""
    try:
        return iter(value)
    except TypeError:
        raise ArgumentTypeError(f"{name} must be a list of ranges or text, not "
                                f"{type(value).__name__}") from None


def parse_reserved(reserved):
    """Inclusive byte ranges -> pfn ranges of the pages they touch."""
    out = []
    for item in _iterable(reserved, "reserved"):
        try:
            start, end = item
        except (TypeError, ValueError):
            raise ValueError(f"a reservation is (start, end) in bytes, got {item!r}") from None
        start, end = parse_size(start), parse_size(end)
        if end < start:
            raise ValueError(f"reservation ends before it starts: {start:#x}-{end:#x}")
        out.append((start >> PAGE_SHIFT, (end >> PAGE_SHIFT) + 1))
    return out


class BootLayout:
    """The result of booting: memory and reserved pfn ranges, zones, managed pages per zone."""

    def __init__(self, arch, memory, reserved, spans):
        self.arch = arch
        self.memory = memory
        self.reserved = reserved
        self.free = subtract(memory, reserved)
        self.spans = spans
        self.max_pfn = memory[-1][1]
        self.max_low_pfn = zone_limits(arch, self.max_pfn)[1]
        self.present = [count(intersect(memory, s, s + n)) for _, s, n in spans]
        self.managed = [count(intersect(self.free, s, s + n)) for _, s, n in spans]
        self.memmap_pages = memmap_pages(memory)
        self.sections = frozenset(present_sections(memory))
        self.offline_pageblocks = [offline_pageblocks(memory, s, n) for _, s, n in spans]

    @property
    def names(self):
        return [name for name, _, _ in self.spans]


def boot(mem=None, *, arch="x86_64", e820=None, reserved=None, boot_allocations=True):
    """Boot the physical memory of an x86 machine; returns a BootLayout.

    ``e820`` wins over ``mem``.  memblock.reserved gets, in the kernel's order: the first MiB
    (x86 6.x: ``memblock_reserve(0, SZ_1M)``), the kernel image (modelled, see
    KERNEL_RESERVED_PAGES), the ``reserved`` inclusive byte ranges, then the memmap allocated
    top-down (modelled).  ``boot_allocations=False`` leaves out the two modelled items, so that
    ``reserved`` alone decides which present pages are not managed.
    """
    if arch not in ARCHES:
        raise ValueError(f"arch must be one of {ARCHES}, got {arch!r}")
    table = parse_e820(e820) if e820 is not None else default_e820(parse_size(mem))
    check_phys_limit(table, arch)
    memory = memory_pfns(table, arch)
    check_host_memory(memory[-1][1])
    res = [(0, 256)]
    user = parse_reserved(reserved) if reserved is not None else []
    if boot_allocations:
        res.append(reserve_kernel_image(memory, res))
        res += user
        res.append(reserve_memmap(memory, arch, res))
    else:
        res += user
    res = normalize(intersect(normalize(res), 0, memory[-1][1]))
    layout = BootLayout(arch, memory, res, zone_spans(arch, memory))
    if not any(layout.managed):
        raise ValueError("no memory left for the page allocator after boot reservations")
    layout.e820 = table
    return layout
