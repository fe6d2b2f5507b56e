"""General capability next to FGVR (paper Appendix F): one row per model that has ``general``
scores in its results, with its FGVR averages from the paper-setting tables beside them, so a
reader sees what fine-grained training gained and what general skill it cost."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from finebench.interop.general import GENERAL_BENCHMARKS
from finebench.leaderboard.collect import Run
from finebench.leaderboard.tables import Table

FGVR_COLUMNS = (("closed", "FGVR closed avg. (%)"), ("open", "FGVR open SS_rel. avg. (%)"))


@dataclass(frozen=True)
class GeneralRow:
    model: str
    label: str
    values: Mapping[str, float]
    """Column key (``closed``, ``open``, or a general benchmark name) -> value."""


def general_columns() -> list[tuple[str, str]]:
    return [*FGVR_COLUMNS, *((b.name, b.label + (" (score)" if b.unit == "score" else " (%)")) for b in GENERAL_BENCHMARKS)]


def fgvr_averages(tables: Sequence[Table]) -> dict[str, dict[str, float]]:
    """model -> {"closed": Table 1 overall avg., "open": Table 2 overall avg.} in the paper setting."""
    averages: dict[str, dict[str, float]] = {}
    for table in tables:
        if not table.setting.is_paper or table.benchmark or table.spec.number not in (1, 2):
            continue
        for row in table.rows:
            if not row.reported and "avg" in row.values and not row.partial_columns:
                averages.setdefault(row.key, {})[table.spec.world] = row.values["avg"]
    return averages


def general_rows(runs: Sequence[Run], tables: Sequence[Table], names: Mapping[str, str]) -> list[GeneralRow]:
    averages = fgvr_averages(tables)
    rows: dict[str, dict[str, float]] = {}
    for run in runs:
        if run.general:
            rows.setdefault(run.key, {}).update(run.general)
    return [GeneralRow(key, names.get(key, key), {**averages.get(key, {}), **values}) for key, values in rows.items()]
