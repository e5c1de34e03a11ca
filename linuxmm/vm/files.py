"""Files for mmap: inodes, open files (struct file), a per-inode page cache placeholder, and
read-only import of host files.

Identity matters: VMAs merge only within one open file (same struct file pointer), while the
page cache belongs to the inode, shared by every open file of it.
"""
import errno
import os
import posixpath
import stat

from .. import _args
from .constants import PAGE_SIZE
from .clock import charge
from .filemap import AddressSpace
from .writeback import balance_dirty_pages
from .mmu_defs import PG_DIRTY

# Device numbers printed in /proc/pid/maps.
SIMFS_DEV = (0xfe, 0x01)    # simulated ext4 disk holding files made by create_file
SHM_DEV = (0x00, 0x01)      # shm_mnt: shared anonymous memory ("/dev/zero (deleted)")
TMPFS_DEV = (0x00, 0x1b)    # a tmpfs mounted on /dev/shm (and /run)
TMPFS_MOUNTS = ("/dev/shm/", "/run/")
FILESYSTEMS = ("ext4", "tmpfs")

O_ACCMODE = 3
# s_maxbytes: ext4 with 4 KiB blocks (extent files, ext4_max_size: 2**32 - 1 blocks, 16 TiB);
# tmpfs MAX_LFS_FILESIZE (LLONG_MAX on 64-bit; ULONG_MAX << PAGE_SHIFT on 32-bit i386)
EXT4_MAX_BYTES = ((1 << 32) - 1) << 12
MAX_LFS_FILESIZE = {"x86_64": (1 << 63) - 1, "i386": ((1 << 32) - 1) << 12}


def resolve_path(path):
    """The absolute path a path names for a simulated process (cwd "/", never the host's):
    str, bytes or os.PathLike; ArgumentTypeError for anything else, ENOENT for ""."""
    from ..errors import ArgumentTypeError
    try:
        path = os.fspath(path)
    except TypeError:
        raise ArgumentTypeError(f"path must be a str, bytes or os.PathLike, "
                                f"not {type(path).__name__}") from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if "\0" in path:
        raise ValueError("path contains a NUL byte")
    if not path:
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    if not path.startswith("/"):
        path = posixpath.normpath("/" + path)
    return path


def check_rootfs(rootfs):
    """Kernel(rootfs=...): "/" (the host's root, the default), None (no host files: every host
    path is ENOENT) or a directory used as the root (a sysroot copied from another machine)."""
    if rootfs is None:
        return None
    from ..errors import ArgumentTypeError
    try:
        rootfs = os.fsdecode(os.fspath(rootfs))
    except TypeError:
        raise ArgumentTypeError(f"rootfs must be a path or None, "
                                f"not {type(rootfs).__name__}") from None
    if not os.path.isdir(rootfs):
        raise ValueError(f"rootfs {rootfs!r} is not a directory")
    rootfs = os.path.abspath(rootfs)
    return "/" if rootfs == "/" else rootfs


def resolve_in_root(root, path, max_links=40):
    """The path inside `root` that absolute `path` names with every symbolic link resolved as
    if `root` were "/" (absolute link targets and ".." stay inside it, as after chroot);
    ELOOP after max_links links."""
    parts = [p for p in path.split("/") if p]
    done = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        host = os.path.join(root, *done, part)
        if os.path.islink(host):
            links += 1
            if links > max_links:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            target = os.readlink(host)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        done.append(part)
    return "/" + "/".join(done)


MAX_RW_COUNT = (2**31 - 1) & ~(PAGE_SIZE - 1)      # include/linux/fs.h: one read/write's most


def max_bytes(kind, kernel):
    """The file system's s_maxbytes for an inode kind ("ext4" or "shmem")."""
    arch = getattr(kernel, "arch", "x86_64")
    lfs = MAX_LFS_FILESIZE.get(arch, MAX_LFS_FILESIZE["x86_64"])
    return min(EXT4_MAX_BYTES, lfs) if kind == "ext4" else lfs


