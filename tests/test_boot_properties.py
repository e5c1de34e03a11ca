"""Properties of the boot layout for arbitrary firmware maps."""
import hypothesis.strategies as st
from hypothesis import given

from linuxmm import boot

KINDS = ["usable", "usable", "usable", "reserved", "ACPI data", "ACPI NVS"]


@st.composite
def e820_maps(draw):
    n = draw(st.integers(1, 8))
    entries = [(0, 0x9FBFF, "usable"), (0x100000, 0x100000 + (64 << 20) - 1, "usable")]
    for _ in range(n):
        start = draw(st.integers(0, 12 << 30))
        size = draw(st.integers(1, 2 << 30))
        entries.append((start, start + size - 1, draw(st.sampled_from(KINDS))))
    return entries


@given(e820_maps(), st.sampled_from(boot.ARCHES),
       st.lists(st.tuples(st.integers(0, 8 << 30), st.integers(0, 64 << 20)), max_size=4))
def test_layout_invariants(e820, arch, extra):
    reserved = [(s, s + n) for s, n in extra]
    try:
        layout = boot.boot(e820=e820, arch=arch, reserved=reserved)
    except ValueError:
        return                         # too little memory left to boot: refused, not broken
    memory = layout.memory
    assert all(s < e for s, e in memory)
    assert all(a[1] < b[0] for a, b in zip(memory, memory[1:]))     # sorted, disjoint, merged
    assert memory[0][0] >= 1
    assert not boot.intersect(memory, 0xA0, 0x100)                    # legacy hole
    assert boot.count(boot.intersect(layout.free, 0, 256)) == 0      # first MiB reserved
    if arch == "i386":
        assert layout.max_pfn <= 1 << 20
    prev_end = None
    for (name, start, spanned), present, managed in zip(layout.spans, layout.present,
                                                        layout.managed):
        assert 0 <= managed <= present <= spanned
        if spanned:
            if prev_end is not None:
                assert start >= prev_end
            prev_end = start + spanned
    assert sum(layout.present) == boot.count(memory)
    assert sum(layout.managed) == boot.count(layout.free)
    for start, end, kind in e820:        # a page touching non-RAM is never memory
        if kind != "usable":
            assert not boot.intersect(memory, start >> 12, (end >> 12) + 1)
