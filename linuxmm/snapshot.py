"""Snapshots: Kernel.save(path) / Kernel.load(path) write and read the whole simulated state.

File format (FORMAT_VERSION 1)::

    MAGIC (16 bytes: b"LINUXMM-SNAP\\r\\n\\x1a\\n")
    header length (4 bytes, big endian), header (UTF-8 JSON): format, linuxmm version, python
        version, backend, payload length, payload sha256 (hex), compression ("zlib")
    payload: zlib of a pickle (protocol 5) of the Kernel

The pickle holds the Python object graph (processes, mm/VMAs, files and page caches, swap,
vmscan/psi/clock/oom/mlock/compaction state, slab caches).  With backend "c" the C engines'
state is exported as bytes (csrc/snapshot.c: lmm_pa_export, lmm_slab_export, lmm_mmu_export)
and rebuilt by their import functions; the numpy views of the MMU engine's arrays are made anew
over the rebuilt engine.  The kernel's own closures (its /proc renderers, statistics sources and
checkers) are saved by reference to their code in linuxmm and by the values they hold; a
user-supplied function is saved by reference when pickle can (a module-level function) and
refused with SnapshotError when it cannot (a lambda, a local function).  Host files imported into
the simulation are saved with their bytes: the loaded kernel never reads them from the host
again.  The kernel's lock is recreated.
"""
import hashlib
import io
import json
import os
import pickle
import sys
import threading
import types
import weakref
import zlib

import numpy as np

from .errors import ArgumentTypeError, SnapshotError

MAGIC = b"LINUXMM-SNAP\r\n\x1a\n"
FORMAT_VERSION = 1
_MAX_HEADER = 1 << 16
_RLOCK = type(threading.RLock())
_LOCK = type(threading.Lock())


def _version():
    from . import __version__
    return __version__


# -- local functions (the kernel's closures) ----------------------------------------------------
def _find_code(module_name, qualname, which):
    """The code object of a function defined inside another one: qualname is walked from the
    module through attributes and, past each "<locals>", through the constants of the enclosing
    code; `which` picks among same-named siblings (several lambdas)."""
    module = sys.modules.get(module_name)
    if module is None:
        module = __import__(module_name, fromlist=["_"])
    parts = qualname.split(".")
    obj, code = module, None
    i = 0
    while i < len(parts):
        part = parts[i]
        if part == "<locals>":
            if code is None:
                code = obj.__code__
            name = parts[i + 1]
            found = [c for c in code.co_consts if isinstance(c, types.CodeType) and c.co_name == name]
            last = i + 1 == len(parts) - 1
            code = found[which if last else 0]
            i += 2
            continue
        obj = getattr(obj, part)
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        i += 1
    return code


_EMPTY = ("linuxmm.snapshot", "empty cell")


def _make_function(module_name, qualname, which, name, ncells):
    code = _find_code(module_name, qualname, which)
    if len(code.co_freevars) != ncells:
        raise SnapshotError(f"{qualname}: the code of this linuxmm differs from the saved one")
    module = sys.modules[module_name]
    cells = tuple(types.CellType() for _ in range(ncells))
    return types.FunctionType(code, module.__dict__, name, None, cells or None)


def _set_function_state(func, state):
    defaults, kwdefaults, values, fdict = state
    func.__defaults__ = defaults
    func.__kwdefaults__ = kwdefaults
    for cell, value in zip(func.__closure__ or (), values):
        if value != _EMPTY:
            cell.cell_contents = value
    if fdict:
        func.__dict__.update(fdict)


def _reduce_local_function(func):
    module_name = func.__module__ or ""
    if not module_name.startswith("linuxmm"):
        raise SnapshotError(f"cannot save {func!r} ({module_name}): a lambda or local function "
                            f"given to the kernel cannot be saved; use a module-level function, "
                            f"which is saved by reference")
    parent = func.__qualname__.rsplit(".<locals>.", 1)
    try:
        code = func.__code__
        siblings = None
        if len(parent) == 2:
            outer = _find_code(module_name, parent[0], 0) if ".<locals>." in parent[0] else None
            if outer is None:
                obj = sys.modules[module_name]
                for part in parent[0].split("."):
                    obj = getattr(obj, part)
                outer = getattr(obj, "__func__", obj).__code__
            siblings = [c for c in outer.co_consts
                        if isinstance(c, types.CodeType) and c.co_name == code.co_name]
        which = siblings.index(code)
        if _find_code(module_name, func.__qualname__, which) is not code:
            raise LookupError
    except (AttributeError, LookupError, ValueError, TypeError):
        raise SnapshotError(f"cannot save {func!r}: its code cannot be found again") from None
    values = []
    for cell in func.__closure__ or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:
            values.append(_EMPTY)
    state = (func.__defaults__, func.__kwdefaults__, tuple(values), dict(func.__dict__))
    return (_make_function,
            (module_name, func.__qualname__, which, func.__name__, len(func.__closure__ or ())),
            state, None, None, _set_function_state)


