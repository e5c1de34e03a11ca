"""Pure-Python reference models: the same API and results as the C-backed classes."""
from .buddy import BuddyAllocator
from .page_alloc import PageAllocator

__all__ = ["BuddyAllocator", "PageAllocator"]

# -- slab (linuxmm/reference/slab.py) --
from .slab import KmemCache, SlabAllocator  # noqa: E402

__all__ += ["KmemCache", "SlabAllocator"]
