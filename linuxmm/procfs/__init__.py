"""Renderers of the /proc (and debugfs) files of physical memory, byte for byte as Linux 6.18.

Each module has ``render(kernel) -> str``; ``register(kernel)`` attaches them to ``k.read``.
"""
from . import buddyinfo, extfrag, meminfo, pagetypeinfo, vmstat, zoneinfo

FILES = {
    "/proc/buddyinfo": buddyinfo.render,
    "/proc/pagetypeinfo": pagetypeinfo.render,
    "/proc/zoneinfo": zoneinfo.render,
    "/proc/meminfo": meminfo.render,
    "/proc/vmstat": vmstat.render,
    "/sys/kernel/debug/extfrag/unusable_index": extfrag.render_unusable,
    "/sys/kernel/debug/extfrag/extfrag_index": extfrag.render_extfrag,
}


def register(kernel):
    for path, render in FILES.items():
        kernel.register_proc(path, lambda render=render: render(kernel))
