"""Thread safety shared by both backends: the rule and the decorator that applies it.

The rule (README, "Threads"): one recursive lock per machine.  A Kernel, its zones, caches,
processes and files share the Kernel's lock (`k.lock`); a bare BuddyAllocator or PageAllocator
has its own, and a bare SlabAllocator shares its page source's.  On the C backend the lock is
the core's (linuxmm.corelock.CoreLock): every C entry point takes it, so the hot calls that are
one C call (alloc/free fast paths) need no Python-level locking at all; every other public
method holds it for its whole run.  On the reference backend it is a threading.RLock and every
public method holds it.
"""
import functools
import inspect

# dunders that read state and so lock like public methods
_LOCKED_DUNDERS = ("__repr__", "__len__", "__getitem__", "__contains__")


def _locked(func):
    if getattr(func, "_holds_lock", False):
        return func

    @functools.wraps(func)
    def locked(self, *args, **kwargs):
        with self.lock:
            return func(self, *args, **kwargs)

    locked._holds_lock = True
    return locked


def synchronized(cls=None, *, exclude=()):
    """Class decorator: every public method and property of cls, its own and inherited ones,
    runs holding self.lock (a recursive lock).  Names in `exclude` are left alone (the C fast
    paths, whose single C call takes the lock itself, and methods that lock inside)."""
    def apply(cls):
        for name in dir(cls):
            if name in exclude or name == "lock" or \
                    (name.startswith("_") and name not in _LOCKED_DUNDERS):
                continue
            attr = inspect.getattr_static(cls, name)
            if isinstance(attr, property):
                fget = attr.fget and _locked(attr.fget)
                fset = attr.fset and _locked(attr.fset)
                setattr(cls, name, property(fget, fset, attr.fdel, attr.__doc__))
            elif inspect.isfunction(attr):
                setattr(cls, name, _locked(attr))
        return cls
    return apply(cls) if cls is not None else apply
