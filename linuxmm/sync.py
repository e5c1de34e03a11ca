"""Thread safety shared by both backends: the rule and the decorator that applies it.

The rule (README, "Threads"): one recursive lock per machine.  A Kernel, its zones, caches,
processes and files share the Kernel's lock (`k.lock`); a bare BuddyAllocator or PageAllocator
has its own, and a bare SlabAllocator shares its page source's.  On the C backend the lock is
the core's (linuxmm.corelock.CoreLock): every C entry point takes it, so the hot calls that are
one C call (alloc/free fast paths) need no Python-level locking at all; every other public
method holds it for its whole run.  On the reference backend it is a threading.RLock and every
public method holds it.
"""
import dis
import functools
import inspect

# dunders that read state and so lock like public methods
_LOCKED_DUNDERS = ("__repr__", "__len__", "__getitem__", "__contains__")


class _Unshared:
    """The lock of an object under construction, which no other thread can see yet."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


UNSHARED = _Unshared()


def _takes_lock_itself(func):
    """Does the body, or the body a decorator wraps, name `.lock` (`with self.lock:`,
    `with self.kernel.lock:`)?  Such a method holds the lock where it needs it and is left as
    it is."""
    while func is not None:
        if "lock" in func.__code__.co_names:
            return True
        func = getattr(func, "__wrapped__", None)
    return False


def _reads_attributes_only(func):
    """A getter that calls nothing (reads of attributes, constants, arithmetic): it sees one
    consistent value of each attribute without the lock, as any read under the GIL does, and
    locking it would only add cost (the sysctls read on every system call)."""
    return not any("CALL" in ins.opname for ins in dis.get_instructions(func))


def _locked(func):
    if getattr(func, "_holds_lock", False) or _takes_lock_itself(func):
        return func

    @functools.wraps(func)
    def locked(self, *args, **kwargs):
        with self.lock:
            return func(self, *args, **kwargs)

    locked._holds_lock = True
    return locked


def synchronized(cls=None, *, exclude=()):
    """Class decorator: every public method and property of cls, its own and inherited ones,
    runs holding self.lock (a recursive lock), unless its body takes the lock itself or it is a
    getter that only reads attributes.  Names in `exclude` are left alone: the fast paths that
    are one call into an engine that locks."""
    def apply(cls):
        for name in dir(cls):
            if name in exclude or name == "lock" or \
                    (name.startswith("_") and name not in _LOCKED_DUNDERS):
                continue
            attr = inspect.getattr_static(cls, name)
            if isinstance(attr, property):
                fget = attr.fget
                if fget is not None and not _reads_attributes_only(fget):
                    fget = _locked(fget)
                fset = attr.fset and _locked(attr.fset)
                setattr(cls, name, property(fget, fset, attr.fdel, attr.__doc__))
            elif inspect.isfunction(attr):
                setattr(cls, name, _locked(attr))
        return cls
    return apply(cls) if cls is not None else apply
