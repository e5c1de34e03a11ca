"""Pure-Python reference models: the same API and results as the C-backed classes."""
from .buddy import BuddyAllocator
from .page_alloc import PageAllocator

__all__ = ["BuddyAllocator", "PageAllocator"]

# -- slab flags: the SLAB_* names, as linuxmm has them --
from ..slab import flags as _slab_flags  # noqa: E402

for _n in dir(_slab_flags):
    if _n.startswith("SLAB_") and _n not in ("SLAB_DEBUG_FLAGS", "SLAB_NEVER_MERGE",
                                             "SLAB_MERGE_SAME", "SLAB_FLAGS_PERMITTED"):
        globals()[_n] = getattr(_slab_flags, _n)
        __all__.append(_n)
del _n

# -- slab (linuxmm/reference/slab.py) --
from .slab import KmemCache, SlabAllocator  # noqa: E402

__all__ += ["KmemCache", "SlabAllocator"]
