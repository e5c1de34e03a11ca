"""CoreLock: the C core's recursive lock of one machine (csrc/lock.c), with threading.RLock's API.

cffi releases the GIL around every call into the core, so a lock Python holds must be one the
C entry points respect: every entry point of an engine takes its lock (csrc/lock.h), and a Python
method that makes several calls holds it across them (`with k.lock:`).  Waiting happens inside
the C call, with the GIL released, so a thread that waits never blocks the holder.
"""
from ._ffi import ffi, lib

_acquire = lib.lmm_lock_acquire
_release = lib.lmm_lock_release


class CoreLock:
    """The recursive lock of a C engine that owns one (a buddy or page allocator): `ptr` is the
    lock (lmm_buddy_lock / lmm_pa_lock), `owner` the engine's garbage-collected pointer, kept
    alive as long as the lock is used.  Recursion is counted in C, so `with k.lock:` is two
    plain calls whether or not this thread already holds it."""

    __slots__ = ("_owner", "_p", "__weakref__")

    def __init__(self, ptr, owner):
        if ptr == ffi.NULL:                 # pragma: no cover - the engines always have one
            raise ValueError("no lock")
        self._owner = owner
        self._p = ptr

    @property
    def ptr(self):
        """The lock as the C core takes it (lmm_slab_set_lock); valid while this object lives."""
        return self._p

    def __reduce__(self):
        # a snapshot rebuilds the engines, each with its own lock (linuxmm/snapshot.py)
        raise TypeError("a CoreLock is not saved: the loaded engines have their own")

    def acquire(self, blocking=True, timeout=-1):
        if blocking:
            if timeout != -1:
                raise ValueError("CoreLock.acquire() supports no timeout")
            _acquire(self._p)
            return True
        return bool(lib.lmm_lock_try_acquire(self._p))

    def release(self):
        if _release(self._p):
            raise RuntimeError("cannot release un-acquired lock")

    def __enter__(self):
        _acquire(self._p)

    def __exit__(self, *exc):
        _release(self._p)

    def _is_owned(self):
        """Held by the calling thread (threading.RLock's private name for it)."""
        return lib.lmm_lock_held(self._p) > 0

    def __repr__(self):
        return f"<CoreLock held {lib.lmm_lock_held(self._p)} times by this thread>"
