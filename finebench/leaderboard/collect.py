"""Loading results directories (and paper-reported numbers) for the leaderboard.

A score depends on more than the model and the task name: the protocol (scorer), the option order,
the task's version and config, and the item file. ``Setting`` and ``TaskRun.identity`` carry these
so that results that are not comparable are never silently put into one column.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finebench.evaluation.results import SCHEMA_VERSION
from finebench.models.cards import ModelCard
from finebench.tasks.config import METRICS_BY_WORLD
from finebench.tasks.index import TaskIndex
from finebench.util.errors import ConfigError, FinebenchError

PAPER_PROTOCOL = "fine-r1"
PAPER_OPTION_ORDER = "release"
REQUIRED_TASK_META = ("dataset", "world", "split", "protocol", "version", "config_hash")


class MixedResultsError(FinebenchError):
    """Two results that would share a leaderboard cell or column are not comparable."""


@dataclass(frozen=True, order=True)
class Setting:
    """How a task was scored: one leaderboard section per setting."""

    protocol: str
    option_order: str | None
    """As recorded in the results' task entry; None for results written before it was recorded."""

    @property
    def is_paper(self) -> bool:
        """The paper's own protocol, the only setting its reported numbers can be compared with."""
        return self.protocol == PAPER_PROTOCOL and self.option_order == PAPER_OPTION_ORDER

    @property
    def label(self) -> str:
        order = "option order not recorded" if self.option_order is None else f"options {self.option_order}"
        return f"protocol {self.protocol}, {order}"

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", f"{self.protocol} {self.option_order or 'unrecorded'}".lower()).strip("-")


PAPER_SETTING = Setting(PAPER_PROTOCOL, PAPER_OPTION_ORDER)


@dataclass(frozen=True)
class TaskRun:
    """One finished task of one run."""

    task: str
    dataset: str
    world: str
    split: str
    setting: Setting
    version: Any
    config_hash: str
    items_sha256: str | None
    metrics: Mapping[str, float]
    """Percent, mean over trials (``no_answer`` included)."""
    n: int
    n_items_total: int | None
    results_path: Path

    @property
    def identity(self) -> tuple[Any, ...]:
        """What must be equal for two runs of this task to share a column."""
        return (self.task, self.version, self.config_hash, self.items_sha256)

    @property
    def partial(self) -> bool:
        """Scored on a ``--limit`` sample, not on every item."""
        return self.n_items_total is not None and self.n < self.n_items_total


@dataclass(frozen=True)
class Run:
    results_path: Path
    model: str
    family: str
    created: str
    tasks: Mapping[str, TaskRun]
    general: Mapping[str, float] = field(default_factory=dict)
    """General-capability benchmark -> score (``general`` in results.json, see finebench.interop.general)."""


def resolve_results_path(path: Path) -> Path:
    path = Path(path)
    candidate = path / "results.json" if path.is_dir() else path
    if not candidate.is_file():
        raise FinebenchError(f"{path}: no results.json found (give a results directory or the file itself)")
    return candidate


def _task_run(task: str, summary: Any, meta: Any, path: Path) -> TaskRun:
    if not isinstance(summary, dict) or not isinstance(meta, dict):
        raise FinebenchError(f"{path}: results.{task} and tasks.{task} must be mappings")
    missing = [k for k in REQUIRED_TASK_META if k not in meta]
    if missing:
        raise FinebenchError(f"{path}: tasks.{task} lacks {', '.join(missing)}")
    metrics = {k: float(v) for k, v in summary.items() if f"{k}_trials" in summary}
    return TaskRun(
        task=task,
        dataset=meta["dataset"],
        world=meta["world"],
        split=meta["split"],
        setting=Setting(meta["protocol"], meta.get("option_order")),
        version=meta["version"],
        config_hash=meta["config_hash"],
        items_sha256=meta.get("items_sha256"),
        metrics=metrics,
        n=int(summary.get("n", 0)),
        n_items_total=meta.get("n_items_total"),
        results_path=path,
    )


