"""Pure-Python reference models: the same API and results as the C-backed classes."""
from .buddy import BuddyAllocator

__all__ = ["BuddyAllocator"]

# -- slab (linuxmm/reference/slab.py) --
from .slab import KmemCache, SlabAllocator  # noqa: E402

__all__ += ["KmemCache", "SlabAllocator"]
