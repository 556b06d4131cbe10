"""Regret-vs-evaluations plots for `archsampler bench search` (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_regret(curves: dict[str, np.ndarray], path: Path, *, title: str = "") -> None:
    """Write a PNG: per strategy the median regret line and its quartile band.

    Args:
        curves: strategy name → array (seeds, evaluations) of best-so-far regret.
        path: the PNG to write (parent folders are created).
        title: the figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, c in curves.items():
        x = np.arange(1, c.shape[1] + 1)
        q1, med, q3 = np.percentile(c, [25, 50, 75], axis=0)
        (line,) = ax.plot(x, med, label=name)
        ax.fill_between(x, q1, q3, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xscale("log")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("regret (median, quartile band)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
