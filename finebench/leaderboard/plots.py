"""PNG plots of a leaderboard table (matplotlib, imported only when plotting).

Figures are drawn on matplotlib's Agg canvas directly, not through pyplot, so building a
leaderboard never touches the global backend or figure registry of a program that imports finebench.

What a plot shows, it says in its legend: measured bars (with 95% intervals when known), the
paper's reported value of the same model as a black tick on its bar, chance level as a dashed line
(closed world, the paper's four options), and in the scatter every reported model's averages as a
grey cross. The value axis always spans 0-100 % (further when a score goes below 0), so an all-zero
run is a row of empty bars, not an axis zoomed onto +-0.04.
"""

from __future__ import annotations

import io
from typing import Any

from finebench.leaderboard.tables import REPORTED, SPLITS, Row, Table
from finebench.tasks.items import RELEASE_OPTION_COUNT


def plain(text: str) -> str:
    """Text from a results file shown literally: matplotlib reads ``$...$`` as mathtext (a model
    name like ``$\\foo$`` would stop the plot)."""
    return str(text).replace("$", r"\$")


def measured(table: Table) -> list[Row]:
    return [row for row in table.rows if not row.reported]


def reported_by_model(table: Table) -> dict[str, Row]:
    """Reported rows by the key of the measured model they belong to."""
    return {row.key.removesuffix(REPORTED): row for row in table.rows if row.reported}


def chance_level(table: Table) -> float | None:
    """Percent a uniform guess scores: 1 in 4 options in closed-world tasks with the release's
    options (other option orders keep 4 options except label-set); None for open world."""
    if table.spec.world != "closed" or table.setting.option_order == "label-set":
        return None
    return 100.0 / RELEASE_OPTION_COUNT


def value_limits(rows: list[Row]) -> tuple[float, float]:
    values = [v for row in rows for v in row.values.values()] or [0.0]
    low, high = min(values), max(values)
    return (0.0 if low >= 0 else low - 5.0), (100.0 if high <= 100 else high + 5.0)


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
    figure = bars_figure(table)
    return None if figure is None else _png(figure)


def bars_figure(table: Table) -> Any:
    """One panel per split; per dataset a bar per model, with its 95% interval when known, the
    paper's reported value of that model as a tick, and chance level as a line."""
    import numpy as np
    from matplotlib.lines import Line2D

    rows = measured(table)
    if not rows:
        return None
    reported = reported_by_model(table)
    datasets = table.datasets()
    figure = _figure(max(8.0, 1.6 * len(datasets) + 0.25 * len(rows)), 4.8)
    axes = figure.subplots(1, len(SPLITS), sharey=True)
    positions = np.arange(len(datasets))
    width = 0.8 / len(rows)
    colours = _colours(len(rows))
    chance = chance_level(table)
    ticked = False
    for ax, (split, split_label) in zip(axes, SPLITS):
        keys = [f"{split}:{dataset}" for dataset, _ in datasets]
        for i, row in enumerate(rows):
            values = np.array([row.values.get(k, np.nan) for k in keys])
            errors = np.array([
                [values[j] - row.intervals[k][0], row.intervals[k][1] - values[j]] if k in row.intervals else [0.0, 0.0]
                for j, k in enumerate(keys)
            ]).T
            x = positions + (i - (len(rows) - 1) / 2) * width
            ax.bar(x, values, width, yerr=errors, capsize=2, color=colours[i], label=plain(row.label))
            if row.key in reported:
                paper = np.array([reported[row.key].values.get(k, np.nan) for k in keys])
                ax.hlines(paper, x - width / 2, x + width / 2, colors="black", linewidth=2)
                ticked = ticked or bool(np.isfinite(paper).any())
        if chance is not None:
            ax.axhline(chance, color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(positions, [plain(label) for _, label in datasets])
        ax.set_title(split_label)
        ax.set_ylim(*value_limits(rows + list(reported.values())))
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(table.spec.title)
    figure.suptitle(plain(f"{table.title}, {table.setting.label}"))
    handles, labels = axes[0].get_legend_handles_labels()
    if ticked:
        handles.append(Line2D([], [], color="black", linewidth=2))
        labels.append("paper-reported value")
    if chance is not None:
        handles.append(Line2D([], [], color="grey", linestyle="--", linewidth=1))
        labels.append(f"chance ({chance:.0f}%)")
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), fontsize="small")
    return figure


def split_averages(table: Table, row: Row) -> tuple[float, float] | None:
    """(seen, unseen) average of a row: the split averages, or the cells of a one-dataset table."""
    datasets = table.datasets()
    keys = ("seen:avg", "unseen:avg") if len(datasets) > 1 else tuple(f"{s}:{datasets[0][0]}" for s, _ in SPLITS)
    return (row.values[keys[0]], row.values[keys[1]]) if all(k in row.values for k in keys) else None


def seen_unseen_scatter(table: Table) -> bytes | None:
    figure = scatter_figure(table)
    return None if figure is None else _png(figure)


def scatter_figure(table: Table) -> Any:
    """Each model's seen vs unseen score per dataset (small dots) and averaged (large diamond);
    distance below the diagonal is what a model loses on categories it was not trained on."""
    from matplotlib.lines import Line2D

    rows = measured(table)
    if not rows:
        return None
    figure = _figure(6.4, 6.0)
    ax = figure.subplots()
    colours = _colours(len(rows))
    drew = {"dots": False, "diamonds": False}
    several = len(table.datasets()) > 1
    handles, labels = [], []
    for colour, row in zip(colours, rows):
        pairs = [(row.values[f"seen:{d}"], row.values[f"unseen:{d}"]) for d, _ in table.datasets()
                 if f"seen:{d}" in row.values and f"unseen:{d}" in row.values] if several else []
        if pairs:
            ax.scatter(*zip(*pairs), s=18, color=colour, alpha=0.6)
            drew["dots"] = True
        average = split_averages(table, row)
        if average is not None:
            ax.scatter(*average, s=110, color=colour, edgecolors="black", marker="D")
            drew["diamonds"] = True
        handles.append(Line2D([], [], color=colour, marker="o", linestyle=""))
        labels.append(plain(row.label))
    references = [a for r in table.rows if r.reported and (a := split_averages(table, r)) is not None]
    if references:
        ax.scatter(*zip(*references), s=40, color="grey", marker="x")
        handles.append(Line2D([], [], color="grey", marker="x", linestyle=""))
        labels.append("paper-reported models (averages)")
    chance = chance_level(table)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":", linewidth=1)
        ax.axvline(chance, color="grey", linestyle=":", linewidth=1)
        handles.append(Line2D([], [], color="grey", linestyle=":", linewidth=1))
        labels.append(f"chance ({chance:.0f}%)")
    low, high = value_limits(rows)
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
    ax.set(xlim=(low, high), ylim=(low, high), xlabel="seen categories (%)", ylabel="unseen categories (%)",
           title=plain(f"{table.title}\n{table.setting.label}"))
    ax.grid(alpha=0.3)
    title = ", ".join(text for kind, text in (("dots", "dots: datasets"), ("diamonds", "diamonds: averages")) if drew[kind])
    ax.legend(handles, labels, fontsize="small", loc="upper left", title=title or None, title_fontsize="small")
    return figure


def table_plots(table: Table) -> dict[str, bytes]:
    """File name -> PNG bytes for one table (nothing for a table without measured rows)."""
    plots = {f"{table.id}-bars.png": grouped_bars(table), f"{table.id}-scatter.png": seen_unseen_scatter(table)}
    return {name: png for name, png in plots.items() if png is not None}
