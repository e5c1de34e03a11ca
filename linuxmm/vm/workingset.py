"""Workingset detection (mm/workingset.c): an evicted folio leaves a shadow entry holding the
node's nonresident age at eviction; when it comes back (a refault), the distance between that
age and today's says whether it would have stayed had the active list been smaller, and then
it is activated at once.

    workingset_eviction  -> shadow = (age, workingset bit)
    workingset_refault   -> workingset_refault_*; _activate_* and PG_active when the refault
                            distance <= the workingset size; _restore_* when it was workingset

The nonresident age and the anonymous counters live in the MMU engine's swap_stat (the access
loop's swap-in refaults anonymous folios itself: csrc/swap.c); the file counters in vmscan.stat.
"""
from .mmu_defs import (NR_ACTIVE_ANON, NR_ACTIVE_FILE, NR_INACTIVE_ANON, NR_INACTIVE_FILE,
                       PG_ACTIVE, PG_WORKINGSET, SWS_ACTIVATE_ANON, SWS_NONRESIDENT_AGE,
                       SWS_REFAULT_ANON, SWS_RESTORE_ANON)

_ANON = {"refault": SWS_REFAULT_ANON, "activate": SWS_ACTIVATE_ANON, "restore": SWS_RESTORE_ANON}


def workingset_age_nonresident(kernel, nr):
    kernel.mmu.swap_stat[SWS_NONRESIDENT_AGE] += nr


def _count(kernel, what, file, nr):
    if file:
        kernel.vmscan.stat[f"workingset_{what}_file"] += nr
    else:
        kernel.mmu.swap_stat[_ANON[what]] += nr


def workingset_eviction(kernel, pfn, nr=1):
    """The shadow of a folio being evicted (its age counts the eviction itself first)."""
    workingset_age_nonresident(kernel, nr)
    return (int(kernel.mmu.swap_stat[SWS_NONRESIDENT_AGE]),
            bool(int(kernel.mmu.flags[pfn]) & PG_WORKINGSET))


def workingset_refault(kernel, pfn, shadow, file, nr=1):
    """A folio refaulting into the cache or from swap: activate it when its refault distance
    fits the workingset (active file, + inactive file for anon, + anon lists while swap has
    room), before it goes on the LRU."""
    eviction, workingset = shadow
    refault_distance = int(kernel.mmu.swap_stat[SWS_NONRESIDENT_AGE]) - eviction
    node = kernel.mmu.node
    size = int(node[NR_ACTIVE_FILE])
    if not file:
        size += int(node[NR_INACTIVE_FILE])
    if kernel.swap_state.free_pages() > 0:
        size += int(node[NR_ACTIVE_ANON])
        if file:
            size += int(node[NR_INACTIVE_ANON])
    _count(kernel, "refault", file, nr)
    if refault_distance > size:
        return False
    mmu = kernel.mmu
    mmu.flags[pfn] = int(mmu.flags[pfn]) | PG_ACTIVE
    workingset_age_nonresident(kernel, nr)
    _count(kernel, "activate", file, nr)
    if workingset:
        mmu.flags[pfn] = int(mmu.flags[pfn]) | PG_WORKINGSET
        _count(kernel, "restore", file, nr)
    return True
