"""Confidence intervals and best-vs-runner-up significance for leaderboard cells.

Every (run, task, metric) with a samples file gets bootstrap replicates of its mean. Runs scored on
the same items of a task share one resample matrix, which makes any two of them paired: the
difference of their replicates is the paired bootstrap of their difference. Average columns
average the replicates of their cells (tasks resampled independently, as they are independent
item sets).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from finebench.leaderboard.samples import DocScores, load_doc_scores
from finebench.leaderboard.stats import (
    SIGNIFICANCE_LEVEL,
    bootstrap_means,
    paired_bootstrap_pvalue,
    percentile_interval,
    resample_counts,
    task_rng,
)
from finebench.leaderboard.tables import Row, Table

ScoreKey = tuple[Path, str, str]
"""(results.json, task, metric)."""


@dataclass(frozen=True)
class Replicates:
    values: Mapping[ScoreKey, np.ndarray]
    """Bootstrap replicates of the mean score (0..1), shape (n_resamples,)."""
    points: Mapping[ScoreKey, float]
    """The mean score itself (0..1)."""
    pairing: Mapping[ScoreKey, tuple[str, str]]
    """(task, item-set digest): equal pairing means resampled with the same draws."""


def score_keys(tables: Iterable[Table]) -> set[ScoreKey]:
    return {
        (t.results_path, t.task, table.spec.metric)
        for table in tables
        for row in table.rows
        for t in row.task_runs.values()
    }


def load_scores(keys: Iterable[ScoreKey]) -> dict[ScoreKey, DocScores]:
    """Per-item scores for the keys whose samples file exists (each file read once)."""
    wanted: dict[tuple[Path, str], set[str]] = {}
    for path, task, metric in keys:
        wanted.setdefault((path, task), set()).add(metric)
    scores = {}
    for (path, task), metrics in wanted.items():
        loaded = load_doc_scores(path, task, sorted(metrics))
        if loaded is not None:
            scores.update({(path, task, metric): s for metric, s in loaded.items()})
    return scores


def bootstrap_replicates(scores: Mapping[ScoreKey, DocScores], n_resamples: int, seed: int) -> Replicates:
    """One resample matrix per (task, item set), applied to all its scores in one matrix product."""
    groups: dict[tuple[str, str], list[ScoreKey]] = {}
    for key, doc_scores in scores.items():
        if len(doc_scores.doc_ids):
            digest = hashlib.sha256(doc_scores.doc_ids.tobytes()).hexdigest()
            groups.setdefault((key[1], digest), []).append(key)
    values: dict[ScoreKey, np.ndarray] = {}
    pairing: dict[ScoreKey, tuple[str, str]] = {}
    for group, keys in groups.items():
        counts = resample_counts(len(scores[keys[0]].doc_ids), n_resamples, task_rng(seed, group[0]))
        replicates = bootstrap_means(np.stack([scores[k].values for k in keys]), counts)
        values.update(zip(keys, replicates))
        pairing.update(dict.fromkeys(keys, group))
    points = {key: float(scores[key].values.mean()) for key in values}
    return Replicates(values, points, pairing)


@dataclass(frozen=True)
class CellStats:
    """Replicates, point estimate and pairing signature of one row's cells, averages included."""

    replicates: dict[str, np.ndarray]
    points: dict[str, float]
    pairing: dict[str, tuple[tuple[str, str], ...]]


def row_stats(table: Table, row: Row, reps: Replicates) -> CellStats:
    stats = CellStats({}, {}, {})
    for column_key, task_run in row.task_runs.items():
        key = (task_run.results_path, task_run.task, table.spec.metric)
        if key in reps.values:
            stats.replicates[column_key] = reps.values[key]
            stats.points[column_key] = reps.points[key]
            stats.pairing[column_key] = (reps.pairing[key],)
    for column in table.columns:
        if column.is_average and all(m in stats.replicates for m in column.members):
            stats.replicates[column.key] = np.mean([stats.replicates[m] for m in column.members], axis=0)
            stats.points[column.key] = float(np.mean([stats.points[m] for m in column.members]))
            stats.pairing[column.key] = tuple(p for m in column.members for p in stats.pairing[m])
    return stats


def best_beats_runners_up(column: str, best: CellStats, runners_up: list[CellStats]) -> bool:
    """Paired bootstrap of best minus each runner-up; significant only against all of them, and
    only when they were resampled on the same items (otherwise no claim is made)."""
    for other in runners_up:
        if column not in other.replicates or other.pairing[column] != best.pairing[column]:
            return False
        delta = best.replicates[column] - other.replicates[column]
        observed = best.points[column] - other.points[column]
        if observed <= 0 or paired_bootstrap_pvalue(delta, observed) >= SIGNIFICANCE_LEVEL:
            return False
    return bool(runners_up)


def with_uncertainty(table: Table, reps: Replicates) -> Table:
    """The table with a 95% interval on every cell that has samples, and significance of each
    column's single best row over its runner(s)-up."""
    stats = {row.key: row_stats(table, row, reps) for row in table.rows if not row.reported}
    significant: dict[str, set[str]] = {}
    for column in table.columns:
        best = [r.key for r in table.rows if r.marks.get(column.key) == "best"]
        second = [r.key for r in table.rows if r.marks.get(column.key) == "second"]
        if len(best) == 1 and column.key in stats[best[0]].replicates:
            if best_beats_runners_up(column.key, stats[best[0]], [stats[k] for k in second]):
                significant.setdefault(best[0], set()).add(column.key)
    rows = []
    for row in table.rows:
        if row.reported:
            rows.append(row)
            continue
        intervals = {}
        for column_key, replicates in stats[row.key].replicates.items():
            low, high = percentile_interval(replicates)
            intervals[column_key] = (float(low) * 100, float(high) * 100)
        rows.append(replace(row, intervals=intervals, significant=frozenset(significant.get(row.key, ()))))
    return replace(table, rows=tuple(rows))
