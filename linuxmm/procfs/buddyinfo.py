"""/proc/buddyinfo (mm/vmstat.c: frag_show_print): free blocks per order, per populated zone."""


def render(k):
    out = []
    for z in k.zones:
        if z.populated:
            out.append("Node 0, zone %8s " % z.name
                       + "".join("%6d " % n for n in z.nr_free) + "\n")
    return "".join(out)
