"""Argument checks shared by the C-backed classes and the reference models."""
import operator

import numpy as np

from .errors import ArgumentTypeError, SysctlError

INT_MAX = 2**31 - 1
ULONG_MAX = 2**64 - 1

MAX_ORDER_LIMIT = 20


def as_int(value, name, _int=int):
    """An integer argument (bool refused), or ArgumentTypeError (a TypeError and a ValueError)."""
    if value.__class__ is _int:             # the common case, decided by one identity test
        return value
    if isinstance(value, bool):
        raise ArgumentTypeError(f"{name} must be an integer, not bool")
    try:
        return operator.index(value)
    except TypeError:
        raise ArgumentTypeError(f"{name} must be an integer, not {type(value).__name__}") from None


def buddy_geometry(nr_pages, start_pfn, max_order):
    nr_pages = as_int(nr_pages, "nr_pages")
    start_pfn = as_int(start_pfn, "start_pfn")
    max_order = as_int(max_order, "max_order")
    if not 0 < nr_pages < 2**32 - 1:
        raise ValueError(f"nr_pages must be in 1..{2**32 - 2}, got {nr_pages}")
    if not 0 <= start_pfn <= 2**62:
        raise ValueError(f"start_pfn must be in 0..2**62, got {start_pfn}")
    if not 0 <= max_order <= MAX_ORDER_LIMIT:
        raise ValueError(f"max_order must be in 0..{MAX_ORDER_LIMIT}, got {max_order}")
    return nr_pages, start_pfn, max_order


def check_alloc_order(order, max_order):
    if isinstance(order, bool) or not isinstance(order, int):
        order = as_int(order, "order")
    if not 0 <= order <= max_order:
        raise ValueError(f"order must be in 0..{max_order}, got {order}")
    return order


def check_count(count):
    count = as_int(count, "count")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    return count


def int_array(values, dtype, name):
    """Any buffer or sequence of integers as a contiguous 1-D array of dtype (no copy when it is
    one already); ArgumentTypeError for non-integers, ValueError for values dtype cannot hold."""
    arr = np.asarray(values)
    if arr.dtype != dtype:
        if (arr.size or arr.ndim != 1) and arr.dtype.kind not in "iu":     # [()]: not integers
            raise ArgumentTypeError(f"{name} must be integers, not {arr.dtype}")
        info = np.iinfo(dtype)
        if arr.size and (int(arr.min()) < info.min or int(arr.max()) > info.max):
            raise ValueError(f"{name} out of range: {np.dtype(dtype).name} cannot hold them")
        arr = arr.astype(dtype)
    return np.ascontiguousarray(arr.reshape(-1))


def as_bytes(data, name):
    """A bytes-like argument (bytes, bytearray, memoryview, a numpy array: the buffer
    protocol) as bytes; ArgumentTypeError for anything else (a str, an int, None, a list)."""
    if isinstance(data, bytes):
        return data
    try:
        return memoryview(data).tobytes()
    except TypeError:
        raise ArgumentTypeError(f"{name} must be bytes-like, not {type(data).__name__}") from None


def check_host_bytes(need, what):
    """MemoryError, before anything is built, when `need` bytes of host memory exceed the
    host's MemAvailable (as boot.check_host_memory does for a machine)."""
    from .boot import host_available_bytes
    avail = host_available_bytes()
    if avail is not None and need > avail:
        raise MemoryError(f"{what} needs about {need >> 20} MiB of host memory; the host has "
                          f"{avail >> 20} MiB available (MemAvailable)")


def pfn_array(pfns):
    """pfns as a contiguous int64 array (see int_array)."""
    return int_array(pfns, np.int64, "pfns")


def sysctl_int(value, name, lo=0, hi=INT_MAX):
    """A sysctl write as proc_dointvec_minmax checks it: an integer (bool, float, None, str
    refused with ArgumentTypeError) in lo..hi (SysctlError, OSError(EINVAL) and ValueError)."""
    value = as_int(value, name)
    if not lo <= value <= hi:
        import errno
        raise SysctlError(errno.EINVAL, f"vm.{name} must be in {lo}..{hi}, got {value}")
    return value


BULK_CLAMP = 1 << 16        # bulk counts above this are checked against what could be allocated


def free_pages_of(src):
    """Pages a page source could still hand out: a BuddyAllocator's free pages, or a
    PageAllocator's free pages plus those on its per-CPU lists (an upper bound, cheap)."""
    zones = getattr(src, "nr_zones", None)
    if zones is None:
        return src.free_pages
    return sum(src.nr_free_pages(i) + sum(src.pcp_count(i, c) for c in range(src.cpus))
               for i in range(zones))
