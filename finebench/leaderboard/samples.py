"""Per-sample logs (``samples_<task>.jsonl`` next to ``results.json``) as the statistics need them.

Confidence intervals and paired tests resample *items*, not (item, trial) rows: trials of one item
are not independent draws, so each item's score is its mean over trials first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from finebench.util.errors import FinebenchError
from finebench.util.jsonl import iter_jsonl


@dataclass(frozen=True)
class DocScores:
    """One metric of one task of one run: ``values[i]`` (0..1) is item ``doc_ids[i]``'s mean over trials."""

    doc_ids: np.ndarray
    values: np.ndarray

    def restricted_to(self, doc_ids: np.ndarray) -> np.ndarray:
        """Values of the given doc ids (all present in ``self``), in their order."""
        return self.values[np.searchsorted(self.doc_ids, doc_ids)]


def samples_path(results_path: Path, task: str) -> Path:
    return Path(results_path).parent / f"samples_{task}.jsonl"


def read_samples(path: Path) -> list[dict[str, Any]]:
    """All rows of a samples file; a malformed line raises an error naming the file and line."""
    rows = []
    for where, row in iter_jsonl(path, what="samples file"):
        if not isinstance(row, dict) or not isinstance(row.get("doc_id"), int):
            raise FinebenchError(f"{where}: a samples row must be an object with an integer doc_id")
        rows.append(row)
    return rows


def sample_score(row: dict[str, Any], metric: str, where: str) -> float:
    """A row's score; a failed generation without one counts 0, as the runner scores it."""
    scores = row.get("scores") or {}
    if metric in scores:
        return float(scores[metric])
    if row.get("error"):
        return 0.0
    raise FinebenchError(f"{where}: doc_id {row['doc_id']} trial {row.get('trial')} has no score for {metric!r}")


def doc_scores(rows: Iterable[dict[str, Any]], metric: str, where: str) -> DocScores:
    """Mean over trials per doc id, doc ids ascending."""
    pairs = [(row["doc_id"], sample_score(row, metric, where)) for row in rows]
    if not pairs:
        return DocScores(np.empty(0, dtype=np.int64), np.empty(0))
    ids = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
    scores = np.fromiter((p[1] for p in pairs), dtype=np.float64, count=len(pairs))
    unique, inverse = np.unique(ids, return_inverse=True)
    sums = np.bincount(inverse, weights=scores, minlength=len(unique))
    counts = np.bincount(inverse, minlength=len(unique))
    return DocScores(unique, sums / counts)


def load_doc_scores(results_path: Path, task: str, metrics: Iterable[str]) -> dict[str, DocScores] | None:
    """Per-item scores of a task's metrics, or None when the run's samples file is absent (then the
    leaderboard shows the value without an interval rather than failing)."""
    path = samples_path(results_path, task)
    if not path.is_file():
        return None
    rows = read_samples(path)
    return {metric: doc_scores(rows, metric, str(path)) for metric in metrics}
