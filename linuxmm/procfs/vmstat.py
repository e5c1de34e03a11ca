"""/proc/vmstat (mm/vmstat.c: vmstat_show): "%s %lu\n" per item, then "nr_unstable 0"."""
from .items import vmstat_items


def render(k):
    values = k.vm_counters()
    items = vmstat_items([z.name for z in k.zones], numa=k.numa)
    return "".join("%s %d\n" % (name, values.get(name, 0)) for name in items) + "nr_unstable 0\n"
