"""Processes and address spaces: VMAs, the mmap family, exec of ELF files, /proc/<pid>/maps."""
from . import constants
from .constants import *  # noqa: F401,F403
from .files import File, Inode
from .mm import MmStruct
from .process import Process
from .vma import AnonVma, VmArea, VmOperations

__all__ = list(constants.__all__) + ["AnonVma", "File", "Inode", "MmStruct", "Process", "VmArea",
                                     "VmOperations"]
