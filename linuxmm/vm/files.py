"""Files for mmap: inodes, open files (struct file), a per-inode page cache placeholder, and
read-only import of host files.

Identity matters: VMAs merge only within one open file (same struct file pointer), while the
page cache belongs to the inode, shared by every open file of it.
"""
import errno
import os

from .constants import PAGE_SIZE

# Device numbers printed in /proc/pid/maps.
SIMFS_DEV = (0xfe, 0x01)    # simulated ext4 disk holding files made by create_file
SHM_DEV = (0x00, 0x01)      # shm_mnt: shared anonymous memory ("/dev/zero (deleted)")

O_ACCMODE = 3


class PageCache:
    """The inode's address_space: which file pages are cached (index -> bytearray of one page).
    The page-cache issue replaces this placeholder with the real LRU-managed cache."""
    __slots__ = ("host", "pages")

    def __init__(self, host):
        self.host = host
        self.pages = {}

    def get_page(self, index):
        page = self.pages.get(index)
        if page is None:
            page = bytearray(self.host.read_backing(index * PAGE_SIZE, PAGE_SIZE))
            page.extend(bytes(PAGE_SIZE - len(page)))
            self.pages[index] = page
        return page

    def __len__(self):
        return len(self.pages)


class Inode:
    """An inode: number, device, size, name and page cache.  `host_path` set = imported from the
    host: its size and contents are read (lazily) from the host file, which is never written;
    writes stay in the simulation."""
    __slots__ = ("i_ino", "dev", "i_size", "path", "deleted", "i_mapping", "host_path",
                 "_backing", "kind", "charged")

    def __init__(self, ino, dev, size, path, *, host_path=None, kind="ext4"):
        self.i_ino = ino
        self.dev = dev
        self.i_size = size
        self.path = path
        self.deleted = False
        self.host_path = host_path
        self.kind = kind              # 'ext4' (thp_get_unmapped_area) or 'shmem'
        self.charged = 0              # shmem_acct_size: pages charged to vm_committed_as
        self._backing = None if host_path is not None else bytearray()
        self.i_mapping = PageCache(self)

    def read_backing(self, offset, length):
        """Bytes of the file's stored contents (what a read from disk returns)."""
        end = min(offset + length, self.i_size)
        if end <= offset:
            return b""
        if self._backing is None:
            with open(self.host_path, "rb") as f:
                self._backing = bytearray(f.read())
        return bytes(self._backing[offset:end])

    def __repr__(self):
        return f"<inode {self.dev[0]:02x}:{self.dev[1]:02x} {self.i_ino} {self.path}>"


class File:
    """An open file description (struct file)."""
    __slots__ = ("f_inode", "f_flags", "f_count", "readable", "writable", "__weakref__")

    def __init__(self, inode, flags=os.O_RDWR):
        self.f_inode = inode
        self.f_flags = flags
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

    def read(self, offset, length):
        """pread(2) through the page cache; returns bytes (short at end of file)."""
        if not self.readable:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        if offset < 0 or length < 0:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        inode = self.f_inode
        end = min(offset + length, inode.i_size)
        out = bytearray()
        pos = offset
        while pos < end:
            index, within = divmod(pos, PAGE_SIZE)
            take = min(PAGE_SIZE - within, end - pos)
            page = inode.i_mapping.get_page(index)
            out += page[within:within + take]
            pos += take
        return bytes(out)

    def write(self, offset, data):
        """pwrite(2) of `data` (bytes) or of that many zero bytes (int) through the page cache;
        the file grows when written past its end.  Returns the number of bytes written."""
        if not self.writable:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        if isinstance(data, int):
            data = bytes(data)
        if offset < 0:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        inode = self.f_inode
        pos = offset
        view = memoryview(bytes(data))
        while view:
            index, within = divmod(pos, PAGE_SIZE)
            take = min(PAGE_SIZE - within, len(view))
            page = inode.i_mapping.get_page(index)
            page[within:within + take] = view[:take]
            view = view[take:]
            pos += take
        if pos > inode.i_size:
            inode.i_size = pos
        return len(data)

    def __repr__(self):
        return f"<File {self.path} flags={self.f_flags:#o}>"


class FileSystem:
    """The name space: simulated files (created by create_file) shadow host files, which are
    imported on first open (one inode per host path, as the page cache is per inode).  The host
    file is only read; writes through the simulation never reach it."""

    def __init__(self):
        self.inodes = {}
        self._next_ino = 12           # ext4: first inode after lost+found
        self._next_shm_ino = 1024

    def create(self, path, size):
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"path must be an absolute path string, got {path!r}")
        if size < 0:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        old = self.inodes.get(path)
        if old is not None and old.host_path is None:
            inode = old                      # creat(2) truncates an existing file
            inode.i_mapping.pages.clear()
            inode._backing = bytearray()
        else:
            inode = Inode(self._next_ino, SIMFS_DEV, 0, path)
            self._next_ino += 1
            self.inodes[path] = inode
        inode.i_size = size
        inode._backing = bytearray(size)
        return File(inode, os.O_RDWR)

    def open(self, path, flags=os.O_RDONLY):
        inode = self.inodes.get(path)
        if inode is None:
            if flags & os.O_CREAT:
                return self.create(path, 0)
            inode = self._import(path)
        if (flags & O_ACCMODE) == O_ACCMODE:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), path)
        return File(inode, flags)

    def unlink(self, path):
        inode = self.inodes.pop(path, None)
        if inode is None or inode.host_path is not None:
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        inode.deleted = True

    def _import(self, path):
        try:
            st = os.stat(path)
        except OSError as err:
            raise OSError(err.errno, os.strerror(err.errno), path) from None
        if not os.path.isfile(path):
            raise OSError(errno.ENODEV, "only regular host files can be imported", path)
        dev = (os.major(st.st_dev), os.minor(st.st_dev))
        # the name d_path prints is the file's own path, symbolic links resolved
        inode = Inode(st.st_ino, dev, st.st_size, os.path.realpath(path), host_path=path)
        self.inodes[path] = inode
        return inode

    def shmem_zero_file(self, size):
        """shmem_zero_setup: the unlinked shmem file behind one shared anonymous mapping."""
        inode = Inode(self._next_shm_ino, SHM_DEV, size, "/dev/zero", kind="shmem")
        self._next_shm_ino += 1
        inode.deleted = True
        return File(inode, os.O_RDWR)
