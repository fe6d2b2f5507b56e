"""The paper's table layouts, built from loaded runs (pure: no files, no plotting).

Layout, mirrored from the paper's Tables 1, 2 and 6 (checked against the published table images):
one block of columns per split, "Seen categories" then "Unseen categories", each with the six
datasets in the paper's order (Air., Bird, Car, Dog, Flower, Pet) followed by their average, then a
final "Avg." that is the mean of the two split averages. No harmonic mean: the paper reports none.
Rows are grouped by model family (CLIP models, general MLLMs, reasoning MLLMs, trained checkpoints).
An average is shown only when all the cells it averages exist, so a partial run never gets an
average that looks comparable to a complete one.

Tasks of other datasets (the synthetic benchmark, your own ``data build`` variants) get tables of
their own in the same layout, one per dataset, after the paper's: never a column in the paper's.
Results on items finebench generated (the offline demo's random model on generated images) stay out
of the paper's tables unless asked (``include_generated``), and are labelled "(demo)" when shown.
SS_relative measured with another text encoder than the paper's is labelled with it and not ranked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from finebench.leaderboard.collect import (
    PAPER_SETTING,
    PAPER_SS_ENCODER,
    MixedResultsError,
    ReportedModel,
    Run,
    Setting,
    TaskRun,
    ensure_same_task,
)
from finebench.util.escaping import is_safe_name, slug

DATASETS: tuple[tuple[str, str], ...] = (
    ("aircraft", "Air."),
    ("cub", "Bird"),
    ("cars", "Car"),
    ("dogs", "Dog"),
    ("flowers", "Flower"),
    ("pets", "Pet"),
)
SPLITS: tuple[tuple[str, str], ...] = (("seen", "Seen categories"), ("unseen", "Unseen categories"))
FAMILY_GROUPS: tuple[tuple[str, str], ...] = (
    ("clip", "CLIP Models"),
    ("general-mllm", "General MLLMs"),
    ("reasoning-mllm", "Reasoning MLLMs"),
    ("trained", "Trained checkpoints"),
    ("test", "Test models"),
)
DECIMALS = 2
"""Display precision, as in the paper; ties for best/second are decided at this precision."""
REPORTED = " (reported)"
"""Suffix of the key and label of a row of paper-reported numbers."""


@dataclass(frozen=True)
class TableSpec:
    number: int
    """The paper's table number."""
    world: str
    metric: str
    title: str


TABLE_SPECS: tuple[TableSpec, ...] = (
    TableSpec(1, "closed", "accuracy", "Closed-world accuracy (%)"),
    TableSpec(2, "open", "ss_relative", "Open-world SS_relative (%)"),
    TableSpec(6, "open", "inclusion", "Open-world inclusion accuracy (%)"),
)


@dataclass(frozen=True)
class Column:
    key: str
    """``seen:cub`` for a task cell, ``seen:avg`` for a split average, ``avg`` for the overall one."""
    label: str
    split: str | None
    dataset: str | None
    members: tuple[str, ...] = ()
    """Keys of the columns this one averages (empty for a task column)."""

    @property
    def is_average(self) -> bool:
        return bool(self.members)


def layout_columns(datasets: Sequence[tuple[str, str]]) -> tuple[Column, ...]:
    """Per split the datasets and (with more than one) their average, then the overall average."""
    columns: list[Column] = []
    split_averages = []
    for split, _ in SPLITS:
        keys = []
        for dataset, label in datasets:
            keys.append(f"{split}:{dataset}")
            columns.append(Column(keys[-1], label, split, dataset))
        if len(keys) > 1:
            columns.append(Column(f"{split}:avg", "Avg.", split, None, tuple(keys)))
            keys = [columns[-1].key]
        split_averages += keys
    columns.append(Column("avg", "Avg.", None, None, tuple(split_averages)))
    return tuple(columns)


COLUMNS = layout_columns(DATASETS)
PAPER_DATASETS = frozenset(dataset for dataset, _ in DATASETS)