class Inode:
    """An inode: number, device, size, name and page cache.  `host_path` set = imported from the
    host: its size and contents are read (lazily) from the host file, which is never written;
    writes stay in the simulation."""
    __slots__ = ("i_ino", "dev", "i_size", "path", "deleted", "i_mapping", "host_path",
                 "_backing", "kind", "charged", "device", "dirtied_when", "host_mode",
                 "host_data")

    def __init__(self, ino, dev, size, path, *, host_path=None, kind="ext4", kernel=None):
        self.i_ino = ino
        self.dev = dev
        self.i_size = size
        self.path = path
        self.deleted = False
        self.host_path = host_path
        self.kind = kind              # 'ext4' (thp_get_unmapped_area) or 'shmem'
        self.charged = 0              # shmem_acct_size: pages charged to vm_committed_as
        self.device = None            # a character device's mmap (linuxmm/vm/device.py)
        self.dirtied_when = None      # kernel.now when the inode became dirty (writeback.py)
        self.host_mode = None         # st_mode of the host file (execve's permission check)
        self.host_data = None         # the host file's bytes once known (a loaded snapshot)
        self._backing = {}            # the disk: page index -> 4096 bytes (absent: zeros
        #                               or, for a host file, the host file's bytes)
        self.i_mapping = AddressSpace(self, kernel)

    def read_backing(self, offset, length):
        """Bytes of the file's stored contents (what a read from disk returns), short at EOF."""
        end = min(offset + length, self.i_size)
        if end <= offset:
            return b""
        out = bytearray()
        pos = offset
        while pos < end:
            index, within = divmod(pos, PAGE_SIZE)
            take = min(PAGE_SIZE - within, end - pos)
            page = self._backing.get(index)
            if page is None:
                page = self._host_page(index)
            out += page[within:within + take]
            pos += take
        return bytes(out)

    def _host_page(self, index):
        if self.host_path is None:
            return bytes(PAGE_SIZE)
        if self.host_data is not None:
            data = self.host_data[index * PAGE_SIZE:(index + 1) * PAGE_SIZE]
            return data + bytes(PAGE_SIZE - len(data))
        with open(self.host_path, "rb") as f:
            f.seek(index * PAGE_SIZE)
            data = f.read(PAGE_SIZE)
        return data + bytes(PAGE_SIZE - len(data))

    def write_backing(self, offset, data):
        """Writeback: bytes reach the disk (never the host file, which stays read-only)."""
        pos = offset
        view = memoryview(bytes(data))
        while view:
            index, within = divmod(pos, PAGE_SIZE)
            take = min(PAGE_SIZE - within, len(view))
            page = self._backing.get(index)
            if page is None:
                page = bytearray(self._host_page(index))
            elif not isinstance(page, bytearray):
                page = bytearray(page)
            page[within:within + take] = view[:take]
            self._backing[index] = page
            view = view[take:]
            pos += take

    def __repr__(self):
        return f"<inode {self.dev[0]:02x}:{self.dev[1]:02x} {self.i_ino} {self.path}>"


