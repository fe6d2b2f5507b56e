"""Machine-readable leaderboard exports (pandas): one tidy long table for analysis, one wide CSV per
paper table for spreadsheets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finebench.leaderboard.build import Leaderboard
from finebench.leaderboard.general import general_columns
from finebench.leaderboard.tables import Table
from finebench.util.escaping import csv_cell
from finebench.util.fsutil import atomic_write_text


def tidy_records(board: Leaderboard) -> list[dict[str, Any]]:
    """One record per (table, row, column), missing cells included as null values."""
    records = []
    for table in board.tables:
        for group, rows in table.groups():
            for row in rows:
                for column in table.columns:
                    interval = row.intervals.get(column.key)
                    task_run = row.task_runs.get(column.key)
                    records.append({
                        "table": table.spec.number,
                        "table_id": table.id,
                        "metric": table.spec.metric,
                        "world": table.spec.world,
                        "protocol": table.setting.protocol,
                        "option_order": table.setting.option_order,
                        "group": group,
                        "model": row.key,
                        "label": row.label,
                        "reported": row.reported,
                        "column": column.key,
                        "split": column.split,
                        "dataset": column.dataset,
                        "task": task_run.task if task_run else None,
                        "value": row.values.get(column.key),
                        "ci_low": interval[0] if interval else None,
                        "ci_high": interval[1] if interval else None,
                        "mark": row.marks.get(column.key),
                        "significant": column.key in row.significant,
                        "partial": column.key in row.partial_columns,
                        "failed_samples": column.key in row.failed_columns,
                        "n_errors": task_run.n_errors if task_run else None,
                        "n": task_run.n if task_run else None,
                        "source": str(task_run.results_path) if task_run else None,
                    })
    return records


def wide_frame(table: Table) -> Any:
    """The table as displayed: one row per model, one column per cell ("seen Air.", ...)."""
    import pandas as pd

    names = {c.key: f"{c.split or 'overall'} {c.label}" for c in table.columns}
    return pd.DataFrame(
        [{"group": group, "model": row.label, "reported": row.reported, **{names[c.key]: row.values.get(c.key) for c in table.columns}}
         for group, rows in table.groups() for row in rows],
        columns=["group", "model", "reported", *names.values()],
    )


def spreadsheet_safe(frame: Any) -> Any:
    """The frame with every text cell that a spreadsheet would run as a formula neutralised
    (model, family and dataset names come from results files other people send)."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    frame = frame.copy()
    for name in frame.columns:
        if not (is_numeric_dtype(frame[name]) or is_bool_dtype(frame[name])):
            frame[name] = frame[name].map(csv_cell)
    frame.columns = [csv_cell(str(c)) for c in frame.columns]
    return frame


def write_exports(board: Leaderboard, out: Path) -> list[str]:
    """Write ``leaderboard.csv``, ``leaderboard.json``, ``TABLE_ID.csv`` and, when any run has
    general-capability scores, ``general.csv``; returns the file names."""
    import pandas as pd

    tidy = pd.DataFrame(tidy_records(board))
    for counts in ("n", "n_errors"):
        if counts in tidy:
            tidy[counts] = tidy[counts].astype("Int64")  # item counts stay integers next to missing cells
    files = {"leaderboard.csv": spreadsheet_safe(tidy).to_csv(index=False),
             "leaderboard.json": tidy.to_json(orient="records", indent=2)}
    files.update({f"{table.id}.csv": spreadsheet_safe(wide_frame(table)).to_csv(index=False, float_format="%.4f")
                  for table in board.tables})
    if board.general:
        columns = general_columns()
        frame = pd.DataFrame([{"model": row.label, **{label: row.values.get(key) for key, label in columns}} for row in board.general],
                             columns=["model", *(label for _, label in columns)])
        files["general.csv"] = spreadsheet_safe(frame).to_csv(index=False, float_format="%.4f")
    for name, text in files.items():
        atomic_write_text(out / name, text)
    return list(files)
