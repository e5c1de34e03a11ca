"""Pure-Python reference models: the same API and results as the C-backed classes."""
from .buddy import BuddyAllocator
from .page_alloc import PageAllocator

__all__ = ["BuddyAllocator", "PageAllocator"]

# -- slab flags: the SLAB_* names, as linuxmm has them --
from ..slab import flags as _slab_flags  # noqa: E402

globals().update(_slab_flags.public_flags())
__all__ += sorted(_slab_flags.public_flags())

# -- slab (linuxmm/reference/slab.py) --
from .slab import KmemCache, SlabAllocator  # noqa: E402

__all__ += ["KmemCache", "SlabAllocator"]

# -- rev3 (issue 3): Kernel on the reference models, so that backend.Kernel(...) works for both --
from ..kernel import Kernel as _Kernel  # noqa: E402


class Kernel(_Kernel):
    """linuxmm.Kernel with backend="reference" (the pure-Python page allocator and slab)."""

    def __init__(self, mem=None, *, backend="reference", **kwargs):
        super().__init__(mem, backend=backend, **kwargs)


__all__ += ["Kernel"]

# the gfp flags and migratetypes, as linuxmm exports them (backend.GFP_KERNEL works for both)
from .. import gfp  # noqa: E402
from ..gfp import *  # noqa: E402,F401,F403

__all__ += ["gfp"] + [_n for _n in gfp.__all__ if _n.startswith(("GFP_", "__GFP_", "MIGRATE_"))]
