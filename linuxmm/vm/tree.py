"""The VMA tree: every VMA of one mm, ordered by address.

The kernel keeps VMAs in a maple tree (a B-tree keyed by [vm_start, vm_end - 1]).  This is a
two-level B-tree of the same spirit: a sorted list of leaf blocks, each a sorted list of at most
2 * LOAD VMAs, with a list of the blocks' first keys on top.  Lookups bisect twice (O(log n));
an insert or erase touches one block (O(log n + LOAD)) and splits or drops a block when it
overflows or empties.  VMAs never overlap, so ordering by vm_start orders by vm_end too.
"""
from bisect import bisect_left, bisect_right

import numpy as np

LOAD = 256


class VmaTree:
    __slots__ = ("_keys", "_vmas", "_firsts", "_len", "version", "_snapshot")

    def __init__(self):
        self._keys = []       # per block: sorted vm_start values
        self._vmas = []       # per block: the VMAs, same order
        self._firsts = []     # first key of every block
        self._len = 0
        self.version = 0      # bumped by every change (bulk lookups cache a snapshot per version)
        self._snapshot = None

    def __len__(self):
        return self._len

    def __iter__(self):
        for block in self._vmas:
            yield from block

    def __reversed__(self):
        for block in reversed(self._vmas):
            yield from reversed(block)

    # -- positions -----------------------------------------------------------------------------
    def _pos_le(self, addr):
        """(block, index) of the last VMA with vm_start <= addr, or (0, -1) when there is none."""
        firsts = self._firsts
        bi = bisect_right(firsts, addr) - 1
        if bi < 0:
            return 0, -1
        return bi, bisect_right(self._keys[bi], addr) - 1

    def _pos_of(self, vma):
        bi = bisect_right(self._firsts, vma.vm_start) - 1
        i = bisect_left(self._keys[bi], vma.vm_start) if bi >= 0 else -1
        if bi < 0 or i >= len(self._keys[bi]) or self._vmas[bi][i] is not vma:
            raise KeyError(f"VMA {vma.vm_start:#x}-{vma.vm_end:#x} is not in this tree")
        return bi, i

    def _after(self, bi, i):
        block = self._vmas[bi] if self._vmas else ()
        if i + 1 < len(block):
            return block[i + 1]
        if bi + 1 < len(self._vmas):
            return self._vmas[bi + 1][0]
        return None

    def _before(self, bi, i):
        if i > 0:
            return self._vmas[bi][i - 1]
        if bi > 0:
            return self._vmas[bi - 1][-1]
        return None

    # -- lookups (mm/mmap.c: find_vma & co.) -----------------------------------------------
    def find(self, addr):
        """find_vma: the first VMA with vm_end > addr (it may start above addr), or None."""
        bi = bisect_right(self._firsts, addr) - 1
        if bi < 0:
            return self._vmas[0][0] if self._len else None
        block = self._vmas[bi]
        i = bisect_right(self._keys[bi], addr) - 1
        vma = block[i]
        if vma.vm_end > addr:
            return vma
        if i + 1 < len(block):
            return block[i + 1]
        if bi + 1 < len(self._vmas):
            return self._vmas[bi + 1][0]
        return None

    def lookup(self, addr):
        """vma_lookup: the VMA containing addr, or None."""
        if not self._len:
            return None
        bi, i = self._pos_le(addr)
        if i >= 0:
            vma = self._vmas[bi][i]
            if vma.vm_end > addr:
                return vma
        return None

    def intersection(self, start, end):
        """find_vma_intersection: the first VMA overlapping [start, end), or None."""
        vma = self.find(start)
        if vma is not None and vma.vm_start < end:
            return vma
        return None

    def prev_of_addr(self, addr):
        """The last VMA with vm_start < addr (vma_prev at addr), or None."""
        if not self._len:
            return None
        bi, i = self._pos_le(addr - 1)
        return self._vmas[bi][i] if i >= 0 else None

    def around(self, addr):
        """(last VMA with vm_start < addr, the VMA after it): one descent for both."""
        if not self._len:
            return None, None
        bi, i = self._pos_le(addr - 1)
        if i < 0:
            return None, self._vmas[0][0]
        return self._vmas[bi][i], self._after(bi, i)

    def gap_neighbours(self, start, end):
        """(prev, next) around [start, end) when no VMA overlaps it, else None."""
        if not self._len:
            return None, None
        bi = bisect_right(self._firsts, start) - 1
        i = bisect_right(self._keys[bi], start) - 1 if bi >= 0 else -1
        if bi < 0:
            bi = 0
        if i >= 0:
            prev = self._vmas[bi][i]
            if prev.vm_end > start:
                return None
            nxt = self._after(bi, i)
        else:
            prev = None
            nxt = self._vmas[0][0]
        if nxt is not None and nxt.vm_start < end:
            return None
        return prev, nxt

    def next(self, vma):
        return self._after(*self._pos_of(vma))

    def prev(self, vma):
        return self._before(*self._pos_of(vma))

    def first(self):
        return self._vmas[0][0] if self._len else None

    def last(self):
        return self._vmas[-1][-1] if self._len else None

    def iter_range(self, start, end):
        """VMAs overlapping [start, end), in address order (for_each_vma_range)."""
        vma = self.find(start)
        if vma is None:
            return
        bi, i = self._pos_of(vma)
        vmas = self._vmas
        while bi < len(vmas):
            block = vmas[bi]
            while i < len(block):
                vma = block[i]
                if vma.vm_start >= end:
                    return
                yield vma
                i += 1
            bi += 1
            i = 0

    def iter_down(self, addr):
        """VMAs with vm_start < addr, highest first."""
        if not self._len:
            return
        bi, i = self._pos_le(addr - 1)
        vmas = self._vmas
        while bi >= 0:
            block = vmas[bi]
            while i >= 0:
                yield block[i]
                i -= 1
            bi -= 1
            if bi >= 0:
                i = len(vmas[bi]) - 1

    # -- updates -------------------------------------------------------------------------------
    def insert(self, vma):
        key = vma.vm_start
        self.version += 1
        self._len += 1
        if not self._keys:
            self._keys.append([key])
            self._vmas.append([vma])
            self._firsts.append(key)
            return
        bi = bisect_right(self._firsts, key) - 1
        if bi < 0:
            bi = 0
            self._firsts[0] = key
        keys = self._keys[bi]
        i = bisect_right(keys, key)
        keys.insert(i, key)
        self._vmas[bi].insert(i, vma)
        if len(keys) > 2 * LOAD:
            self._keys[bi + 1:bi + 1] = [keys[LOAD:]]
            self._vmas[bi + 1:bi + 1] = [self._vmas[bi][LOAD:]]
            del keys[LOAD:]
            del self._vmas[bi][LOAD:]
            self._firsts.insert(bi + 1, self._keys[bi + 1][0])

    def remove(self, vma):
        bi, i = self._pos_of(vma)
        self.remove_at(bi, i)

    def lookup_pos(self, addr):
        """(block, index) of the VMA containing addr, or None."""
        firsts = self._firsts
        bi = bisect_right(firsts, addr) - 1
        if bi < 0:
            return None
        i = bisect_right(self._keys[bi], addr) - 1
        if self._vmas[bi][i].vm_end > addr:
            return bi, i
        return None

    def at(self, pos):
        return self._vmas[pos[0]][pos[1]]

    def remove_at(self, bi, i):
        self.version += 1
        self._len -= 1
        keys = self._keys[bi]
        del keys[i]
        del self._vmas[bi][i]
        if not keys:
            del self._keys[bi]
            del self._vmas[bi]
            del self._firsts[bi]
        elif i == 0:
            self._firsts[bi] = keys[0]

    def set_start(self, vma, start):
        """Move vma.vm_start to start; the caller guarantees no overlap (order is unchanged)."""
        bi, i = self._pos_of(vma)
        self.version += 1
        vma.vm_start = start
        self._keys[bi][i] = start
        if i == 0:
            self._firsts[bi] = start

    def touch(self):
        """Record a change that does not move a key (vm_end changed)."""
        self.version += 1

    # -- bulk ----------------------------------------------------------------------------------
    def snapshot(self):
        """(starts, ends) as sorted int64 arrays of the current VMAs (cached per version)."""
        snap = self._snapshot
        if snap is None or snap[0] != self.version:
            n = self._len
            starts = np.fromiter((v.vm_start for v in self), dtype=np.int64, count=n)
            ends = np.fromiter((v.vm_end for v in self), dtype=np.int64, count=n)
            snap = self._snapshot = (self.version, starts, ends, list(self))
        return snap

    def check(self):
        """Yield a message for every broken structural invariant."""
        if [b[0] for b in self._keys] != self._firsts:
            yield "block first keys out of date"
        count = 0
        prev_end = -1
        for keys, vmas in zip(self._keys, self._vmas):
            if not keys or len(keys) != len(vmas):
                yield "empty or inconsistent block"
            for key, vma in zip(keys, vmas):
                count += 1
                if key != vma.vm_start:
                    yield f"key {key:#x} != vm_start {vma.vm_start:#x}"
                if vma.vm_start < prev_end:
                    yield f"VMA {vma.vm_start:#x}-{vma.vm_end:#x} overlaps or is out of order"
                prev_end = vma.vm_end
        if count != self._len:
            yield f"count {count} != len {self._len}"
