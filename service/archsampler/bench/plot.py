"""Median-and-quartiles curve plots for the benchmarks (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_quartiles(
    curves: dict[str, np.ndarray],
    path: Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    xlog: bool = True,
    ylog: bool = False,
    band_alpha: float = 0.2,
    target: float | None = None,
    ylim: tuple[float, float] | None = None,
    grid_both: bool = True,
    legend_size: float | None = None,
) -> None:
    """Write a PNG: per curve set the median line and its quartile band.

    Args:
        curves: name → array (seeds, evaluations) of a best-so-far statistic.
        path: the PNG to write (parent folders are created).
        target: a dashed horizontal line labelled as the target, when given.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, c in curves.items():
        x = np.arange(1, c.shape[1] + 1)
        q1, med, q3 = np.percentile(c, [25, 50, 75], axis=0)
        (line,) = ax.plot(x, med, label=name)
        ax.fill_between(x, q1, q3, color=line.get_color(), alpha=band_alpha, linewidth=0)
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:g}")
    if xlog:
        ax.set_xscale("log")
    if ylog:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title)
    ax.grid(True, which="both" if grid_both else "major", alpha=0.3)
    ax.legend(fontsize=legend_size)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)


def plot_regret(curves: dict[str, np.ndarray], path: Path, *, title: str = "") -> None:
    """`bench search`'s PNG: per strategy the median regret line and its quartile band."""
    plot_quartiles(
        curves,
        path,
        title=title,
        xlabel="evaluations",
        ylabel="regret (median, quartile band)",
    )
