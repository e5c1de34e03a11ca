"""SLUB debugging: poison and red zones over a byte model of debug caches' slabs, and the
texts of SLUB's reports (mm/slub.c: check_object(), check_bytes_and_report(), object_err()).

Object memory exists only for caches created with SLAB_POISON or SLAB_RED_ZONE; it is kept
here, in Python, for both backends (the C core only knows which objects are allocated).
"""
from ..errors import InvalidFree, InvariantError, MMError
from . import flags as F
from .geometry import PAGE_SIZE

POISON_INUSE = 0x5a
POISON_FREE = 0x6b
POISON_END = 0xa5
SLUB_RED_INACTIVE = 0xbb
SLUB_RED_ACTIVE = 0xcc

PAGE_OFFSET = 0xffff888000000000        # x86_64 direct map (the default of a SlabAllocator)
DIRECT_MAP_END = 0xffffc88000000000     # 64 TiB of it
VMEMMAP_START = 0xffffea0000000000
STRUCT_PAGE_SIZE = 64
TAINT = "Not tainted"
RULE = "=" * 77
DASH = "-" * 77


class SlabCorruption(InvalidFree, InvariantError):
    """A debug check on free found overwritten poison, red zone or padding (the report is the
    message): the free is refused, as free_debug_processing() does (an InvalidFree with reason
    'corrupt'), and it is a broken invariant of the cache (an InvariantError)."""


class CacheInUse(MMError, RuntimeError):
    """kmem_cache_destroy() of a cache that still has objects (errno EBUSY)."""
    errno = 16


def bug_line(cache_name, text):
    return f"BUG {cache_name} ({TAINT}): {text}"


def page_ptr(pfn):
    """The struct page (struct slab) address SLUB prints for a slab: vmemmap + pfn."""
    return VMEMMAP_START + pfn * STRUCT_PAGE_SIZE


def invalid_free(reason, cache_name, addr, *, other=None, offset=None):
    """The InvalidFree a refused free raises; the same text from both backends."""
    if reason == "notslab":
        text = (f"{bug_line(cache_name, f'Invalid object pointer 0x{addr:x}')}\n"
                f"not a slab object: 0x{addr:x} was never allocated from a slab")
    elif reason == "wrong-cache":
        text = f"kmem_cache_free: Wrong slab cache. {cache_name} but object is from {other}"
    elif reason == "interior":
        text = (f"{bug_line(cache_name, f'Invalid object pointer 0x{addr:x}')}\n"
                f"0x{addr:x} is not the start of an object")
    elif reason == "free":
        text = f"{bug_line(cache_name, 'Object already free')}\nObject 0x{addr:x} @offset={offset}"
    elif reason == "dup":
        text = (f"{bug_line(cache_name, 'Object already free')}\nObject 0x{addr:x} "
                f"@offset={offset} is named twice in one bulk free")
    elif reason == "dead":
        text = f"{cache_name}: cache was destroyed"
    elif reason == "metadata":
        text = (f"{bug_line(cache_name, f'Invalid object pointer 0x{addr:x}')}\n"
                f"0x{addr:x} describes the live cache {other}: only kmem_cache_destroy frees it")
    else:  # pragma: no cover
        raise AssertionError(reason)
    err = InvalidFree(text)
    err.reason = reason
    err.cache = cache_name
    err.addr = addr
    return err


