"""From result files to a finished ``Leaderboard``: load, lay out, attach uncertainty."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from finebench.evaluation.results import now_iso
from finebench.leaderboard.collect import Run, display_names, load_runs, reported_models
from finebench.leaderboard.general import GeneralRow, general_rows
from finebench.leaderboard.intervals import (
    bootstrap_replicates,
    load_scores,
    score_keys,
    with_uncertainty,
)
from finebench.leaderboard.tables import Table, build_tables
from finebench.models.cards import ModelCard


@dataclass(frozen=True)
class Leaderboard:
    tables: tuple[Table, ...]
    runs: tuple[Run, ...]
    generated: str
    """UTC time the leaderboard was built, ISO 8601."""
    n_resamples: int
    """Bootstrap resamples per cell; 0 means no intervals were computed."""
    seed: int
    notes: tuple[str, ...]
    """Things a reader must know that the tables cannot show (tasks left out, missing samples)."""
    general: tuple[GeneralRow, ...] = ()
    """General-capability rows (Appendix F), for runs that have ``general`` scores."""


def build_leaderboard(
    paths: Sequence[Path], cards: Sequence[ModelCard], *, with_reported: bool, n_resamples: int, seed: int,
    include_generated: bool = False,
) -> Leaderboard:
    runs = load_runs(paths)
    reported = reported_models(cards) if with_reported else []
    tables = build_tables(runs, reported, display_names(cards), include_generated)
    notes = []
    demo = [run for run in runs if any(t.generated == "demo" for t in run.tasks.values())]
    if demo and not include_generated:
        notes.append(
            f"Left out of the paper's tables: {len(demo)} run(s) on the offline demo's generated items "
            f"({', '.join(str(run.results_path) for run in demo)}); they check the harness, not a model. "
            "`finebench leaderboard --include-demo` shows them, labelled (demo)."
        )
    if n_resamples > 0:
        keys = score_keys(tables)
        scores = load_scores(keys)
        if missing := sorted({f"{path.parent}/samples_{task}.jsonl" for path, task, _ in keys - scores.keys()}):
            notes.append(f"No interval where the samples file is missing: {', '.join(missing)}.")
        replicates = bootstrap_replicates(scores, n_resamples, seed)
        tables = [with_uncertainty(table, replicates) for table in tables]
    general = tuple(general_rows(runs, tables, display_names(cards)))
    return Leaderboard(tuple(tables), tuple(runs), now_iso(), n_resamples, seed, tuple(notes), general)
