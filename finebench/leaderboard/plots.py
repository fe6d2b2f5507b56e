"""PNG plots of a leaderboard table (matplotlib, imported only when plotting).

Figures are drawn on matplotlib's Agg canvas directly, not through pyplot, so building a
leaderboard never touches the global backend or figure registry of a program that imports finebench.
"""

from __future__ import annotations

import io
from typing import Any

from finebench.leaderboard.tables import SPLITS, Row, Table


def measured(table: Table) -> list[Row]:
    return [row for row in table.rows if not row.reported]


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _colours(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def grouped_bars(table: Table) -> bytes | None:
    """One panel per split; per dataset a bar per model, with its 95% interval when known."""
    import numpy as np

    rows = measured(table)
    if not rows:
        return None
    datasets = table.datasets()
    figure = _figure(max(8.0, 1.6 * len(datasets) + 0.25 * len(rows)), 4.8)
    axes = figure.subplots(1, len(SPLITS), sharey=True)
    positions = np.arange(len(datasets))
    width = 0.8 / len(rows)
    colours = _colours(len(rows))
    for ax, (split, split_label) in zip(axes, SPLITS):
        for i, row in enumerate(rows):
            keys = [f"{split}:{dataset}" for dataset, _ in datasets]
            values = np.array([row.values.get(k, np.nan) for k in keys])
            errors = np.array([
                [values[j] - row.intervals[k][0], row.intervals[k][1] - values[j]] if k in row.intervals else [0.0, 0.0]
                for j, k in enumerate(keys)
            ]).T
            ax.bar(positions + (i - (len(rows) - 1) / 2) * width, values, width, yerr=errors, capsize=2,
                   color=colours[i], label=row.label)
        ax.set_xticks(positions, [label for _, label in datasets])
        ax.set_title(split_label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(table.spec.title)
    figure.suptitle(f"{table.title}, {table.setting.label}")
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=min(len(rows), 4), fontsize="small")
    return _png(figure)


def seen_unseen_scatter(table: Table) -> bytes | None:
    """Each model's seen vs unseen score per dataset (small dots) and averaged (large marker);
    distance below the diagonal is what a model loses on categories it was not trained on."""
    rows = measured(table)
    if not rows:
        return None
    figure = _figure(6.4, 6.0)
    ax = figure.subplots()
    colours = _colours(len(rows))
    for colour, row in zip(colours, rows):
        pairs = [(row.values[f"seen:{d}"], row.values[f"unseen:{d}"]) for d, _ in table.datasets()
                 if f"seen:{d}" in row.values and f"unseen:{d}" in row.values]
        if pairs:
            ax.scatter(*zip(*pairs), s=18, color=colour, alpha=0.6)
        if "seen:avg" in row.values and "unseen:avg" in row.values:
            ax.scatter(row.values["seen:avg"], row.values["unseen:avg"], s=110, color=colour, edgecolors="black", marker="D")
        ax.scatter([], [], color=colour, label=row.label)
    ax.plot([0, 100], [0, 100], color="grey", linestyle="--", linewidth=1)
    ax.set(xlim=(0, 100), ylim=(0, 100), xlabel="seen categories (%)", ylabel="unseen categories (%)",
           title=f"{table.title}\n{table.setting.label}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", title="dots: datasets, diamonds: averages", title_fontsize="small")
    return _png(figure)


def table_plots(table: Table) -> dict[str, bytes]:
    """File name -> PNG bytes for one table (nothing for a table without measured rows)."""
    plots = {f"{table.id}-bars.png": grouped_bars(table), f"{table.id}-scatter.png": seen_unseen_scatter(table)}
    return {name: png for name, png in plots.items() if png is not None}
