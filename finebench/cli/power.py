"""``finebench power --tasks T --effect 0.02 [--baseline RUN [--baseline RUN2]]``: items needed for a
paired comparison, and the effect the tasks' sizes can detect (see ``finebench.leaderboard.power``)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from finebench.util.errors import FinebenchError

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)


def _results(path: Path) -> tuple[Path, dict[str, Any]]:
    file = path / "results.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FinebenchError(f"{file}: cannot read results ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise FinebenchError(f"{file}: not a finebench results file (no 'results' mapping)")
    return file, data


def _count_items(task: Any, data_root: Path) -> int | None:
    path = data_root / task.source
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def power_command(tasks: str, effect: float, *, baselines: list[Path], alpha: float = 0.05, power: float = 0.8,
                  accuracy: float = 0.5, data_root: Path | None = None, metric: str | None = None) -> list[Any]:
    import numpy as np

    from finebench.leaderboard.power import check_levels, measured_discordance, plan_task
    from finebench.leaderboard.samples import load_doc_scores
    from finebench.tasks.index import TaskIndex
    from finebench.util.resources import default_data_root

    check_levels(alpha, power)
    if len(baselines) > 2:
        raise FinebenchError("give at most two --baseline runs (two: their per-item agreement is measured)")
    if not 0 < accuracy < 1:
        raise FinebenchError(f"--accuracy must be in (0, 1), got {accuracy}")
    if effect == 0 or not -1 < effect < 1:
        raise FinebenchError(f"--effect must be a non-zero accuracy difference in (-1, 1) (0.02 = 2 points), got {effect}")
    index = TaskIndex()
    runs = [_results(Path(b)) for b in baselines]
    root = Path(data_root or default_data_root()).expanduser()
    rows = []
    for name in index.expand([t.strip() for t in tasks.split(",") if t.strip()]):
        task = index.load(name)
        chosen = metric or task.metrics[0]
        available, base_accuracy, measured = _count_items(task, root), accuracy, None
        for file, data in runs:
            if name not in data["results"] or chosen not in data["results"][name]:
                raise FinebenchError(f"{file}: no {chosen} result for task {name}")
        if runs:
            file, data = runs[0]
            base_accuracy = float(data["results"][name][chosen]) / 100
            total = (data.get("tasks") or {}).get(name, {}).get("n_items_total")
            available = total if isinstance(total, int) else available
        if len(runs) == 2:
            scores = [load_doc_scores(f, name, [chosen]) for f, _ in runs]
            if any(s is None for s in scores):
                raise FinebenchError(f"task {name}: two baselines need their samples_{name}.jsonl files for per-item agreement")
            a, b = scores[0][chosen], scores[1][chosen]
            common = np.intersect1d(a.doc_ids, b.doc_ids)
            if not len(common):
                raise FinebenchError(f"task {name}: the two baselines share no items")
            measured = measured_discordance(a.restricted_to(common), b.restricted_to(common))
        base_accuracy = min(max(base_accuracy, 1e-6), 1 - 1e-6)
        rows.append(plan_task(name, effect, alpha=alpha, power=power, available=available, accuracy=base_accuracy,
                              measured=measured))
    return rows


@app.command("power")
def power_cli(
    tasks: Annotated[str, typer.Option("--tasks", "-t", help="Comma-separated tasks and groups.")],
    effect: Annotated[float, typer.Option("--effect", help="Accuracy difference to detect, as a fraction (0.02 = 2 points).")],
    baseline: Annotated[Optional[list[Path]], typer.Option("--baseline", help="A results directory: its accuracy (once) or, given twice, the two runs' per-item agreement.")] = None,
    alpha: Annotated[float, typer.Option(help="Two-sided significance level.")] = 0.05,
    power: Annotated[float, typer.Option(help="Probability of detecting the effect.")] = 0.8,
    accuracy: Annotated[float, typer.Option(help="Assumed accuracy of model A without a baseline.")] = 0.5,
    metric: Annotated[Optional[str], typer.Option(help="Metric [default: the task's first: accuracy or inclusion].")] = None,
    data_root: Annotated[Optional[Path], typer.Option("--data-root", help="Where the item files are (for the task sizes).")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the rows as JSON.")] = None,
) -> None:
    """Items needed for a paired (McNemar) comparison to detect EFFECT, and the smallest effect
    detectable with the items each task has. Formula and assumptions: finebench.leaderboard.power."""
    from finebench.leaderboard.power import format_plan
    from finebench.util.fsutil import atomic_write_json

    rows = power_command(tasks, effect, baselines=baseline or [], alpha=alpha, power=power, accuracy=accuracy,
                         data_root=data_root, metric=metric)
    typer.echo(format_plan(rows, alpha, power), nl=False)
    if json_out:
        atomic_write_json(json_out, [asdict(r) for r in rows])
