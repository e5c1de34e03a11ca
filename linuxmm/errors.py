"""Exceptions.  Each inherits from MMError and from the builtin a caller would expect."""


class MMError(Exception):
    """Base class of every linuxmm error."""


class OutOfMemory(MMError, MemoryError):
    """No free block can satisfy the request."""


class InvalidFree(MMError, ValueError):
    """A free names something that is not an allocated block (or not of that order)."""


class InvariantError(MMError, AssertionError):
    """check() found a broken invariant: the model's state is corrupt."""


# Why a free was refused: one message per reason, shared by both backends so that they raise
# identical errors.
def invalid_free(reason, pfn, order, *, start_pfn=0, end_pfn=0, allocated_order=None):
    if reason == "order":
        text = f"order {order} is outside 0..max_order"
    elif reason == "range":
        text = f"pfn {pfn} is outside this allocator's range [{start_pfn}, {end_pfn})"
    elif reason == "align":
        text = f"pfn {pfn} is not aligned to order {order}"
    elif reason == "free":
        text = f"double free: pfn {pfn} is already free"
    elif reason == "dup":
        text = f"double free: pfn {pfn} is named twice in one bulk free"
    elif reason == "nothead":
        text = f"pfn {pfn} is not the first page of an allocated block"
    elif reason == "order-mismatch":
        text = f"pfn {pfn} was allocated with order {allocated_order}, freed with order {order}"
    else:  # pragma: no cover - a programming error
        raise AssertionError(reason)
    err = InvalidFree(text)
    err.reason = reason
    err.pfn = pfn
    err.order = order
    return err
