"""External fragmentation indices as mm/vmstat.c computes them (thousandths).

``nr_free`` is a zone's list of free block counts per order (``zone->free_area[o].nr_free``).
"""


def contig_page_info(nr_free, suitable_order):
    """fill_contig_page_info(): (free_blocks_total, free_pages, free_blocks_suitable)."""
    total = sum(nr_free)
    free_pages = sum(n << o for o, n in enumerate(nr_free))
    suitable = sum(n << (o - suitable_order) for o, n in enumerate(nr_free) if o >= suitable_order)
    return total, free_pages, suitable


def unusable_free_index(nr_free, order):
    """Share of free memory (in 1/1000) unusable for an allocation of this order."""
    _, free_pages, suitable = contig_page_info(nr_free, order)
    if free_pages == 0:
        return 1000
    return (free_pages - (suitable << order)) * 1000 // free_pages


def fragmentation_index(nr_free, order):
    """__fragmentation_index(): -1000 if the order is satisfiable, near 1000 if fragmentation
    (not lack of memory) makes it fail, 0 with no free memory."""
    total, free_pages, suitable = contig_page_info(nr_free, order)
    if total == 0:
        return 0
    if suitable:
        return -1000
    return 1000 - (1000 + free_pages * 1000 // (1 << order)) // total


def format_index(index, width=0):
    """C's "%<width>d.%03d" of (index / 1000, index % 1000), division truncating toward 0
    (-1000 -> "-1.000")."""
    q = abs(index) // 1000 * (-1 if index < 0 else 1)
    r = index - q * 1000
    return "%*d.%03d" % (width, q, r)
