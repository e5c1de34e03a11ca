"""GFP flags: values from gfp_types.h (linux-mm-physical.md 2.1), zone choice (2.2)."""
import pytest

from linuxmm import gfp as G
from linuxmm._ffi import lib


def test_values_from_the_kernel_headers():
    assert (G.GFP_KERNEL, G.GFP_ATOMIC, G.GFP_NOWAIT, G.GFP_NOIO, G.GFP_NOFS) == \
        (0xcc0, 0x820, 0x2800, 0xc00, 0xc40)
    assert (G.GFP_USER, G.GFP_HIGHUSER, G.GFP_HIGHUSER_MOVABLE, G.GFP_KERNEL_ACCOUNT) == \
        (0x100cc0, 0x100cc2, 0x100cca, 0x400cc0)
    assert (G.GFP_DMA, G.GFP_DMA32, G.__GFP_HIGHMEM, G.__GFP_MOVABLE) == (0x01, 0x04, 0x02, 0x08)
    assert (G.__GFP_ZERO, G.__GFP_NOWARN, G.__GFP_NORETRY, G.__GFP_COMP) == \
        (0x100, 0x2000, 0x10000, 0x40000)


def test_lmm_h_repeats_the_same_values():
    for name in dir(G):
        if name.startswith("__GFP_") and getattr(G, name) and hasattr(lib, "LMM_GFP_" + name[6:]):
            assert getattr(lib, "LMM_GFP_" + name[6:]) == getattr(G, name), name
    for name in ("GFP_ATOMIC", "GFP_KERNEL", "GFP_NOWAIT", "GFP_USER", "GFP_HIGHUSER",
                 "GFP_HIGHUSER_MOVABLE"):
        assert getattr(lib, "LMM_" + name) == getattr(G, name), name


@pytest.mark.parametrize("gfp, text", [
    (0xcc0, "GFP_KERNEL"),
    (0x820, "GFP_ATOMIC"),
    (0x2820, "GFP_ATOMIC|__GFP_NOWARN"),
    (0xdc0, "GFP_KERNEL|__GFP_ZERO"),
    (0x100cca, "GFP_HIGHUSER_MOVABLE"),
    (0x2800, "GFP_NOWAIT"),
    (0x400cc0, "GFP_KERNEL_ACCOUNT"),
    (0x1, "GFP_DMA"),
    (0x200, "0x200"),
])
def test_format_like_pGg(gfp, text):
    assert G.format_gfp(gfp) == text


X86_64 = ("DMA", "DMA32", "Normal", "Movable", "Device")
I386 = ("DMA", "Normal", "HighMem", "Movable")


@pytest.mark.parametrize("gfp, zones, expected", [
    (G.GFP_KERNEL, X86_64, "Normal"),
    (G.GFP_USER, X86_64, "Normal"),
    (G.GFP_HIGHUSER, X86_64, "Normal"),             # HIGHMEM not configured -> Normal
    (G.GFP_HIGHUSER_MOVABLE, X86_64, "Movable"),
    (G.GFP_DMA, X86_64, "DMA"),
    (G.GFP_DMA32, X86_64, "DMA32"),
    (G.GFP_DMA32 | G.__GFP_MOVABLE, X86_64, "DMA32"),
    (G.GFP_DMA | G.__GFP_MOVABLE, X86_64, "DMA"),
    (G.__GFP_MOVABLE, X86_64, "Normal"),
    (G.GFP_HIGHUSER, I386, "HighMem"),
    (G.GFP_DMA32, I386, "Normal"),                  # no DMA32 on i386 -> Normal
    (G.GFP_HIGHUSER_MOVABLE, I386, "Movable"),
])
def test_gfp_zone_table(gfp, zones, expected):
    assert zones[G.gfp_zone(gfp, zones)] == expected


@pytest.mark.parametrize("bad", [G.GFP_DMA | G.GFP_DMA32, G.GFP_DMA | G.__GFP_HIGHMEM,
                                 G.GFP_DMA32 | G.__GFP_HIGHMEM,
                                 G.GFP_DMA32 | G.__GFP_HIGHMEM | G.__GFP_MOVABLE,
                                 G.GFP_KERNEL | G.GFP_DMA | G.GFP_DMA32])
def test_two_zone_modifiers_are_refused(bad):
    with pytest.raises(ValueError, match="zone modifier"):
        G.gfp_zone(bad)


def test_migratetype():
    assert G.gfp_migratetype(G.GFP_KERNEL) == G.MIGRATE_UNMOVABLE
    assert G.gfp_migratetype(G.GFP_HIGHUSER_MOVABLE) == G.MIGRATE_MOVABLE
    assert G.gfp_migratetype(G.GFP_KERNEL | G.__GFP_RECLAIMABLE) == G.MIGRATE_RECLAIMABLE
    assert G.gfp_migratetype(G.GFP_HIGHUSER_MOVABLE, mobility_disabled=True) == G.MIGRATE_UNMOVABLE
