"""debugfs extfrag/unusable_index and extfrag/extfrag_index (mm/vmstat.c)."""
from .. import fragmentation


def _render(k, index, width):
    out = []
    for z in k.zones:
        if not z.populated:
            continue
        nr_free = z.nr_free
        out.append("Node 0, zone %8s " % z.name + "".join(
            fragmentation.format_index(index(nr_free, o), width) + " "
            for o in range(len(nr_free))) + "\n")
    return "".join(out)


def render_unusable(k):
    return _render(k, fragmentation.unusable_free_index, 0)


def render_extfrag(k):
    return _render(k, fragmentation.fragmentation_index, 2)
