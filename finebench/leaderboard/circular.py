"""Closed-world position bias.

CircularEval (``--option-order circular``) asks every item once per ground-truth position; an item
counts as solved only when it is answered correctly in every position, which removes the credit a
model gets from always picking, say, the first option. The paper's protocol always shows the ground
truth first, so the accuracy at position 0 against the mean over positions is the part of its
numbers that position bias can explain. ``protocol_gaps`` measures the same thing end to end: the
paper protocol against shuffled options, for one model on the same items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from finebench.leaderboard.collect import (
    PAPER_OPTION_ORDER,
    MixedResultsError,
    Run,
    ensure_same_task,
)
from finebench.leaderboard.samples import load_doc_scores, sample_score
from finebench.leaderboard.stats import (
    PairedDifference,
    paired_difference,
    paired_replicates,
    task_rng,
)
from finebench.util.errors import FinebenchError

CIRCULAR = "circular"
SHUFFLED = "shuffled"
CLOSED_METRIC = "accuracy"


@dataclass(frozen=True)
class CircularResult:
    task: str
    n_items: int
    """Items asked in every position."""
    n_incomplete: int
    """Items missing a position (e.g. a run stopped midway); left out of every number below."""
    circular_accuracy: float
    """Percent of items correct in all positions."""
    accuracy_by_position: tuple[float, ...]
    """Percent correct with the ground truth at position 0, 1, ..."""
    mean_accuracy: float
    """Percent correct over all (item, position) pairs: plain accuracy with balanced positions."""

    @property
    def first_position_gap(self) -> float:
        """Accuracy with the ground truth first (the paper's layout) minus the position-balanced one."""
        return self.accuracy_by_position[0] - self.mean_accuracy


def ground_truth_position(row: Mapping[str, Any], where: str) -> int:
    """Where the ground truth was shown; read from the options, not inferred from the trial number."""
    options = row.get("options") or []
    if row.get("target") not in options:
        raise FinebenchError(f"{where}: doc_id {row.get('doc_id')} trial {row.get('trial')}: target not among the shown options")
    return options.index(row["target"])


def circular_result(task: str, rows: Sequence[Mapping[str, Any]], where: str, metric: str = CLOSED_METRIC) -> CircularResult:
    """CircularEval numbers from one task's samples rows (one row per item and position)."""
    correct: dict[int, dict[int, float]] = {}
    n_positions = 0
    for row in rows:
        position = ground_truth_position(row, where)
        n_positions = max(n_positions, len(row["options"]))
        correct.setdefault(row["doc_id"], {})[position] = sample_score(row, metric, where)
    complete = {doc: by_pos for doc, by_pos in correct.items() if len(by_pos) == n_positions}
    if not complete:
        raise FinebenchError(f"{where}: no item was asked with the ground truth in all {n_positions} positions; "
                             "is this a run with --option-order circular?")
    matrix = np.array([[by_pos[p] for p in range(n_positions)] for by_pos in complete.values()])
    return CircularResult(
        task=task,
        n_items=len(complete),
        n_incomplete=len(correct) - len(complete),
        circular_accuracy=float(np.mean(np.all(matrix == 1, axis=1)) * 100),
        accuracy_by_position=tuple(float(v) * 100 for v in matrix.mean(axis=0)),
        mean_accuracy=float(matrix.mean() * 100),
    )


def circular_tasks(run: Run) -> list[str]:
    return [name for name, t in run.tasks.items() if t.setting.option_order == CIRCULAR]


@dataclass(frozen=True)
class ProtocolGap:
    task: str
    paper: float
    """Accuracy (percent) under the paper protocol, ground truth first."""
    shuffled: float
    difference: PairedDifference | None
    """Paired bootstrap of paper minus shuffled on shared items (0..1 scale); None without samples."""

    @property
    def gap(self) -> float:
        return self.paper - self.shuffled


def _closed_tasks(run: Run, option_order: str, role: str) -> dict[str, Any]:
    tasks = {name: t for name, t in run.tasks.items() if t.world == "closed" and CLOSED_METRIC in t.metrics}
    wrong = sorted(name for name, t in tasks.items() if t.setting.option_order != option_order)
    if wrong:
        raise MixedResultsError(
            f"{run.results_path}: the {role} run must show options in {option_order} order, but "
            f"{', '.join(wrong)} did not; pass a run made with that option order"
        )
    return tasks


def protocol_gaps(paper: Run, shuffled: Run, n_resamples: int, seed: int) -> list[ProtocolGap]:
    """Paper protocol (release order) minus shuffled options, per closed task both runs share."""
    if paper.model != shuffled.model:
        raise MixedResultsError(
            f"the paper-vs-shuffled gap needs one model, got {paper.model!r} ({paper.results_path}) and "
            f"{shuffled.model!r} ({shuffled.results_path})"
        )
    paper_tasks = _closed_tasks(paper, PAPER_OPTION_ORDER, "paper-protocol")
    shuffled_tasks = _closed_tasks(shuffled, SHUFFLED, "shuffled")
    gaps = []
    for task in [t for t in paper_tasks if t in shuffled_tasks]:
        a, b = paper_tasks[task], shuffled_tasks[task]
        ensure_same_task(a, b)
        difference = _paired_gap(a.results_path, b.results_path, task, n_resamples, seed)
        gaps.append(ProtocolGap(task, a.metrics[CLOSED_METRIC], b.metrics[CLOSED_METRIC], difference))
    return gaps


def _paired_gap(paper_path, shuffled_path, task: str, n_resamples: int, seed: int) -> PairedDifference | None:
    a = load_doc_scores(paper_path, task, [CLOSED_METRIC])
    b = load_doc_scores(shuffled_path, task, [CLOSED_METRIC])
    if a is None or b is None:
        return None
    a_scores, b_scores = a[CLOSED_METRIC], b[CLOSED_METRIC]
    shared = np.intersect1d(a_scores.doc_ids, b_scores.doc_ids)
    if not len(shared):
        return None
    x, y = a_scores.restricted_to(shared), b_scores.restricted_to(shared)
    replicates = paired_replicates(x, y, n_resamples, task_rng(seed, task))
    return paired_difference(replicates, float(x.mean()), float(y.mean()), len(shared))
