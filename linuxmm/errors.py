"""Exceptions.  Each inherits from MMError and from the builtin a caller would expect."""


class MMError(Exception):
    """Base class of every linuxmm error."""


class OutOfMemory(MMError, MemoryError):
    """No free block can satisfy the request."""


class InvalidFree(MMError, ValueError):
    """A free names something that is not an allocated block (or not of that order)."""


class ArgumentTypeError(MMError, TypeError, ValueError):
    """An argument of the wrong type (a float order, a string gfp): both a TypeError, as Python
    code expects, and a ValueError, as the kernel-facing API documents for bad arguments."""


class SysctlError(MMError, OSError, ValueError):
    """A refused write of a sysctl-like Kernel attribute (k.swappiness = 500): the value is
    outside the range the kernel's handler (proc_dointvec_minmax & co.) accepts.  Both
    OSError(EINVAL), what the write(2) to /proc/sys/vm/* returns, and a ValueError, the type
    every refused write raises (a non-integer raises ArgumentTypeError, also a ValueError).
    The attribute keeps its old value."""


class SnapshotError(MMError, ValueError):
    """Kernel.save() met state it cannot save (a user-supplied function that cannot be pickled
    by reference), or Kernel.load() was given a damaged, truncated or foreign file, or one of
    a format version this linuxmm does not read."""


class InvariantError(MMError, AssertionError):
    """check() found a broken invariant: the model's state is corrupt."""


# Why a free was refused: one message per reason, shared by both backends so that they raise
# identical errors.
_FREE_REASONS = {
    "order": "order {order} is outside 0..max_order",
    "range": "pfn {pfn} is outside this allocator's range [{start_pfn}, {end_pfn})",
    "align": "pfn {pfn} is not aligned to order {order}",
    "free": "double free: pfn {pfn} is already free",
    "dup": "double free: pfn {pfn} is named twice in one bulk free",
    "nothead": "pfn {pfn} is not the first page of an allocated block",
    "order-mismatch": "pfn {pfn} was allocated with order {allocated_order}, freed with order {order}",
    "slab": "pfn {pfn} belongs to the slab allocator (a slab or a large kmalloc): "
            "kfree/kmem_cache_free release it, not free_pages",
    "mapped": "pfn {pfn} belongs to the fault path (a user page, page-cache page, page table or "
              "zero page): it is released when its last reference goes, not by free_pages",
}


def invalid_free(reason, pfn, order, *, start_pfn=0, end_pfn=0, allocated_order=None):
    """The InvalidFree for one refused free; .reason, .pfn and .order say what was wrong."""
    err = InvalidFree(_FREE_REASONS[reason].format(pfn=pfn, order=order, start_pfn=start_pfn,
                                                   end_pfn=end_pfn, allocated_order=allocated_order))
    err.reason = reason
    err.pfn = pfn
    err.order = order
    return err


class SegmentationFault(MMError):
    """SIGSEGV delivered to a simulated process: `.addr` is the faulting address, `.code`
    "SEGV_MAPERR" (nothing mapped there) or "SEGV_ACCERR" (the VMA forbids the access)."""

    def __init__(self, addr, code):
        super().__init__(f"SIGSEGV ({code}) at 0x{addr:x}")
        self.addr = addr
        self.code = code
        self.signal = 11


class BusError(MMError):
    """SIGBUS delivered to a simulated process (BUS_ADRERR: a file page beyond EOF inside the
    mapping, or a fault handler that returned VM_FAULT_SIGBUS)."""

    def __init__(self, addr, code="BUS_ADRERR"):
        super().__init__(f"SIGBUS ({code}) at 0x{addr:x}")
        self.addr = addr
        self.code = code
        self.signal = 7


class Killed(MMError):
    """The process was killed by SIGKILL (the OOM killer chose it): raised by the access or
    system call during which it died and by every later call on the process.  `.pid`, `.signal`
    (9) and `.addr` (the faulting address when its own page fault ran out of memory, else
    None)."""

    def __init__(self, pid, addr=None):
        where = f" at 0x{addr:x}" if addr is not None else ""
        super().__init__(f"process {pid} killed by SIGKILL (out of memory){where}")
        self.pid = pid
        self.addr = addr
        self.signal = 9