def task_keys(columns: Sequence[Column]) -> frozenset[str]:
    return frozenset(c.key for c in columns if not c.is_average)


def task_column_key(dataset: str, split: str) -> str:
    return f"{split}:{dataset}"


@dataclass(frozen=True)
class Row:
    key: str
    """Unique within a table: the model name, with `` (reported)`` for reference rows."""
    label: str
    family: str
    reported: bool
    values: Mapping[str, float]
    """Column key -> percent; a missing key is a missing cell."""
    task_runs: Mapping[str, TaskRun] = field(default_factory=dict)
    """Task column key -> the measured result behind it (empty for reported rows)."""
    marks: Mapping[str, str] = field(default_factory=dict)
    """Column key -> ``best`` or ``second`` (measured rows only)."""
    intervals: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """Column key -> 95% bootstrap interval in percent."""
    significant: frozenset[str] = frozenset()
    """Columns where this best row beats every runner-up significantly (paired bootstrap)."""
    failed_columns: frozenset[str] = frozenset()
    """Cells whose run had failed samples (``n_errors`` > 0, scored as wrong), and averages over them."""
    partial_columns: frozenset[str] = frozenset()
    """Cells scored on a ``--limit`` sample, and averages over such cells: other items than the
    full runs', so shown flagged but never ranked against them."""
    ss_encoder: str | None = None
    """The text encoder of an SS_relative row when it is not the paper's (then never ranked)."""
    rank: int | None = None
    """Position by the overall average among ranked rows (1 = best; ties share a rank)."""

    @property
    def ranked(self) -> bool:
        """Measured on the full items with the paper's scorer inputs: comparable with the others."""
        return not self.reported and self.ss_encoder is None

    @property
    def sources(self) -> tuple[Path, ...]:
        return tuple(dict.fromkeys(t.results_path for t in self.task_runs.values()))


@dataclass(frozen=True)
class Table:
    spec: TableSpec
    setting: Setting
    rows: tuple[Row, ...]
    """In display order: grouped by family, in ``FAMILY_GROUPS`` order."""
    columns: tuple[Column, ...] = COLUMNS
    benchmark: str = ""
    """Empty for the paper's six datasets; else the one other dataset this table shows."""

    @property
    def id(self) -> str:
        benchmark = self.benchmark if is_safe_name(self.benchmark) else slug(self.benchmark)
        return f"table{self.spec.number}-{self.setting.slug}" + (f"-{benchmark}" if self.benchmark else "")

    @property
    def title(self) -> str:
        """``Table 1: Closed-world accuracy (%)``, or ``synth: Closed-world accuracy (%)``."""
        return f"{self.benchmark or f'Table {self.spec.number}'}: {self.spec.title}"

    def datasets(self) -> list[tuple[str, str]]:
        """(dataset, label) of the task columns, in column order."""
        return list(dict.fromkeys((c.dataset, c.label) for c in self.columns if c.dataset is not None))

    def groups(self) -> list[tuple[str, list[Row]]]:
        labels = dict(FAMILY_GROUPS)
        order = [family for family, _ in FAMILY_GROUPS]
        families = sorted({r.family for r in self.rows}, key=lambda f: (order.index(f) if f in order else len(order), f))
        return [(labels.get(f, f), [r for r in self.rows if r.family == f]) for f in families]


def with_averages(cells: Mapping[str, float], columns: Sequence[Column] = COLUMNS) -> dict[str, float]:
    """Task cells plus every average whose members are all present (columns in dependency order)."""
    values = dict(cells)
    for column in columns:
        if column.is_average and all(m in values for m in column.members):
            values[column.key] = sum(values[m] for m in column.members) / len(column.members)
    return values


def failed_keys(task_runs: Mapping[str, TaskRun], columns: Sequence[Column] = COLUMNS) -> frozenset[str]:
    """Cells whose run had failed samples (``n_errors`` > 0), and averages over them."""
    failed = {key for key, task_run in task_runs.items() if task_run.n_errors}
    for column in columns:
        if column.is_average and failed.intersection(column.members):
            failed.add(column.key)
    return frozenset(failed)