class File:
    """An open file description (struct file)."""
    __slots__ = ("f_inode", "f_flags", "f_count", "readable", "writable", "f_ra",
                 "__weakref__")

    def __init__(self, inode, flags=os.O_RDWR):
        self.f_inode = inode
        self.f_flags = flags
        kernel = inode.i_mapping.kernel
        from .readahead import FileRaState
        self.f_ra = FileRaState(kernel.bdi if kernel is not None else None)
        acc = flags & O_ACCMODE
        self.readable = acc in (os.O_RDONLY, os.O_RDWR)
        self.writable = acc in (os.O_WRONLY, os.O_RDWR)
        self.f_count = 1

    @property
    def size(self):
        return self.f_inode.i_size

    @property
    def path(self):
        return self.f_inode.path

    def path_name(self):
        """The name /proc/pid/maps prints (d_path, ' (deleted)' for unlinked inodes)."""
        inode = self.f_inode
        return inode.path + " (deleted)" if inode.deleted else inode.path

    def _kernel(self):
        return self.f_inode.i_mapping.kernel

    def read(self, offset, length):
        """pread(2) through the page cache with the kernel's readahead (file_ra_state per open
        file); returns bytes, short at end of file."""
        if not self.readable:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        offset, length = _args.as_int(offset, "offset"), _args.as_int(length, "length")
        if offset < 0 or length < 0:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        inode = self.f_inode
        kernel = self._kernel()
        if kernel is None:
            return inode.read_backing(offset, length)
        from . import readahead
        with kernel.lock:
            mapping = inode.i_mapping
            end = min(offset + length, inode.i_size)
            if end <= offset:
                return b""
            readahead.file_read(mapping, self.f_ra, kernel.bdi, offset, end - offset,
                                random=self.f_ra.random)
            out = bytearray()
            pos = offset
            mmu = kernel.mmu
            while pos < end:
                index, within = divmod(pos, PAGE_SIZE)
                take = min(PAGE_SIZE - within, end - pos)
                pfn, _ = mapping.find_or_create(index)
                out += mmu.page_read(pfn, within, take)
                pos += take
            return bytes(out)

    def write(self, offset, data):
        """pwrite(2) of `data` (bytes) or of that many zero bytes (int) through the page cache:
        the pages become dirty (Dirty in meminfo) until written back (fsync, fadvise DONTNEED);
        the file grows when written past its end.  Returns the number of bytes written."""
        if not self.writable:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        offset = _args.as_int(offset, "offset")
        if isinstance(data, int) and not isinstance(data, bool):
            if data < 0:                            # rw_verify_area: (ssize_t)count < 0
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
            data = bytes(min(data, MAX_RW_COUNT))
        if offset < 0:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        inode = self.f_inode
        kernel = self._kernel()
        data = _args.as_bytes(data, "data")[:MAX_RW_COUNT]
        limit = max_bytes(inode.kind, kernel)       # generic_write_check_limits
        if data and offset >= limit:
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
        data = data[:limit - offset]
        if kernel is None:
            inode.write_backing(offset, data)
            inode.i_size = max(inode.i_size, offset + len(data))
            return len(data)
        with kernel.lock:
            mapping = inode.i_mapping
            mmu = kernel.mmu
            pos = offset
            view = memoryview(data)
            while view:
                index, within = divmod(pos, PAGE_SIZE)
                take = min(PAGE_SIZE - within, len(view))
                pfn = mapping.pages.get(index)
                if pfn is None:                  # write_begin: read unless the page is whole
                    whole = take == PAGE_SIZE or (within == 0 and pos + take >= inode.i_size)
                    pfn = mapping.add_page(index, read=not whole)
                mmu.page_write(pfn, within, bytes(view[:take]))
                mapping.set_dirty(pfn)
                view = view[take:]
                pos += take
            if pos > inode.i_size:
                inode.i_size = pos
            balance_dirty_pages(kernel, mapping)
            return len(data)

    def fsync(self):
        """fsync(2): write every dirty page back; they stay cached, clean."""
        kernel = self._kernel()
        if kernel is None:
            return 0
        with kernel.lock:
            written = self.f_inode.i_mapping.writeback()
            charge(kernel, "page_write", written)      # the caller waits for the I/O
        return 0

    def fadvise(self, offset, length, advice):
        """posix_fadvise(2): POSIX_FADV_NORMAL/RANDOM/SEQUENTIAL set this file's readahead,
        WILLNEED reads ahead, DONTNEED starts writeback and drops the clean, unmapped pages
        of the range (pages that were dirty are under writeback then, and stay)."""
        from . import readahead
        kernel = self._kernel()
        with kernel.lock:
            mapping = self.f_inode.i_mapping
            result = readahead.fadvise(mapping, self.f_ra, kernel.bdi, offset, length, advice)
            if advice == readahead.POSIX_FADV_DONTNEED and result is not None:
                start, end = result
                if end >= start:
                    dirty = {i for i, pfn in mapping.pages.items()
                             if start <= i <= end and kernel.mmu.flags[pfn] & PG_DIRTY}
                    mapping.writeback(start, end)
                    mapping.invalidate(start, end, keep=dirty)
        return 0

    def __repr__(self):
        return f"<File {self.path} flags={self.f_flags:#o}>"