# -- the C engines --------------------------------------------------------------------------------
def _export(fn, ptr):
    from ._ffi import ffi
    n = fn(ptr, ffi.NULL, 0)
    if n < 0:
        raise SnapshotError("the C engine refused to export its state (stale build?)")
    buf = bytearray(n)
    if fn(ptr, ffi.from_buffer("uint8_t[]", buf), n) != n:      # pragma: no cover
        raise SnapshotError("the C engine's state changed size while exported")
    return bytes(buf)


def _damaged(what):
    return SnapshotError(f"damaged snapshot: the {what} engine's state cannot be rebuilt")


_PA_SKIP = ("lock", "_ptr", "_errors", "_orders", "_info", "_zl", "_msg", "alloc_pages", "free_pages", "_frame_owners")


def _reduce_pa(pa):
    from ._ffi import lib
    state = {k: v for k, v in pa.__dict__.items() if k not in _PA_SKIP}
    return (_restore_pa, (type(pa), _export(lib.lmm_pa_export, pa._ptr), state["max_order"],
                          state["cpus"], state["_min_pfn"], state["_max_pfn"]),
            state)


def _restore_pa(cls, data, max_order, cpus, min_pfn, max_pfn):
    from ._ffi import ffi, lib
    raw = lib.lmm_pa_import(data, len(data))
    if raw == ffi.NULL:
        raise _damaged("page allocator")
    pa = cls.__new__(cls)
    pa._ptr = ffi.gc(raw, lib.lmm_pa_destroy, size=lib.lmm_pa_metadata_bytes(raw))
    pa.max_order, pa.cpus = max_order, cpus          # (the state pickled with them sets
    pa._scratch_and_fast_paths(min_pfn, max_pfn)     # them again)
    return pa


_MMU_SKIP = ("_ptr", "_pa_ptr", "_reason", "_leaf", "_scanned", "_flat_cache", "_counters_cache",
             "_refs_cache")


def _mmu_arrays():
    from .mmu import _ARRAYS
    return [name for name, _, _, _ in _ARRAYS]


def _reduce_mmu(mmu):
    from ._ffi import lib
    skip = set(_MMU_SKIP) | set(_mmu_arrays())
    state = {k: v for k, v in mmu.__dict__.items() if k not in skip}
    return (_restore_mmu, (type(mmu), mmu.pa, _export(lib.lmm_mmu_export, mmu._ptr)), state)


def _restore_mmu(cls, pa, data):
    from ._ffi import ffi, lib
    raw = lib.lmm_mmu_import(pa._ptr, data, len(data))
    if raw == ffi.NULL:
        raise _damaged("MMU")
    m = cls.__new__(cls)
    # max_pfn is in the state too, but the views are needed now: the stream has it after its
    # header (magic, size) and the engine's lock and pa pointers
    m._attach(pa, raw, int(np.frombuffer(data, dtype=np.int64, count=1, offset=16 + 16)[0]))
    return m


_SLAB_SKIP = ("lock", "_sys", "_geom", "_info", "_counters", "_msg")


def _reduce_slab(sa):
    from ._ffi import lib
    from .page_alloc import PageAllocator
    if not isinstance(sa.page_source, PageAllocator):
        raise SnapshotError("only a slab allocator over the C PageAllocator can be saved")
    state = {k: v for k, v in sa.__dict__.items() if k not in _SLAB_SKIP}
    return (_restore_slab, (type(sa), sa.page_source, _export(lib.lmm_slab_export, sa._sys)),
            state)


def _restore_slab(cls, page_source, data):
    from ._ffi import ffi, lib
    from .slab.cache import _page_source
    alloc_cb, free_cb, ctx = _page_source(page_source)
    raw = lib.lmm_slab_import(data, len(data), alloc_cb, free_cb, ctx)
    if raw == ffi.NULL:
        raise _damaged("slab")
    sa = cls.__new__(cls)
    sa._attach(raw, page_source)
    return sa


_CACHE_SKIP = ("_sys", "_stats_buf", "_fast", "alloc", "free")


def _reduce_cache(cache):
    state = {k: v for k, v in cache.__dict__.items() if k not in _CACHE_SKIP}
    return (_restore_cache, (type(cache), cache.allocator, cache._id), state)


def _restore_cache(cls, allocator, cid):
    c = cls.__new__(cls)
    c._bind(allocator, cid)
    return c


