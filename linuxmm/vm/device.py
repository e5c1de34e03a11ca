"""Character devices whose ->mmap installs a user's Python vm_ops, as a driver's does.

    class Ring:                                   # the driver's vm_operations_struct
        def fault(self, vmf):                     # vmf: linuxmm.vm.memory.VmFault
            vmf.page = vmf.grab_page()            # a frame of the device's own page cache
            return 0                              # VM_FAULT_* bits
    dev = k.create_device("/dev/ring", Ring())

Methods the object may define (all optional but fault): fault(vmf), map_pages(vmf, start_pgoff,
end_pgoff), page_mkwrite(vmf), open(vma), close(vma), name(vma).  A handler either sets
vmf.page (from vmf.grab_page(), whose reference it hands over) and returns 0 or
VM_FAULT_LOCKED, or installs a PTE itself with vmf.insert_pfn(pfn) and returns
VM_FAULT_NOPAGE, or returns an error (VM_FAULT_SIGBUS -> BusError, VM_FAULT_OOM, ...).
"""
from ..errors import ArgumentTypeError
from .constants import VM_DONTDUMP, VM_DONTEXPAND
from .vma import VmOperations

DEVTMPFS_DEV = (0x00, 0x05)
DEFAULT_VM_FLAGS = VM_DONTEXPAND | VM_DONTDUMP     # what most drivers' ->mmap set


def _wrap_fault(method):
    def fault(vmf):
        ret = method(vmf)
        if not isinstance(ret, int) or isinstance(ret, bool) or ret < 0:
            raise TypeError(f"vm_ops.fault must return VM_FAULT_* bits (an int), got {ret!r}")
        return ret
    return fault


def device_vm_ops(user_ops):
    """The VmOperations the device's mmap installs, delegating to the user's object."""
    fault = getattr(user_ops, "fault", None)
    if not callable(fault):
        raise ArgumentTypeError("a device's vm_ops needs a fault(vmf) method")
    ops = VmOperations("device")
    ops.fault = _wrap_fault(fault)
    for slot in ("map_pages", "page_mkwrite", "open", "close"):
        method = getattr(user_ops, slot, None)
        if method is not None:
            if not callable(method):
                raise ArgumentTypeError(f"vm_ops.{slot} must be callable")
            setattr(ops, slot, method)
    name = getattr(user_ops, "name", None)
    if callable(name):
        ops.name_fn = name
    ops.user = user_ops
    return ops


class Device:
    """What create_device() stores on the inode: the vm_ops and the flags ->mmap adds."""
    __slots__ = ("ops", "vm_flags")

    def __init__(self, user_ops, vm_flags=DEFAULT_VM_FLAGS):
        self.ops = device_vm_ops(user_ops)
        self.vm_flags = vm_flags