def load_run(path: Path) -> Run:
    """One ``results.json`` (or its directory), validated against the documented schema."""
    path = resolve_results_path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FinebenchError(f"{path}: invalid JSON ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        raise FinebenchError(f"{path}: not a finebench results file of schema_version {SCHEMA_VERSION}")
    for key in ("model", "results", "tasks"):
        if not isinstance(data.get(key), dict):
            raise FinebenchError(f"{path}: key {key!r} missing or not a mapping")
    model = data["model"]
    if not isinstance(model.get("name"), str):
        raise FinebenchError(f"{path}: model.name missing")
    tasks = {}
    for task, summary in data["results"].items():
        if task not in data["tasks"]:
            raise FinebenchError(f"{path}: results.{task} has no tasks.{task} entry")
        tasks[task] = _task_run(task, summary, data["tasks"][task], path)
    return Run(path, model["name"], model.get("family") or "general-mllm", str(data.get("created", "")), tasks,
               _general_scores(data.get("general", {}), path))


def _general_scores(general: Any, path: Path) -> dict[str, float]:
    if not isinstance(general, dict):
        raise FinebenchError(f"{path}: key 'general' must be a mapping")
    scores = {}
    for name, entry in general.items():
        score = entry.get("score") if isinstance(entry, dict) else None
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise FinebenchError(f"{path}: general.{name}.score must be a number")
        scores[name] = float(score)
    return scores


def load_runs(paths: Iterable[Path]) -> list[Run]:
    """Runs in the order given; the same file given twice is read once."""
    runs: dict[Path, Run] = {}
    for path in paths:
        run = load_run(path)
        runs.setdefault(run.results_path.resolve(), run)
    return list(runs.values())


def ensure_same_task(a: TaskRun, b: TaskRun) -> None:
    """Refuse to compare two results of one column made with different task definitions or items."""
    if a.identity != b.identity:
        fields = ("task", "version", "config_hash", "items_sha256")
        diffs = ", ".join(f"{f} {x!r} vs {y!r}" for f, x, y in zip(fields, a.identity, b.identity) if x != y)
        raise MixedResultsError(
            f"{a.dataset} {a.world} {a.split} ({a.setting.label}) differs between {a.results_path} and "
            f"{b.results_path}: {diffs}; re-run one of them with the same task version and items"
        )


@dataclass(frozen=True)
class ReportedModel:
    """Numbers a paper reported for a model (``reported`` in its card): reference, never measured."""

    name: str
    label: str
    family: str
    values: Mapping[str, Mapping[tuple[str, str, str], float]]
    """metric -> (dataset, world, split) -> percent."""
    source: str


def reported_models(cards: Sequence[ModelCard], index: TaskIndex | None = None) -> list[ReportedModel]:
    """Cards' ``reported`` blocks, ``{metric: {task: percent}}``, placed by the shipped task files."""
    index = index or TaskIndex()
    placed: dict[str, tuple[str, str, str]] = {}
    models = []
    for card in cards:
        if not card.reported:
            continue
        values: dict[str, dict[tuple[str, str, str], float]] = {}
        for metric, per_task in card.reported.items():
            if not isinstance(per_task, dict):
                raise ConfigError(f"{card.source_file}: reported.{metric} must map task names to numbers")
            for task, value in per_task.items():
                where = f"{card.source_file}: reported.{metric}.{task}"
                if task not in index.tasks:
                    raise ConfigError(f"{where}: unknown task (see `finebench ls`)")
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(f"{where} must be a number (percent)")
                if task not in placed:
                    config = index.load(task)
                    placed[task] = (config.dataset, config.world, config.split)
                world = placed[task][1]
                if metric not in METRICS_BY_WORLD[world]:
                    raise ConfigError(f"{where}: {world}-world tasks report {', '.join(METRICS_BY_WORLD[world])}, not {metric!r}")
                values.setdefault(metric, {})[placed[task]] = float(value)
        label = card.display_name or card.name
        models.append(ReportedModel(card.name, label, card.family, values, card.source_file))
    return models


def display_names(cards: Sequence[ModelCard]) -> dict[str, str]:
    return {card.name: card.display_name for card in cards if card.display_name}