def partial_keys(task_runs: Mapping[str, TaskRun], columns: Sequence[Column] = COLUMNS) -> frozenset[str]:
    partial = {key for key, task_run in task_runs.items() if task_run.partial}
    for column in columns:
        if column.is_average and partial.intersection(column.members):
            partial.add(column.key)
    return frozenset(partial)


def short_encoder(name: str) -> str:
    """``google/siglip-base-patch16-256`` -> ``siglip-base-patch16-256``; a local folder -> its name."""
    return Path(name.rstrip("/")).name or name


def measured_rows(spec: TableSpec, setting: Setting, runs: Sequence[Run], names: Mapping[str, str],
                  columns: Sequence[Column] = COLUMNS, include_generated: bool = True) -> list[Row]:
    """One row per run key (display name, else model name); several runs of a model (e.g. closed
    and open tasks run apart) merge, but two results for the same cell, or one column from different
    task versions, are an error. ``include_generated=False`` leaves out results on generated items."""
    placed = task_keys(columns)
    cells: dict[str, dict[str, TaskRun]] = {}
    first_run: dict[str, Run] = {}
    first_in_column: dict[str, TaskRun] = {}
    for run in runs:
        for task_run in run.tasks.values():
            key = task_column_key(task_run.dataset, task_run.split)
            if task_run.setting != setting or task_run.world != spec.world or key not in placed:
                continue
            if spec.metric not in task_run.metrics or (task_run.generated and not include_generated):
                continue
            ensure_same_task(first_in_column.setdefault(key, task_run), task_run)
            model_cells = cells.setdefault(run.key, {})
            if key in model_cells:
                raise MixedResultsError(
                    f"model {run.key!r} has two results for {task_run.task} ({setting.label}): "
                    f"{model_cells[key].results_path} and {task_run.results_path}; give only one, "
                    "or tell them apart with `finebench run --name`"
                )
            model_cells[key] = task_run
            first_run.setdefault(run.key, run)
    rows = []
    for key, model_cells in cells.items():
        run = first_run[key]
        encoder = run.ss_encoder if spec.metric == "ss_relative" and run.ss_encoder != PAPER_SS_ENCODER else None
        label = names.get(run.model, run.model) if run.display_name is None else run.display_name
        if any(t.generated == "demo" for t in model_cells.values()):
            label += " (demo)"
        if encoder:
            label += f" [SS: {short_encoder(encoder)}]"
        rows.append(Row(
            key=key,
            label=label,
            family=run.family,
            reported=False,
            values=with_averages({k: t.metrics[spec.metric] for k, t in model_cells.items()}, columns),
            task_runs=model_cells,
            partial_columns=partial_keys(model_cells, columns),
            failed_columns=failed_keys(model_cells, columns),
            ss_encoder=encoder,
        ))
    return rows


def reported_rows(spec: TableSpec, reported: Sequence[ReportedModel]) -> list[Row]:
    rows = []
    for model in reported:
        cells = {
            task_column_key(dataset, split): value
            for (dataset, world, split), value in model.values.get(spec.metric, {}).items()
            if world == spec.world and task_column_key(dataset, split) in task_keys(COLUMNS)
        }
        if cells:
            rows.append(Row(model.name + REPORTED, model.label + REPORTED, model.family, True, with_averages(cells)))
    return rows


def interleave(measured: list[Row], reported: list[Row]) -> list[Row]:
    """Measured rows in input order, each model's reported row right below its measured one (the
    comparison a reader wants), remaining reported rows after them."""
    pending = {r.key.removesuffix(REPORTED): r for r in reported}
    ordered = []
    for row in measured:
        ordered.append(row)
        if row.key in pending:
            ordered.append(pending.pop(row.key))
    return ordered + list(pending.values())


