"""The compiled core: ``ffi``/``lib`` from cffi, with a check that it matches this package."""
from ._core import ffi, lib  # noqa: F401  (built by csrc/build_ffi.py)

ABI_VERSION = 2

if lib.LMM_ABI_VERSION != ABI_VERSION:  # pragma: no cover - only with a stale build
    raise ImportError(
        f"linuxmm: the compiled core has ABI {lib.LMM_ABI_VERSION}, the Python package expects "
        f"{ABI_VERSION}; rebuild it (pip install .)"
    )


# Why the C core refused a free, as the reason names of errors.invalid_free().
FREE_REASONS = {
    -lib.LMM_EINVAL: "order",
    -lib.LMM_ERANGE: "range",
    -lib.LMM_EALIGN: "align",
    -lib.LMM_EFREE: "free",
    -lib.LMM_ENOTHEAD: "nothead",
    -lib.LMM_EORDER: "order-mismatch",
    -lib.LMM_EDUP: "dup",
    -lib.LMM_EOWNED: "slab",
    -lib.LMM_EMAPPED: "mapped",
}


def _plain(gc_ptr):
    """A non-owning cdata pointer to what an ffi.gc() pointer points to.  cffi converts a plain
    pointer argument about 8-10 ns faster than an ffi.gc() one (benchmarks/RESULTS.md, issue
    13): the hot-path closures pass the plain one and keep the owning one alive beside it."""
    return ffi.cast(ffi.typeof(gc_ptr), gc_ptr)