class FileSystem:
    """The name space: simulated files (created by create_file) shadow host files, which are
    imported on first open (one inode per host path, as the page cache is per inode).  The host
    file is only read; writes through the simulation never reach it."""

    def __init__(self, kernel=None, rootfs="/"):
        self.kernel = kernel
        self.rootfs = check_rootfs(rootfs)
        self.inodes = {}
        self._next_ino = 12           # ext4: first inode after lost+found
        self._next_shm_ino = 1024
        self._next_dev_ino = 4

    def create(self, path, size, fs=None):
        """creat + ftruncate.  fs: "ext4" (the simulated disk) or "tmpfs" (shmem: pages live
        only in the page cache, holes fault in zeroed pages); by default files under /dev/shm/
        and /run/ are on tmpfs, every other path on ext4."""
        path = resolve_path(path)
        if fs is None:
            fs = "tmpfs" if path.startswith(TMPFS_MOUNTS) else "ext4"
        if fs not in FILESYSTEMS:
            raise ValueError(f"fs must be one of {FILESYSTEMS}, got {fs!r}")
        if size < 0:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        kind = "shmem" if fs == "tmpfs" else "ext4"
        if size > max_bytes(kind, self.kernel):      # inode_newsize_ok: beyond s_maxbytes
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG), path)
        old = self.inodes.get(path)
        if old is not None and old.host_path is None and old.kind == kind:
            inode = old                      # creat(2) truncates an existing file
            inode.i_mapping.truncate()
        else:
            if old is not None and old.host_path is None:
                old.deleted = True           # replaced by a file of another file system
            inode = Inode(self._next_ino, SIMFS_DEV if fs == "ext4" else TMPFS_DEV, 0, path,
                          kernel=self.kernel, kind=kind)
            self._next_ino += 1
            self.inodes[path] = inode
        inode.i_size = size
        inode._backing = {}
        return File(inode, os.O_RDWR)

    def open(self, path, flags=os.O_RDONLY):
        path = resolve_path(path)
        flags = _args.as_int(flags, "flags")
        inode = self.inodes.get(path)
        if inode is None:
            if flags & os.O_CREAT:
                return self.create(path, 0)
            inode = self._import(path)
        if (flags & O_ACCMODE) == O_ACCMODE:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), path)
        return File(inode, flags)

    def unlink(self, path):
        path = resolve_path(path)
        inode = self.inodes.pop(path, None)
        if inode is None or inode.host_path is not None:
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        inode.deleted = True

    def host_lookup(self, path):
        """(host path, path inside the root with symbolic links resolved, os.stat_result) of a
        simulated absolute path in the root file system; OSError (ENOENT with rootfs=None)."""
        root = self.rootfs
        if root is None:
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        if root == "/":
            st = os.stat(path)
            return path, os.path.realpath(path), st
        inner = resolve_in_root(root, path)
        host = os.path.join(root, inner.lstrip("/"))
        return host, inner, os.stat(host)

    def _import(self, path):
        try:
            host, real, st = self.host_lookup(path)
        except OSError as err:
            raise OSError(err.errno, os.strerror(err.errno), path) from None
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.ENODEV, "only regular host files can be imported", path)
        dev = (os.major(st.st_dev), os.minor(st.st_dev))
        # the name d_path prints is the file's own path, symbolic links resolved
        inode = Inode(st.st_ino, dev, st.st_size, real, host_path=host, kernel=self.kernel)
        inode.host_mode = st.st_mode
        self.inodes[path] = inode
        return inode

    def create_device(self, path, user_ops, vm_flags=None):
        """mknod of a character device whose mmap installs user_ops (see vm/device.py)."""
        from .device import DEFAULT_VM_FLAGS, DEVTMPFS_DEV, Device
        path = resolve_path(path)
        device = Device(user_ops, DEFAULT_VM_FLAGS if vm_flags is None else vm_flags)
        inode = Inode(self._next_dev_ino, DEVTMPFS_DEV, 0, path, kind="device",
                      kernel=self.kernel)
        self._next_dev_ino += 1
        inode.device = device
        self.inodes[path] = inode
        return File(inode, os.O_RDWR)

    def shmem_zero_file(self, size):
        """shmem_zero_setup: the unlinked shmem file behind one shared anonymous mapping."""
        inode = Inode(self._next_shm_ino, SHM_DEV, size, "/dev/zero", kind="shmem",
                      kernel=self.kernel)
        self._next_shm_ino += 1
        inode.deleted = True
        return File(inode, os.O_RDWR)