def _fast_path_owner(func, engines):
    """A fast-path closure of a C engine object (PageAllocator._bind_fast_paths, slab.cache
    _fast_paths): (owner, attribute) so that it is saved as the rebuilt owner's own closure."""
    qual = func.__qualname__
    cells = dict(zip(func.__code__.co_freevars, func.__closure__ or ()))
    if qual.startswith("PageAllocator._bind_fast_paths.<locals>."):
        # the closures hold the allocator's C pointer (a plain copy of pa._ptr): match it by
        # address with the engines being saved
        from ._ffi import ffi
        addr = int(ffi.cast("uintptr_t", cells["ptr"].cell_contents))
        owner = next((pa for pa in engines.values()
                      if int(ffi.cast("uintptr_t", pa._ptr)) == addr), None)
        if owner is None:
            raise SnapshotError("cannot save a page allocator closure of another kernel")
        return owner, func.__name__
    if qual.startswith("_fast_paths.<locals>.") and func.__module__ == "linuxmm.slab.cache":
        cache = cells["cache"].cell_contents
        return (cache, "_fast"), 0 if func.__name__ == "alloc" else 1
    return None


def _no_lock():
    return None


def _fast_path(owner, name):
    if isinstance(owner, tuple):
        return getattr(owner[0], owner[1])[name]
    return getattr(owner, name)


class _Pickler(pickle.Pickler):
    def __init__(self, file, views, engines):
        super().__init__(file, protocol=5)
        self._views = views
        self._engines = engines
        from ._ffi import ffi
        self._cdata = ffi.CData
        from .corelock import CoreLock
        self._core_lock = CoreLock
        self._buffer = ffi.buffer
        from .page_alloc import PageAllocator, _Errors
        from .mmu import Mmu
        from .slab.cache import KmemCache, SlabAllocator
        self._types = {PageAllocator: _reduce_pa, Mmu: _reduce_mmu, SlabAllocator: _reduce_slab}
        self._cache_type = KmemCache
        self._errors_type = _Errors

    def proxy_targets(self, kernel):
        """The objects weak proxies may stand for (the Kernel and what it holds directly:
        subsystems hold the Kernel, caches their allocator, through weakref.proxy); a proxy
        is saved as a proxy of the same object, rebuilt on load."""
        self._targets = [kernel] + [v for v in vars(kernel).values()
                                    if type(v) not in (weakref.ProxyType,
                                                       weakref.CallableProxyType)
                                    and hasattr(v, "__dict__") and not isinstance(v, type)]

    def _proxy_target(self, proxy):
        for target in getattr(self, "_targets", ()):
            try:
                if weakref.proxy(target) is proxy:  # plain proxies of an object are shared
                    return target
            except TypeError:                       # not weakly referenceable
                continue
        raise SnapshotError(f"cannot save a weak proxy to {type(proxy).__name__}")

    def reducer_override(self, obj):
        t = type(obj)
        if t is weakref.ProxyType:
            return (weakref.proxy, (self._proxy_target(obj),))
        reduce = self._types.get(t)
        if reduce is not None:
            return reduce(obj)
        if isinstance(obj, self._cache_type):
            return _reduce_cache(obj)
        if t is types.FunctionType:
            if "<locals>" in obj.__qualname__ or obj.__name__ == "<lambda>":
                owner = _fast_path_owner(obj, self._engines)
                if owner is not None:
                    return (_fast_path, owner)
                return _reduce_local_function(obj)
            return NotImplemented
        if t is self._core_lock:            # the engine's own, rebuilt with it (loads)
            return (_no_lock, ())
        if t is _RLOCK:
            return (threading.RLock, ())
        if t is _LOCK:
            return (threading.Lock, ())
        if t is weakref.WeakSet:
            return (weakref.WeakSet, (list(obj),))
        if t is np.ndarray:
            root = obj
            while isinstance(root.base, np.ndarray):
                root = root.base
            if isinstance(root.base, self._buffer):         # a view of C engine memory
                where = self._views.get(id(root))
                if where is None or root is not obj:
                    raise SnapshotError("cannot save a numpy view of C engine memory other "
                                        "than the MMU's own arrays")
                return (getattr, where)
            return NotImplemented
        if isinstance(obj, self._cdata):
            raise SnapshotError(f"cannot save C engine data {obj!r} outside the engines")
        if isinstance(obj, self._errors_type):
            raise SnapshotError("internal: an allocator's error helper met outside it")
        if t.__name__ == "Inode" and t.__module__ == "linuxmm.vm.files":
            return _reduce_inode(obj)
        return NotImplemented


def _reduce_inode(inode):
    """An inode with its host file's bytes (read now, once) when it was imported from the host."""
    state = {}
    for name in type(inode).__slots__:
        if hasattr(inode, name):
            state[name] = getattr(inode, name)
    if inode.host_path is not None and inode.host_data is None:
        try:
            with open(inode.host_path, "rb") as f:
                state["host_data"] = f.read()
        except OSError as err:
            raise SnapshotError(f"cannot read the host file {inode.host_path}: {err}") from None
    return (_new_inode, (type(inode),), state, None, None, _set_slots)


