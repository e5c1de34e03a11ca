"""The report's figures: each function draws on a matplotlib Figure from a Sampler."""
import numpy as np

from ..sampling import OWNERS

OWNER_COLOURS = ("#ffffff", "#555555", "#cfe8cf", "#e0a030", "#d04040", "#3070d0",
                 "#40a0a0", "#9050c0")


def _seconds(sampler):
    return sampler.times / 1e9


def _empty(ax, text="no samples"):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)


def free_pages(fig, sampler):
    ax = fig.add_subplot(1, 1, 1)
    t = _seconds(sampler)
    counts = sampler.nr_free()
    if counts.size == 0:
        _empty(ax)
        return
    orders = counts.shape[1]
    pages = counts << np.arange(orders)
    colours = _cmap(orders)
    ax.stackplot(t, pages.T, labels=[f"order {o}" for o in range(orders)], colors=colours,
                 step="post")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("free pages (buddy lists, all zones)")
    ax.set_title("Free pages per order")
    ax.legend(loc="upper left", fontsize="small", ncol=2)
    fig.tight_layout()


def _cmap(n):
    import matplotlib
    cmap = matplotlib.colormaps["viridis"]
    return [cmap(i / max(n - 1, 1)) for i in range(n)]


def _main_zone(sampler):
    """The zone with the most free memory over the run (the one fragmentation matters in)."""
    best, most = None, -1
    for z in sampler.zone_names():
        counts = sampler.nr_free(z)
        pages = int((counts << np.arange(counts.shape[1])).sum()) if counts.size else 0
        if pages > most:
            best, most = z, pages
    return best


def fragmentation(fig, sampler):
    ax = fig.add_subplot(1, 1, 1)
    zone = _main_zone(sampler)
    if zone is None:
        _empty(ax)
        return
    t = _seconds(sampler)
    index = sampler.fragmentation(zone)
    orders = index.shape[1]
    for o, colour in zip(range(1, orders), _cmap(orders)[1:]):
        ax.step(t, index[:, o] / 1000, where="post", color=colour, label=f"order {o}")
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("fragmentation index")
    ax.set_title(f"Fragmentation index of zone {zone} (-1: the order is available, "
                 f"near 1: fragmented)", fontsize="medium")
    ax.legend(loc="lower left", fontsize="small", ncol=5)
    fig.tight_layout()


def memory_map(fig, owner):
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch
    ax = fig.add_subplot(1, 1, 1)
    rows, width = owner.shape
    ax.imshow(owner, cmap=ListedColormap(OWNER_COLOURS), vmin=0, vmax=len(OWNERS) - 1,
              aspect="auto", interpolation="nearest")
    counts = np.bincount(owner.ravel(), minlength=len(OWNERS))
    ax.legend(handles=[Patch(facecolor=c, edgecolor="#888", label=f"{n}: {counts[i]}")
                       for i, (n, c) in enumerate(zip(OWNERS, OWNER_COLOURS))],
              loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    ax.set_xlabel(f"frame within the row ({width} page frames per row)")
    ax.set_ylabel("row (pfn // %d)" % width)
    ax.set_title("Physical memory by owner (page frames)")
    fig.tight_layout()


def processes(fig, sampler):
    t = _seconds(sampler)
    procs = sampler.processes()
    ax1 = fig.add_subplot(2, 1, 1)
    ax2 = fig.add_subplot(2, 1, 2, sharex=ax1)
    shown = 0
    colours = _cmap(max(len(procs), 2))
    for (pid, (comm, cols)), colour in zip(sorted(procs.items()), colours):
        if np.all(np.isnan(cols["min_flt"])) or np.nanmax(cols["min_flt"]) == 0 and \
                np.nanmax(cols["anon"] + cols["file"] + cols["swap"]) == 0:
            continue
        shown += 1
        label = f"{pid} {comm}"
        ax1.step(t, (cols["anon"] + cols["file"]) * 4 / 1024, where="post", color=colour,
                 label=f"{label} RSS")
        ax1.step(t, cols["swap"] * 4 / 1024, where="post", color=colour, linestyle=":",
                 label=f"{label} swap")
        ax2.step(t, cols["min_flt"], where="post", color=colour, label=f"{label} minor")
        ax2.step(t, cols["maj_flt"], where="post", color=colour, linestyle="--",
                 label=f"{label} major")
    if not shown:
        _empty(ax1, "no process touched memory")
    else:
        ax1.legend(loc="upper left", fontsize="x-small", ncol=2)
        ax2.legend(loc="upper left", fontsize="x-small", ncol=2)
    ax1.set_ylabel("MiB")
    ax1.set_title("RSS (solid) and swap (dotted) per process")
    ax2.set_ylabel("faults (cumulative)")
    ax2.set_xlabel("simulated time (s)")
    fig.tight_layout()


def reclaim(fig, sampler):
    t = _seconds(sampler)
    axes = [fig.add_subplot(2, 2, i) for i in range(1, 5)]
    if not len(t):
        _empty(axes[0])
        return
    d = sampler.deltas
    ax = axes[0]
    ax.step(t, d("pgscan_kswapd") + d("pgscan_direct"), where="post", label="pgscan")
    ax.step(t, d("pgsteal_kswapd") + d("pgsteal_direct"), where="post", label="pgsteal")
    ax.set_title("reclaim (pages per sample)", fontsize="small")
    ax.legend(fontsize="x-small")
    ax = axes[1]
    ax.step(t, d("pswpout"), where="post", label="pswpout")
    ax.step(t, d("pswpin"), where="post", label="pswpin")
    ax.set_title("swap (pages per sample)", fontsize="small")
    ax.legend(fontsize="x-small")
    ax = axes[2]
    ax.step(t, d("pageoutrun"), where="post", label="pageoutrun (kswapd runs)")
    ax.step(t, d("oom_kill"), where="post", label="oom_kill")
    ax.set_title("kswapd runs and OOM kills per sample", fontsize="small")
    ax.legend(fontsize="x-small")
    ax.set_xlabel("simulated time (s)")
    ax = axes[3]
    ax.plot(t, sampler.series("psi_some") / 1e6, label="some")
    ax.plot(t, sampler.series("psi_full") / 1e6, label="full")
    ax.set_title("PSI memory stall totals (ms)", fontsize="small")
    ax.legend(fontsize="x-small")
    ax.set_xlabel("simulated time (s)")
    fig.tight_layout()
