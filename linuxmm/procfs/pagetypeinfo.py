"""/proc/pagetypeinfo (mm/vmstat.c: pagetypeinfo_show)."""
from ..zone import MIGRATETYPE_NAMES

MAX_PRINT = 100000      # pagetypeinfo_showfree_print stops counting a list here


def render(k):
    zones = [z for z in k.zones if z.populated]
    orders = len(zones[0].nr_free) if zones else k.max_order + 1
    out = ["Page block order: %d\n" % k.pageblock_order,
           "Pages per block:  %d\n" % (1 << k.pageblock_order), "\n",
           "%-43s " % "Free pages count per migrate type at order"
           + "".join("%6d " % o for o in range(orders)) + "\n"]
    for z in zones:
        for mt, name in enumerate(MIGRATETYPE_NAMES):
            row = []
            for n in z.nr_free_type(mt):
                over = n >= MAX_PRINT
                row.append("%s%6d " % (">" if over else "", MAX_PRINT if over else n))
            out.append("Node %4d, zone %8s, type %12s " % (0, z.name, name) + "".join(row) + "\n")
    out.append("\n%-23s" % "Number of blocks type "
               + "".join("%12s " % name for name in MIGRATETYPE_NAMES) + "\n")
    for z in zones:
        out.append("Node %d, zone %8s " % (0, z.name)
                   + "".join("%12d " % n for n in z.pageblock_counts) + "\n")
    return "".join(out)