class ObjectMemory:
    """Bytes of the slabs of one debug cache, initialised as SLUB's setup_slab_debug() and
    init_object() do, created when a slab is first seen and renewed when its serial changes."""

    def __init__(self, cache):
        self.cache = cache
        self.slabs = {}          # pfn -> (serial, bytearray)
        self.reports = []        # corruption found when a free object was allocated again

    # -- layout -------------------------------------------------------------------------------
    def _slab_addr(self, info):
        """The direct-map address of the slab's first page (its allocator's page_offset)."""
        return self.cache.allocator.page_address(info["pfn"])

    def _init_slab(self, info):
        c = self.cache
        size = PAGE_SIZE << info["order"]
        fill = POISON_INUSE if c.flags & F.SLAB_POISON else 0
        mem = bytearray([fill]) * size
        self.slabs[info["pfn"]] = (info["serial"], mem)
        for i in range(info["objects"]):
            self.init_object(mem, c.geometry.red_left_pad + i * c.size, SLUB_RED_INACTIVE)
        return mem

    def memory(self, info):
        entry = self.slabs.get(info["pfn"])
        if entry is None or entry[0] != info["serial"]:
            return self._init_slab(info)
        return entry[1]

    def init_object(self, mem, off, val):
        """init_object(): red zones to val, object poisoned (6b .. 6b a5)."""
        c = self.cache
        g = c.geometry
        if c.flags & F.SLAB_RED_ZONE:
            mem[off - g.red_left_pad:off] = bytes([val]) * g.red_left_pad
        if g.flags & F.OBJECT_POISON:
            mem[off:off + c.object_size - 1] = bytes([POISON_FREE]) * (c.object_size - 1)
            mem[off + c.object_size - 1] = POISON_END
        if c.flags & F.SLAB_RED_ZONE:
            mem[off + c.object_size:off + g.inuse] = bytes([val]) * (g.inuse - c.object_size)

    # -- checks ---------------------------------------------------------------------------------
    def _check_bytes(self, problems, mem, base_addr, what, start, value, length):
        seg = mem[start:start + length]
        bad = [i for i, b in enumerate(seg) if b != value]
        if not bad:
            return
        first, last = bad[0], length
        while last > first and seg[last - 1] == value:
            last -= 1
        problems.append((what, start + first, start + last - 1, seg[first], value))

    def object_problems(self, mem, off, val):
        """check_object(): [(what, first, last, byte, expected)] of one object at slab offset off."""
        c = self.cache
        g = c.geometry
        out = []
        if c.flags & F.SLAB_RED_ZONE:
            self._check_bytes(out, mem, 0, "Left Redzone", off - g.red_left_pad, val, g.red_left_pad)
            self._check_bytes(out, mem, 0, "Right Redzone", off + c.object_size, val,
                              g.inuse - c.object_size)
        elif c.flags & F.SLAB_POISON and c.object_size < g.inuse:
            self._check_bytes(out, mem, 0, "Alignment padding", off + c.object_size, POISON_INUSE,
                              g.inuse - c.object_size)
        if c.flags & F.SLAB_POISON:
            if val != SLUB_RED_ACTIVE and g.flags & F.OBJECT_POISON:
                self._check_bytes(out, mem, 0, "Poison", off, POISON_FREE, c.object_size - 1)
                self._check_bytes(out, mem, 0, "End Poison", off + c.object_size - 1, POISON_END, 1)
            pad_start = off + self.info_end()
            pad_end = off - g.red_left_pad + c.size
            if pad_end > pad_start:
                self._check_bytes(out, mem, 0, "Object padding", pad_start, POISON_INUSE,
                                  pad_end - pad_start)
        return out

    def info_end(self):
        """Offset from the object of the first byte after its metadata (get_info_end() + tracks)."""
        c = self.cache
        g = c.geometry
        end = g.inuse + (8 if g.offset >= g.inuse else 0)
        if c.flags & F.SLAB_STORE_USER:
            end += 64 + (8 if g.flags & F.SLAB_KMALLOC else 0)
        return end

    def report(self, info, mem, obj_off, problems, *, fix):
        c = self.cache
        slab_addr = self._slab_addr(info)
        obj = slab_addr + obj_off
        lines = []
        for what, first, last, byte, value in problems:
            lines += [RULE, bug_line(c.name, f"{what} overwritten"), DASH, "",
                      f"0x{slab_addr + first:x}-0x{slab_addr + last:x} @offset={first}. "
                      f"First byte 0x{byte:x} instead of 0x{value:x}",
                      f"Slab 0x{page_ptr(info['pfn']):x} objects={info['objects']} "
                      f"used={info['inuse']} fp=0x0 flags=0x{0x240 if info['order'] else 0x200:x}"
                      f"({'slab|head' if info['order'] else 'slab'})",
                      f"Object 0x{obj:x} @offset={obj_off} fp=0x0", ""]
            if fix:
                lines.append(f"FIX {c.name}: Restoring {what} 0x{slab_addr + first:x}-"
                             f"0x{slab_addr + last:x}=0x{value:x}")
                mem[first:last + 1] = bytes([value]) * (last + 1 - first)
        return "\n".join(lines)

    # -- hooks driven by the cache ------------------------------------------------------------
    def on_alloc(self, info):
        """alloc_consistency_checks(): a free object must still be poisoned and red-zoned when
        it is handed out again; a write after free is reported (by the next check()) and the
        bytes restored before the object is initialised as allocated."""
        mem = self.memory(info)
        off = info["addr"] - self._slab_addr(info)
        problems = self.object_problems(mem, off, SLUB_RED_INACTIVE)
        if problems:
            self.reports.append(self.report(info, mem, off, problems, fix=True))
        self.init_object(mem, off, SLUB_RED_ACTIVE)

    def before_free(self, info):
        """free_debug_processing(): red zones of the object must be intact, else the report is
        raised, the bytes restored and the object stays allocated ("Object ... not freed")."""
        mem = self.memory(info)
        off = info["addr"] - self._slab_addr(info)
        problems = self.object_problems(mem, off, SLUB_RED_ACTIVE)
        if problems:
            text = self.report(info, mem, off, problems, fix=True)
            err = SlabCorruption(f"{text}\nFIX {self.cache.name}: Object at "
                                 f"0x{info['addr']:x} not freed")
            err.reason, err.cache, err.addr = "corrupt", self.cache.name, info["addr"]
            raise err

    def after_free(self, info):
        mem = self.memory(info)
        self.init_object(mem, info["addr"] - self._slab_addr(info), SLUB_RED_INACTIVE)

    def check(self, slabs):
        """validate_slab() over (info, free indices) of every slab; InvariantError on corruption."""
        c = self.cache
        g = c.geometry
        if self.reports:                # found on allocation: reported once
            text = self.reports.pop(0)
            raise InvariantError(text)
        live = set()
        for info, free in slabs:
            live.add(info["pfn"])
            mem = self.memory(info)
            for i in range(info["objects"]):
                off = g.red_left_pad + i * c.size
                val = SLUB_RED_INACTIVE if i in free else SLUB_RED_ACTIVE
                problems = self.object_problems(mem, off, val)
                if problems:
                    raise InvariantError(self.report(info, mem, off, problems, fix=False))
            if c.flags & F.SLAB_POISON:
                length = PAGE_SIZE << info["order"]
                rem = length % c.size
                pad = mem[length - rem:]
                bad = [j for j, b in enumerate(pad) if b != POISON_INUSE]
                if bad:
                    start = self._slab_addr(info) + length - rem
                    raise InvariantError(
                        f"{RULE}\n{bug_line(c.name, f'Padding overwritten. 0x{start + bad[0]:x}-0x{start + bad[-1]:x} @offset={length - rem + bad[0]}')}\n{DASH}")
        for pfn in list(self.slabs):
            if pfn not in live:
                del self.slabs[pfn]

    def write(self, info, addr, offset, length, value):
        mem = self.memory(info)
        start = addr + offset - self._slab_addr(info)
        if start < 0 or start + length > len(mem):
            raise ValueError(f"write of {length} bytes at 0x{addr + offset:x} leaves the slab")
        mem[start:start + length] = bytes([value]) * length

    def read(self, info, addr, offset, length):
        mem = self.memory(info)
        start = addr + offset - self._slab_addr(info)
        if start < 0 or start + length > len(mem):
            raise ValueError(f"read of {length} bytes at 0x{addr + offset:x} leaves the slab")
        return bytes(mem[start:start + length])
