"""vm_area_struct, anon_vma and vm_operations_struct (include/linux/mm_types.h, include/linux/mm.h)."""
import errno
import os

from . import filemap_fault as _filemap_fault
from .constants import PAGE_SHIFT, VM_GROWSDOWN, STACK_GUARD_GAP, vm_flags_string


class AnonVma:
    """The reverse-map root of anonymous pages (mm/rmap.c).  Identity is what matters for merges."""
    __slots__ = ("id", "degree", "parent")
    _next_id = 0

    def __init__(self):
        AnonVma._next_id += 1
        self.id = AnonVma._next_id
        self.degree = 0
        self.parent = None            # the parent process's anon_vma (anon_vma_fork)

    def __repr__(self):
        return f"<anon_vma #{self.id}>"


class VmOperations:
    """A vm_operations_struct.  `kind` tells the fault code which handlers apply ('file', 'shmem',
    'special'); the handler slots are filled in by the page-fault subsystem."""
    __slots__ = ("kind", "label", "open", "close", "may_split", "mremap", "fault", "huge_fault",
                 "map_pages", "page_mkwrite", "pfn_mkwrite", "access", "name_fn", "user")

    def __init__(self, kind, label=None, *, close=None, mremap=None, page_mkwrite=None):
        self.kind = kind
        self.label = label          # what vm_ops->name() returns ([vdso], [vvar], ...)
        self.open = None
        self.close = close
        self.may_split = None
        self.mremap = mremap
        self.fault = None
        self.huge_fault = None
        self.map_pages = None
        self.page_mkwrite = page_mkwrite
        self.pfn_mkwrite = None
        self.access = None
        self.user = None          # a device's own vm_ops object (linuxmm/vm/device.py)
        self.name_fn = None       # a device's name(vma)

    def name(self, vma):
        if self.name_fn is not None:
            return self.name_fn(vma)
        return self.label

    def __repr__(self):
        return f"<vm_ops {self.kind}{' ' + self.label if self.label else ''}>"


def _noop(vma):
    return None


# ext4/generic file mappings: filemap_fault, filemap_map_pages, page_mkwrite (write-notify).
FILE_VM_OPS = VmOperations("file", page_mkwrite=_filemap_fault.filemap_page_mkwrite)
FILE_VM_OPS.fault = _filemap_fault.filemap_fault
FILE_VM_OPS.map_pages = _filemap_fault.filemap_map_pages
# shmem (shared anonymous memory, tmpfs): no page_mkwrite, no close.
SHMEM_VM_OPS = VmOperations("shmem")
SHMEM_VM_OPS.fault = _filemap_fault.shmem_fault
SHMEM_VM_OPS.map_pages = _filemap_fault.filemap_map_pages


def special_mapping_split(vma, addr):
    """special_mapping_split: the kernel expects a fixed number of pages, splits are refused."""
    raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))


def special_mapping_ops(label, mremap=False):
    """_install_special_mapping's ops: fault, name, close (so it is never removed by a merge)
    and may_split, which refuses every split."""
    ops = VmOperations("special", label, close=_noop, mremap=_noop if mremap else None)
    ops.may_split = special_mapping_split
    ops.fault = _filemap_fault.special_mapping_fault
    return ops


class VmArea:
    """One VMA: [vm_start, vm_end) with flags, file and offset."""
    __slots__ = ("vm_start", "vm_end", "vm_flags", "vm_pgoff", "vm_file", "anon_vma", "vm_ops",
                 "vm_mm", "anon_vma_chain", "vm_private_data", "__weakref__")

    def __init__(self, mm, start, end, flags, pgoff, file=None, ops=None, anon_vma=None):
        self.vm_mm = mm
        self.vm_start = start
        self.vm_end = end
        self.vm_flags = flags
        self.vm_pgoff = pgoff
        self.vm_file = file
        self.vm_ops = ops
        self.anon_vma = anon_vma
        # Length of the anon_vma_chain: 1 for a VMA that owns or shares one anon_vma, more when
        # inherited through fork (then a fresh neighbour no longer merges with it).
        self.anon_vma_chain = 1 if anon_vma is not None else 0
        self.vm_private_data = None

    def dup(self):
        """vm_area_dup: a copy sharing file, ops and anon_vma (anon_vma_clone)."""
        new = VmArea(self.vm_mm, self.vm_start, self.vm_end, self.vm_flags, self.vm_pgoff,
                     self.vm_file, self.vm_ops, self.anon_vma)
        new.anon_vma_chain = self.anon_vma_chain
        new.vm_private_data = self.vm_private_data
        if self.vm_file is not None:
            self.vm_file.f_count += 1
        return new

    @property
    def pages(self):
        return (self.vm_end - self.vm_start) >> PAGE_SHIFT

    def is_anonymous(self):
        """vma_is_anonymous: no vm_ops."""
        return self.vm_ops is None

    def start_gap(self):
        """vm_start_gap: the start widened by stack_guard_gap below a VM_GROWSDOWN VMA."""
        start = self.vm_start
        if self.vm_flags & VM_GROWSDOWN:
            start -= STACK_GUARD_GAP
            if start < 0:
                start = 0
        return start

    def name(self):
        """The label /proc/pid/maps prints after the inode, or '' (file names come from vm_file)."""
        if self.vm_file is not None:
            return self.vm_file.path_name()
        if self.vm_ops is not None and self.vm_ops.label:
            return self.vm_ops.name(self)
        return ""

    def __repr__(self):
        name = self.name()
        return (f"<VMA {self.vm_start:x}-{self.vm_end:x} {vm_flags_string(self.vm_flags).strip()}"
                f" pgoff={self.vm_pgoff:#x}{' ' + name if name else ''}>")
