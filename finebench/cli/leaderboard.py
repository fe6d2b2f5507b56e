"""``finebench leaderboard`` and ``finebench compare`` (and the run report behind ``finebench analyze report``).

The plain functions do the work and return what they wrote, so tests and scripts call them
directly; ``app`` wraps them for the command line. Only typer is imported at module level:
``finebench.cli`` imports this module on every start-up, and pandas, matplotlib and scipy cost
about a second.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer

from finebench.util.errors import FinebenchError

DEFAULT_RESAMPLES = 1000

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)


def _check_bootstrap(resamples: int, seed: int, minimum: int) -> None:
    if resamples < minimum:
        raise FinebenchError(f"--resamples must be >= {minimum}")
    if seed < 0:
        raise FinebenchError("--seed must be >= 0")


def leaderboard_command(
    results: Sequence[Path],
    out: Path,
    *,
    baselines: Path | None = None,
    reported: bool = True,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    plots: bool = True,
    html: bool = True,
    explorer: bool = False,
    include_demo: bool = False,
    summary: bool = False,
) -> list[Path]:
    """Build the leaderboard of the given results directories into ``out``; returns the files written.
    With ``explorer``, ``out/explorer/`` is the per-sample explorer of the same runs, linked from index.html;
    ``include_demo``: put runs on the demo's generated items in the paper's tables; ``summary``: print
    each table's ranks and averages."""
    from finebench.leaderboard.build import build_leaderboard
    from finebench.leaderboard.export import write_exports
    from finebench.leaderboard.render_md import leaderboard_markdown
    from finebench.models.cards import all_cards
    from finebench.util.fsutil import atomic_write_bytes, atomic_write_text

    if not results:
        raise FinebenchError("give at least one results directory or results.json")
    _check_bootstrap(resamples, seed, minimum=0)
    board = build_leaderboard(results, all_cards(baselines), with_reported=reported, n_resamples=resamples, seed=seed,
                              include_generated=include_demo)
    if summary:
        from finebench.leaderboard.render_md import summary_text

        typer.echo(summary_text(board), nl=False)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = write_exports(board, out)
    table_plots: dict[str, dict[str, bytes]] = {}
    if plots:
        from finebench.leaderboard.plots import table_plots as draw

        for table in board.tables:
            table_plots[table.id] = draw(table)
            for name, png in table_plots[table.id].items():
                atomic_write_bytes(out / name, png)
                files.append(name)
    if explorer:
        from finebench.leaderboard.explorer.collect import has_samples
        from finebench.leaderboard.explorer.write import write_explorer

        shown = [path for path in results if has_samples(path)]  # runs without samples files have nothing to show
        if not shown:
            raise FinebenchError("--explorer: none of the runs has a samples file (samples_<task>.jsonl)")
        write_explorer(shown, out / "explorer", title="finebench explorer: leaderboard runs")
        files.append("explorer/index.html")
    if html:
        from finebench.leaderboard.render_html import leaderboard_html

        link = "explorer/index.html" if explorer else None
        atomic_write_text(out / "index.html", leaderboard_html(board, table_plots, explorer=link))
        files.append("index.html")
    atomic_write_text(out / "README.md", leaderboard_markdown(board, files))
    return [out / "README.md", *(out / name for name in files)]


def compare_command(
    a: Path, b: Path, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0, json_out: Path | None = None
) -> str:
    """Paired tests of run A against run B on shared items; returns the markdown report."""
    from finebench.leaderboard.collect import load_run
    from finebench.leaderboard.compare import compare_runs, format_comparison

    _check_bootstrap(resamples, seed, minimum=1)
    comparison = compare_runs(load_run(a), load_run(b), resamples, seed)
    if json_out is not None:
        from finebench.util.fsutil import atomic_write_json

        atomic_write_json(json_out, {
            "a": str(comparison.a.results_path),
            "b": str(comparison.b.results_path),
            "resamples": resamples,
            "seed": seed,
            "results": [asdict(r) for r in comparison.results],
        })
    return format_comparison(comparison)


