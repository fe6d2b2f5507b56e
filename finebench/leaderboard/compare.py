"""Paired comparison of two runs on the items both scored (``finebench compare A B``).

Two models answering the same items are far more precisely compared by their per-item differences
than by two independent intervals: item difficulty cancels out. Each task gets a paired bootstrap
(every metric) and an exact McNemar test (0/1 metrics); each metric gets a macro average over the
shared tasks whose replicates average the tasks' replicates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from finebench.leaderboard.collect import MixedResultsError, Run, ensure_same_task
from finebench.leaderboard.samples import load_doc_scores, samples_path
from finebench.leaderboard.stats import (
    McNemar,
    PairedDifference,
    mcnemar_exact,
    paired_difference,
    paired_replicates,
    task_rng,
)
from finebench.util.errors import FinebenchError

COMPARED_METRICS = ("accuracy", "inclusion", "ss_relative")


@dataclass(frozen=True)
class PairedResult:
    task: str
    """A task name, or ``average`` for the macro average over the metric's shared tasks."""
    metric: str
    difference: PairedDifference
    mcnemar: McNemar | None
    """None for non-0/1 scores and for averages."""


@dataclass(frozen=True)
class Comparison:
    a: Run
    b: Run
    results: tuple[PairedResult, ...]
    n_resamples: int = 0


def format_p(p: float, n_resamples: int) -> str:
    """A bootstrap p of 0 only says no resample reached 0: shown as an upper bound."""
    return f"<{1 / n_resamples:.4f}" if p == 0 and n_resamples else f"{p:.4f}"


def shared_tasks(a: Run, b: Run) -> list[str]:
    """Tasks both runs have, checked to be the same task under the same setting."""
    tasks = [t for t in a.tasks if t in b.tasks]
    for task in tasks:
        x, y = a.tasks[task], b.tasks[task]
        if x.setting != y.setting:
            raise MixedResultsError(
                f"{task}: {a.results_path} used {x.setting.label} but {b.results_path} used {y.setting.label}; "
                "a paired comparison needs both runs scored the same way"
            )
        ensure_same_task(x, y)
    if not tasks:
        raise FinebenchError(f"{a.results_path} and {b.results_path} share no task")
    return tasks


def compare_runs(a: Run, b: Run, n_resamples: int, seed: int, metrics: tuple[str, ...] = COMPARED_METRICS) -> Comparison:
    results = []
    by_metric: dict[str, list[tuple[np.ndarray, float, float, int]]] = {}
    for task in shared_tasks(a, b):
        task_metrics = [m for m in metrics if m in a.tasks[task].metrics and m in b.tasks[task].metrics]
        scores_a = load_doc_scores(a.results_path, task, task_metrics)
        scores_b = load_doc_scores(b.results_path, task, task_metrics)
        if scores_a is None or scores_b is None:
            missing = samples_path((a if scores_a is None else b).results_path, task)
            raise FinebenchError(f"{missing} not found: a paired comparison needs both runs' per-sample logs")
        for metric in task_metrics:
            shared = np.intersect1d(scores_a[metric].doc_ids, scores_b[metric].doc_ids)
            if not len(shared):
                continue
            x, y = scores_a[metric].restricted_to(shared), scores_b[metric].restricted_to(shared)
            replicates = paired_replicates(x, y, n_resamples, task_rng(seed, task))
            difference = paired_difference(replicates, float(x.mean()), float(y.mean()), len(shared))
            results.append(PairedResult(task, metric, difference, mcnemar_exact(x, y)))
            by_metric.setdefault(metric, []).append((replicates, float(x.mean()), float(y.mean()), len(shared)))
    for metric, parts in by_metric.items():
        if len(parts) > 1:
            replicates = np.mean([p[0] for p in parts], axis=0)
            mean_a = float(np.mean([p[1] for p in parts]))
            mean_b = float(np.mean([p[2] for p in parts]))
            difference = paired_difference(replicates, mean_a, mean_b, sum(p[3] for p in parts))
            results.append(PairedResult("average", metric, difference, None))
    return Comparison(a, b, tuple(results), n_resamples)


def format_comparison(comparison: Comparison) -> str:
    """A markdown table: one line per task and metric, deltas in percentage points."""
    a, b = comparison.a, comparison.b
    lines = [
        f"A: {a.model} ({a.results_path})",
        f"B: {b.model} ({b.results_path})",
        "",
        "| task | metric | n | A | B | A - B | 95% CI | p (bootstrap) | p (McNemar) | |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for r in comparison.results:
        d = r.difference
        mcnemar = "–" if r.mcnemar is None else f"{r.mcnemar.pvalue:.4f}"
        marker = "*" if d.significant else ""
        lines.append(
            f"| {r.task} | {r.metric} | {d.n} | {d.mean_a * 100:.2f} | {d.mean_b * 100:.2f} | {d.delta * 100:+.2f} | "
            f"[{d.ci_low * 100:+.2f}, {d.ci_high * 100:+.2f}] | {format_p(d.p_bootstrap, comparison.n_resamples)} | "
            f"{mcnemar} | {marker} |"
        )
    lines += ["", "* significant at p < 0.05 (paired percentile bootstrap: the 95% CI excludes 0 exactly when p < 0.05); "
              "McNemar is exact (binomial) on 0/1 scores and can disagree on small n."]
    return "\n".join(lines) + "\n"
