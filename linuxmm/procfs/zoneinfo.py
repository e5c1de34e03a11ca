"""/proc/zoneinfo (mm/vmstat.c: zoneinfo_show_print), every zone of node 0."""
from .items import NODE_STATS, NUMA_EVENTS, ZONE_STATS


def _zone_stats(k, z):
    nr_free = z.nr_free
    values = {
        "nr_free_pages": z.free_pages,
        "nr_free_pages_blocks": sum(n << o for o, n in enumerate(nr_free)
                                    if o >= k.pageblock_order),
    }
    return values


def render(k):
    out = []
    node = k.vm_counters()
    first_populated = next((z.index for z in k.zones if z.populated), None)
    for z in k.zones:
        out.append("Node 0, zone %8s" % z.name)
        if z.index == first_populated:
            out.append("\n  per-node stats")
            out.extend("\n      %-12s %d" % (name, node.get(name, 0)) for name in NODE_STATS)
        wmin, wlow, whigh, wpromo = k._pa.watermarks(z.index)
        out.append("\n  pages free     %d"
                   "\n        boost    %d"
                   "\n        min      %d"
                   "\n        low      %d"
                   "\n        high     %d"
                   "\n        promo    %d"
                   "\n        spanned  %d"
                   "\n        present  %d"
                   "\n        managed  %d"
                   "\n        cma      %d" % (
                       z.free_pages, z.watermark_boost, wmin, wlow, whigh, wpromo,
                       z.spanned_pages, z.present_pages, z.managed_pages, 0))
        out.append("\n        protection: (" + ", ".join("%d" % r for r in z.lowmem_reserve)
                   + ")")
        if not z.populated:
            out.append("\n")
            continue
        stats = _zone_stats(k, z)
        out.extend("\n      %-12s %d" % (name, stats.get(name, 0)) for name in ZONE_STATS)
        if k.numa:
            out.extend("\n      %-12s %d" % (name, 0) for name in NUMA_EVENTS)
        out.append("\n  pagesets")
        batch = k._pa.pcp_batch(z.index)
        for cpu in range(k.cpus):
            out.append("\n    cpu: %d"
                       "\n              count:    %d"
                       "\n              high:     %d"
                       "\n              batch:    %d"
                       "\n              high_min: %d"
                       "\n              high_max: %d"
                       "\n  vm stats threshold: %d" % (
                           cpu, z.pcp_count(cpu), z.pcp_high(cpu), batch, z.pcp_high_min,
                           z.pcp_high_max, z.stat_threshold))
        out.append("\n  node_unreclaimable:  %d"
                   "\n  start_pfn:           %d\n" % (0, z.start_pfn))
    return "".join(out)