def analyze_command(
    run: Path,
    *,
    out: Path | None = None,
    shuffled: Path | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    top_k: int = 20,
) -> Path:
    """Per-task analysis report of one run (plus CircularEval and the paper-vs-shuffled gap where
    they apply), written as ``analysis.md`` and ``analysis.json``; returns the markdown path."""
    from finebench.leaderboard.analysis import analyse_run
    from finebench.leaderboard.collect import load_run
    from finebench.leaderboard.render_md import analysis_markdown
    from finebench.util.fsutil import atomic_write_text

    _check_bootstrap(resamples, seed, minimum=1)
    loaded = load_run(run)
    analysis = analyse_run(loaded, shuffled=load_run(shuffled) if shuffled else None,
                           n_resamples=resamples, seed=seed, top_k=top_k)
    out = Path(out) if out else loaded.results_path.parent / "analysis"
    atomic_write_text(out / "analysis.md", analysis_markdown(analysis))
    atomic_write_text(out / "analysis.json", json.dumps({
        "model": loaded.model,
        "results": str(loaded.results_path),
        "tasks": [asdict(t) for t in analysis.tasks],
        "split_gaps": [{**asdict(g), "gap": g.gap} for g in analysis.split_gaps],
        "circular": [{**asdict(c), "first_position_gap": c.first_position_gap} for c in analysis.circular],
        "protocol_gaps": [{**asdict(g), "gap": g.gap} for g in analysis.protocol_gaps],
        "missing_samples": list(analysis.missing_samples),
    }, indent=2, default=str) + "\n")
    return out / "analysis.md"


Resamples = Annotated[int, typer.Option("--resamples", help="Bootstrap resamples over items.")]
Seed = Annotated[int, typer.Option("--seed", help="Bootstrap seed (same seed, same intervals).")]


@app.command("leaderboard")
def leaderboard_cli(
    results: Annotated[list[Path], typer.Argument(metavar="RESULTS", help="Results directories (or results.json files) of `finebench run`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("leaderboard"),
    baselines: Annotated[Optional[Path], typer.Option("--baselines", help="Model cards folder: display names and reported rows [default: the shipped baselines/].")] = None,
    reported: Annotated[bool, typer.Option("--reported/--no-reported", help="Add the paper's reported numbers as reference rows.")] = True,
    resamples: Resamples = DEFAULT_RESAMPLES,
    seed: Seed = 0,
    plots: Annotated[bool, typer.Option("--plots/--no-plots")] = True,
    html: Annotated[bool, typer.Option("--html/--no-html")] = True,
    explorer: Annotated[bool, typer.Option("--explorer/--no-explorer", help="Also build the per-sample explorer of the runs into OUT/explorer, linked from index.html.")] = False,
    include_demo: Annotated[bool, typer.Option("--include-demo", help="Show runs on the offline demo's generated items in the paper's tables, labelled (demo).")] = False,
) -> None:
    """Paper-layout tables (Tables 1, 2, 6) with 95% bootstrap intervals, CSV/JSON, plots and index.html.
    --resamples 0 skips intervals."""
    written = leaderboard_command(results, out, baselines=baselines, reported=reported, resamples=resamples,
                                  seed=seed, plots=plots, html=html, explorer=explorer, include_demo=include_demo,
                                  summary=True)
    typer.echo(f"leaderboard: {written[0]} ({len(written)} files in {out})")


@app.command("compare")
def compare_cli(
    a: Annotated[Path, typer.Argument(metavar="A", help="Results directory of model A.")],
    b: Annotated[Path, typer.Argument(metavar="B", help="Results directory of model B.")],
    resamples: Resamples = DEFAULT_RESAMPLES,
    seed: Seed = 0,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the results as JSON.")] = None,
) -> None:
    """Paired bootstrap and exact McNemar tests of A against B on the items both scored."""
    typer.echo(compare_command(a, b, resamples=resamples, seed=seed, json_out=json_out), nl=False)
