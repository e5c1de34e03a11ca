"""The slab allocator (SLUB): object caches, kmalloc, /proc/slabinfo, debug checks.

SlabAllocator / KmemCache here are backed by the C core; linuxmm.reference.slab has the
pure-Python twins.  geometry, kmalloc, flags, slabinfo and debug are shared pure-Python modules.
"""
from .cache import KmemCache, SlabAllocator
from .debug import CacheInUse, SlabCorruption
from .flags import *  # noqa: F401,F403  (SLAB_* flag names)

__all__ = ["CacheInUse", "KmemCache", "SlabAllocator", "SlabCorruption"]
