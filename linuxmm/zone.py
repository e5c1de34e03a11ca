"""Zone: a read-only view of one zone of the simulated node (``struct zone``).

Static numbers (span, present pages, the tunables computed at boot) are copied when the view is
made; live numbers (free pages, nr_free, watermarks with boost, pcp state) are read from the
page allocator on each access.
"""
from collections import namedtuple

from . import _args, fragmentation
from .sync import synchronized

MIGRATETYPE_NAMES = ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate")


class Values(tuple):
    """A tuple of per-order / per-zone numbers that also equals a list of the same items."""

    __slots__ = ()

    def __eq__(self, other):
        return tuple.__eq__(self, tuple(other) if isinstance(other, list) else other)

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = tuple.__hash__


class Watermark(Values, namedtuple("Watermark", "min low high")):
    """(min, low, high) in pages; also readable as .min, .low, .high."""

    __slots__ = ()


class ZoneList(list):
    """k.zones: the zones in zone-index order; also indexable by name (k.zones["DMA32"])."""

    __slots__ = ()

    def __getitem__(self, key):
        if isinstance(key, str):
            for zone in self:
                if zone.name == key:
                    return zone
            raise KeyError(f"no zone {key!r} (zones: {' '.join(z.name for z in self)})")
        return list.__getitem__(self, key)


@synchronized
class Zone:
    __slots__ = ("_pa", "index", "name", "start_pfn", "spanned_pages", "present_pages",
                 "lowmem_reserve", "pcp_batch", "pcp_high_min", "pcp_high_max",
                 "stat_threshold", "_cpus", "_offline_blocks")

    def __init__(self, pa, index, name, start_pfn, spanned, present, lowmem_reserve, pcp,
                 threshold, cpus, offline_blocks=0):
        self._pa = pa
        self.index = index
        self.name = name
        self.start_pfn = start_pfn
        self.spanned_pages = spanned
        self.present_pages = present
        self.lowmem_reserve = Values(lowmem_reserve)
        self.pcp_batch, self.pcp_high_min, self.pcp_high_max = pcp
        self.stat_threshold = threshold
        self._cpus = cpus
        self._offline_blocks = offline_blocks

    @property
    def lock(self):
        """The page allocator's lock, the machine's (linuxmm.sync)."""
        return self._pa.lock

    def __repr__(self):
        return (f"<Zone {self.name} start_pfn={self.start_pfn} spanned={self.spanned_pages} "
                f"present={self.present_pages} managed={self.managed_pages} "
                f"free={self.free_pages}>")

    @property
    def end_pfn(self):
        return self.start_pfn + self.spanned_pages

    @property
    def populated(self):
        """populated_zone(): the zone has present pages."""
        return self.present_pages != 0

    @property
    def managed_pages(self):
        return self._pa.managed_pages(self.index)

    @property
    def free_pages(self):
        """NR_FREE_PAGES: pages on the buddy free lists (pages cached on pcp lists excluded)."""
        return self._pa.nr_free_pages(self.index)

    @property
    def nr_free(self):
        """Free blocks per order (``free_area[order].nr_free``), as /proc/buddyinfo shows."""
        return Values(self._pa.nr_free(self.index))

    def nr_free_type(self, migratetype):
        """Free blocks per order on one migratetype's lists (0 UNMOVABLE .. 4 ISOLATE)."""
        return list(self._pa.nr_free(self.index, migratetype))

    @property
    def watermark(self):
        """(min, low, high) in pages, boost included (min_wmark_pages() ...)."""
        return Watermark(*self._pa.watermarks(self.index)[:3])

    @property
    def watermark_promo(self):
        return self._pa.watermarks(self.index)[3]

    @property
    def watermark_boost(self):
        return self._pa.watermark_boost(self.index)

    @property
    def nr_free_highatomic(self):
        return self._pa.nr_free_highatomic(self.index)

    def pcp_count(self, cpu=0):
        """Pages on this CPU's per-cpu lists of the zone."""
        return self._pa.pcp_count(self.index, cpu)

    def pcp_high(self, cpu=0):
        return self._pa.pcp_high(self.index, cpu)

    @property
    def pageblock_counts(self):
        """Pageblocks of each migratetype with an online first page, as /proc/pagetypeinfo's
        second table counts them (blocks in sections without RAM are left out; they are
        never allocated from, so they are Movable, the boot type)."""
        counts = list(self._pa.pageblock_counts(self.index))
        counts[1] = max(counts[1] - self._offline_blocks, 0)
        return counts

    def unusable_index(self, order):
        """Unusable free space index for order, in thousandths (mm/vmstat.c)."""
        nr_free = self.nr_free
        return fragmentation.unusable_free_index(nr_free, self._order(order, nr_free))

    def fragmentation_index(self, order):
        """External fragmentation index for order, in thousandths (-1000: would succeed)."""
        nr_free = self.nr_free
        return fragmentation.fragmentation_index(nr_free, self._order(order, nr_free))

    @staticmethod
    def _order(order, nr_free):
        """An order the debugfs files print: 0..MAX_PAGE_ORDER (ValueError otherwise)."""
        order = _args.as_int(order, "order")
        if not 0 <= order < len(nr_free):
            raise ValueError(f"order must be in 0..{len(nr_free) - 1}, got {order}")
        return order

    # the names of the debugfs files (extfrag/unusable_index, extfrag/extfrag_index) and of
    # mm/vmstat.c's unusable_free_index()
    extfrag_index = fragmentation_index
    unusable_free_index = unusable_index
