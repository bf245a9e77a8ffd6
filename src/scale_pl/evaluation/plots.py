"""Plots of an evaluation across cluster sizes (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from scale_pl.evaluation.across_n import Row


def plot_art_vs_n(rows: list[Row], path: str | Path, reference: str = "eft") -> Path:
    """ART vs N per method (left) and ART as a ratio to ``reference`` (right); random-like methods
    that are far off are left out of the ratio panel so the others stay readable. A point with a
    censored run is a lower bound: an open upward triangle."""
    methods = list(dict.fromkeys(r.method for r in rows))
    ref = {r.num_servers: r.art for r in rows if r.method == reference}
    fig, (ax_art, ax_ratio) = plt.subplots(1, 2, figsize=(10, 4))
    for i, method in enumerate(methods):
        style = {"marker": "o", "label": method, "color": f"C{i % 10}"}
        mine = sorted((r for r in rows if r.method == method), key=lambda r: r.num_servers)
        sizes = [r.num_servers for r in mine]
        ax_art.plot(sizes, [r.art for r in mine], **style)
        bounds = [(r.num_servers, r.art) for r in mine if r.num_censored]
        if bounds:
            ax_art.plot(*zip(*bounds, strict=True), linestyle="none", marker="^", markersize=10,
                        markerfacecolor="none", color=style["color"])  # fmt: skip
        ratios = [r.art / ref[r.num_servers] for r in mine if r.num_servers in ref]
        if ratios and max(ratios) < 3:
            ax_ratio.plot(sizes[: len(ratios)], ratios, **style)
    ax_art.set(xlabel="servers N", ylabel="average response time (s)", yscale="log", title="ART across cluster sizes")
    ax_ratio.axhline(1.0, color="grey", lw=0.8)
    ax_ratio.set(xlabel="servers N", ylabel=f"ART / {reference.upper()}", title=f"relative to {reference.upper()}")
    for ax in (ax_art, ax_ratio):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