def rank_marks(values: Mapping[str, float]) -> dict[str, str]:
    """Dense ranking at display precision: every row tied for the best value is ``best``, every
    row at the next distinct value ``second``. Nothing is marked with fewer than two values."""
    if len(values) < 2:
        return {}
    rounded = {key: round(value, DECIMALS) for key, value in values.items()}
    distinct = sorted(set(rounded.values()), reverse=True)
    marks = {key: "best" for key, value in rounded.items() if value == distinct[0]}
    if len(distinct) > 1:
        marks.update({key: "second" for key, value in rounded.items() if value == distinct[1]})
    return marks


def competition_ranks(values: Mapping[str, float]) -> dict[str, int]:
    """1 for the best value, ties (at display precision) share a rank, the next rank skips them."""
    rounded = {key: round(value, DECIMALS) for key, value in values.items()}
    return {key: 1 + sum(other > value for other in rounded.values()) for key, value in rounded.items()}


def with_marks(rows: list[Row], columns: Sequence[Column] = COLUMNS) -> list[Row]:
    """Best/second marks per column, and a rank by the overall average, among measured full-item
    rows scored with the paper's encoder; reported rows are reference only and never take a mark
    away from a measured result."""
    marks: dict[str, dict[str, str]] = {}
    for column in columns:
        values = {
            r.key: r.values[column.key]
            for r in rows
            if r.ranked and column.key in r.values and column.key not in r.partial_columns
        }
        for row_key, mark in rank_marks(values).items():
            marks.setdefault(row_key, {})[column.key] = mark
    overall = columns[-1].key
    ranks = competition_ranks({
        r.key: r.values[overall] for r in rows if r.ranked and overall in r.values and overall not in r.partial_columns
    })
    return [replace(r, marks=marks.get(r.key, {}), rank=ranks.get(r.key)) for r in rows]


def build_table(
    spec: TableSpec, setting: Setting, runs: Sequence[Run], reported: Sequence[ReportedModel], names: Mapping[str, str],
    benchmark: str = "", include_generated: bool = False,
) -> Table:
    """The paper's table, or with ``benchmark`` the same table for that one other dataset (no
    reported rows: the paper has none for it, and its items may be generated: that is its point)."""
    columns = layout_columns([(benchmark, benchmark)]) if benchmark else COLUMNS
    measured = measured_rows(spec, setting, runs, names, columns, include_generated=include_generated or bool(benchmark))
    rows = interleave(measured, reported_rows(spec, reported) if setting.is_paper and not benchmark else [])
    family_order = [f for f, _ in FAMILY_GROUPS]
    rows.sort(key=lambda r: family_order.index(r.family) if r.family in family_order else len(family_order))
    return Table(spec, setting, tuple(with_marks(rows, columns)), columns, benchmark)


def settings_of(runs: Sequence[Run], with_reported: bool) -> list[Setting]:
    """Settings present, the paper's first (it is the one reported numbers belong to)."""
    settings = {t.setting for run in runs for t in run.tasks.values()}
    if with_reported:
        settings.add(PAPER_SETTING)
    return sorted(settings, key=lambda s: (not s.is_paper, s.protocol, s.option_order or ""))


def build_tables(runs: Sequence[Run], reported: Sequence[ReportedModel], names: Mapping[str, str],
                 include_generated: bool = False) -> list[Table]:
    """Every (setting, paper table) pair that has at least one row, then the same tables for each
    other dataset the runs have (sorted by name). Results on generated items (the demo) enter the
    paper's tables only with ``include_generated``."""
    others = sorted({t.dataset for run in runs for t in run.tasks.values()} - PAPER_DATASETS)
    tables = []
    for setting in settings_of(runs, bool(reported)):
        for benchmark in ("", *others):
            for spec in TABLE_SPECS:
                table = build_table(spec, setting, runs, reported, names, benchmark, include_generated)
                if table.rows:
                    tables.append(table)
    return tables
