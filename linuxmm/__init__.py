"""linuxmm: Linux memory management, simulated faithfully and fast.

The C core (``linuxmm._core``, built by cffi) does the hot paths; the pure-Python twins of its
classes live in ``linuxmm.reference``.
"""
from ._ffi import ABI_VERSION
from .buddy import BuddyAllocator
from .errors import (ArgumentTypeError, BusError, InvalidFree, InvariantError, Killed,
                     MMError, OutOfMemory, SegmentationFault, SnapshotError,
                     SysctlError)

__version__ = "0.1.0"

__all__ = [
    "ABI_VERSION",
    "ArgumentTypeError",
    "BuddyAllocator",
    "BusError",
    "SegmentationFault",
    "InvalidFree",
    "InvariantError",
    "Killed",
    "MMError",
    "OutOfMemory",
    "SnapshotError",
    "SysctlError",
]

# -- zones (physical memory: Kernel boot, zones, pages, /proc) --
from .kernel import Kernel  # noqa: E402
from .page import Page  # noqa: E402
from .zone import Zone  # noqa: E402

__all__ += ["Kernel", "Page", "Zone"]

# -- pagealloc: the page allocator engine and gfp flags --
from . import gfp  # noqa: E402
from .page_alloc import PageAllocator  # noqa: E402

__all__ += ["PageAllocator", "gfp"]

# -- rev3 (issue 3): the gfp flags and migratetypes importable from linuxmm directly --
from .gfp import *  # noqa: E402,F401,F403

__all__ += [_n for _n in gfp.__all__ if _n.startswith(("GFP_", "__GFP_", "MIGRATE_"))]

# -- slab (linuxmm/slab) --
from .slab import CacheInUse, KmemCache, SlabAllocator, SlabCorruption  # noqa: E402
from .slab import flags as _slab_flags  # noqa: E402

__all__ += ["CacheInUse", "KmemCache", "SlabAllocator", "SlabCorruption"]
# SLAB_HWCACHE_ALIGN, SLAB_POISON, ...: the kmem_cache_create() flags
globals().update(_slab_flags.public_flags())
__all__ += sorted(_slab_flags.public_flags())

# -- processes and address spaces (vm helper) --
from .vm import AnonVma, File, Inode, MmStruct, Process, VmArea, VmOperations  # noqa: E402
from .vm.constants import *  # noqa: E402,F401,F403
from .vm import constants as _vm_constants  # noqa: E402

__all__ += ["AnonVma", "File", "Inode", "MmStruct", "Process", "VmArea", "VmOperations"]
__all__ += [_n for _n in _vm_constants.__all__
            if _n.startswith(("PROT_", "MAP_", "MREMAP_", "MADV_", "VM_", "PAGE_", "NR_", "MCL_",
                           "MLOCK_"))]

# -- page tables and faults (linuxmm/vm/memory.py): PTE bits for Process.translate(), fadvise --
from .vm import mmu_defs as _mmu_defs  # noqa: E402
from .vm.readahead import (POSIX_FADV_DONTNEED, POSIX_FADV_NOREUSE,  # noqa: E402,F401
                           POSIX_FADV_NORMAL, POSIX_FADV_RANDOM, POSIX_FADV_SEQUENTIAL,
                           POSIX_FADV_WILLNEED)

from .vm import memory as _memory  # noqa: E402

# VM_FAULT_* (what a device's vm_ops returns) and FAULT_FLAG_* (vmf.flags)
for _name in dir(_memory):
    if _name.startswith(("VM_FAULT_", "FAULT_FLAG_")):
        globals()[_name] = getattr(_memory, _name)
        __all__.append(_name)

PTE_PRESENT = _mmu_defs._PAGE_PRESENT
PTE_RW = _mmu_defs._PAGE_RW
PTE_USER = _mmu_defs._PAGE_USER
PTE_ACCESSED = _mmu_defs._PAGE_ACCESSED
PTE_DIRTY = _mmu_defs._PAGE_DIRTY
PTE_PSE = _mmu_defs._PAGE_PSE
PTE_SPECIAL = _mmu_defs._PAGE_SPECIAL
PTE_NX = _mmu_defs._PAGE_NX
__all__ += ["PTE_PRESENT", "PTE_RW", "PTE_USER", "PTE_ACCESSED", "PTE_DIRTY", "PTE_PSE",
            "PTE_SPECIAL", "PTE_NX", "POSIX_FADV_NORMAL", "POSIX_FADV_RANDOM",
            "POSIX_FADV_SEQUENTIAL", "POSIX_FADV_WILLNEED", "POSIX_FADV_DONTNEED",
            "POSIX_FADV_NOREUSE"]

# -- reports (issue 10): snapshots of the counters over simulated time (docs/reports.md) --
from .sampling import Sampler  # noqa: E402

__all__ += ["Sampler"]
