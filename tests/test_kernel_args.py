"""Kernel(...) refuses bad arguments with ValueError/TypeError before doing any work."""
import pytest

from linuxmm import Kernel


@pytest.mark.parametrize("kwargs", [
    {"arch": "arm64"}, {"cpus": 0}, {"watermark_scale_factor": 0},
    {"watermark_scale_factor": 3001}, {"percpu_pagelist_high_fraction": 4},
    {"min_free_kbytes": -1}, {"lowmem_reserve_ratio": [256, 32]},
    {"transparent_hugepage": "sometimes"}, {"backend": "fortran"}, {"mem": "lots"},
    {"mem": "1M"}, {"e820": "no map"}, {"e820": [(0, 0xFFF, "usable")]},
    {"reserved": [(10, 5)]}, {"reserved": [1]}, {"mem": "16M"},
])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        Kernel(**kwargs)


def test_bad_types():
    with pytest.raises(TypeError):
        Kernel(cpus="2")
    with pytest.raises(TypeError):
        Kernel(mem=1.5)


def test_e820_sets_mem_and_repr():
    k = Kernel(e820=["BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
                     "BIOS-e820: [mem 0x0000000000100000-0x0000000007ffffff] usable"])
    assert k.mem == (0x9F - 1 + 0x8000 - 0x100) * 4096
    assert "x86_64" in repr(k)


def test_sysctl_setters_validate(backend_name):
    k = Kernel("128M", backend=backend_name)
    before = k.read("/proc/zoneinfo")
    for name, value in (("percpu_pagelist_high_fraction", 3), ("watermark_scale_factor", 0),
                        ("min_free_kbytes", -5), ("lowmem_reserve_ratio", [1])):
        with pytest.raises(ValueError):
            setattr(k, name, value)
    assert k.read("/proc/zoneinfo") == before
    k.percpu_pagelist_high_fraction = 8
    z = k.zones[1]
    assert z.pcp_high_min == z.pcp_high_max == max(z.managed_pages // 8 // 2, z.pcp_batch * 4)
    k.lowmem_reserve_ratio = [0, 0, 0, 0, 0]
    assert all(r == 0 for zone in k.zones for r in zone.lowmem_reserve)


def test_kernel_check_finds_slab_corruption(backend_name):
    import pytest

    import linuxmm
    from linuxmm.slab.flags import SLAB_POISON
    k = linuxmm.Kernel("256M", backend=backend_name)
    cache = k.kmem_cache_create("test_obj", 200, flags=SLAB_POISON)
    addr = cache.alloc()
    cache.free(addr)
    k.check()
    cache.write(addr, 8, 4)               # use after free: scribbles on a poisoned free object
    with pytest.raises(linuxmm.InvariantError):
        k.check()