def _new_inode(cls):
    return cls.__new__(cls)


def _set_slots(obj, state):
    for name, value in state.items():
        setattr(obj, name, value)


# -- files ----------------------------------------------------------------------------------------
def dumps(kernel):
    """The snapshot of kernel as bytes (what save() writes)."""
    views = {}
    mmu = getattr(kernel, "mmu", None)
    if mmu is not None and getattr(mmu, "backend", None) == "c":
        for name in _mmu_arrays():
            views[id(getattr(mmu, name))] = (mmu, name)
    pa = getattr(kernel, "_pa", None)
    engines = {id(pa._ptr): pa} if getattr(pa, "backend", None) == "c" else {}
    buf = io.BytesIO()
    with kernel.lock:
        try:
            pickler = _Pickler(buf, views, engines)
            pickler.proxy_targets(kernel)
            pickler.dump(kernel)
        except SnapshotError:
            raise
        except (pickle.PicklingError, TypeError, AttributeError) as err:
            raise SnapshotError(f"cannot save this kernel: {err}") from None
    payload = zlib.compress(buf.getvalue(), 6)
    header = json.dumps({
        "format": FORMAT_VERSION,
        "linuxmm": _version(),
        "python": "%d.%d" % sys.version_info[:2],
        "backend": kernel.backend,
        "compression": "zlib",
        "payload_bytes": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }, sort_keys=True).encode()
    return MAGIC + len(header).to_bytes(4, "big") + header + payload


def read_header(data):
    """The header of a snapshot (a dict); SnapshotError when data is not one this linuxmm
    reads."""
    if len(data) < len(MAGIC) + 4 or not data.startswith(MAGIC):
        raise SnapshotError("not a linuxmm snapshot (wrong magic)")
    n = int.from_bytes(data[len(MAGIC):len(MAGIC) + 4], "big")
    start = len(MAGIC) + 4
    if n > _MAX_HEADER or start + n > len(data):
        raise SnapshotError("damaged snapshot: truncated header")
    try:
        header = json.loads(data[start:start + n].decode())
        fmt = header["format"]
    except (ValueError, KeyError, TypeError):
        raise SnapshotError("damaged snapshot: unreadable header") from None
    if not isinstance(fmt, int) or fmt > FORMAT_VERSION or fmt < 1:
        raise SnapshotError(f"snapshot format {fmt} is not supported by linuxmm {_version()} "
                            f"(it reads format {FORMAT_VERSION})")
    header["_payload_offset"] = start + n
    return header


def loads(data):
    """The Kernel a snapshot (bytes) holds."""
    data = bytes(data)
    header = read_header(data)
    payload = data[header["_payload_offset"]:]
    if len(payload) != header.get("payload_bytes"):
        raise SnapshotError(f"damaged snapshot: truncated payload ({len(payload)} bytes of "
                            f"{header.get('payload_bytes')})")
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise SnapshotError("damaged snapshot: the payload's SHA-256 does not match")
    if header.get("linuxmm") != _version():
        raise SnapshotError(f"snapshot written by linuxmm {header.get('linuxmm')}, this is "
                            f"linuxmm {_version()}")
    if header.get("compression") != "zlib":
        raise SnapshotError(f"unknown compression {header.get('compression')!r}")
    try:
        raw = zlib.decompress(payload)
        kernel = pickle.loads(raw)
    except SnapshotError:
        raise
    except Exception as err:        # a checksummed payload that still does not load
        raise SnapshotError(f"damaged snapshot: {type(err).__name__}: {err}") from None
    from .kernel import Kernel
    if not isinstance(kernel, Kernel):
        raise SnapshotError("the snapshot does not hold a Kernel")
    if getattr(kernel, "backend", None) == "c":
        kernel.lock = kernel._pa.lock               # the machine's lock: the rebuilt engine's
        # the allocator's view of the fault path's frame owners points into the new MMU
        from .vm.mmu_defs import PG_OWNER_MASK
        kernel._pa.set_frame_owners(kernel.mmu.flags, PG_OWNER_MASK)
    return kernel


def _file_path(path):
    """A path to open: str, bytes or os.PathLike.  Anything else is ArgumentTypeError (an int
    would be taken by open() as a file descriptor, and closed)."""
    if isinstance(path, (str, bytes, os.PathLike)):
        return path
    raise ArgumentTypeError(f"path must be a str, bytes or os.PathLike, not {type(path).__name__}")


def save(kernel, path):
    path = _file_path(path)
    data = dumps(kernel)
    with open(path, "wb") as f:
        f.write(data)


def load(path):
    with open(_file_path(path), "rb") as f:
        data = f.read()
    return loads(data)
