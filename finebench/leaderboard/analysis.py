"""Per-task error analysis of one run, from its samples logs (``finebench analyze RUN``).

A leaderboard cell says how often a model is right; this says where it is wrong: which classes,
which class pairs it confuses, whether it follows the answer format, and how much it drops from
seen to unseen categories.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from finebench.leaderboard.circular import (
    CircularResult,
    ProtocolGap,
    circular_result,
    circular_tasks,
    protocol_gaps,
)
from finebench.leaderboard.collect import Run
from finebench.leaderboard.samples import read_samples, sample_score, samples_path

PRIMARY_METRIC = {"closed": "accuracy", "open": "inclusion"}
"""The 0/1 metric whose per-class breakdown is reported for each world."""
RESPONSE_FORMAT = re.compile(r"\s*<think>.*?</think>\s*<answer>.*?</answer>\s*", re.DOTALL)
"""The format every task prompt asks for: reasoning in <think>, then the answer in <answer>."""
TOP_CONFUSIONS = 20


def normalise(text: str) -> str:
    """Case and whitespace do not make a different class name."""
    return " ".join(text.casefold().split())


@dataclass(frozen=True)
class ClassScore:
    name: str
    n: int
    """Samples (items x trials) of this class."""
    score: float
    """Percent."""


@dataclass(frozen=True)
class ConfusionPair:
    target: str
    answer: str
    """Another class name, as spelled in the options (closed world) or the task's targets (open)."""
    count: int


@dataclass(frozen=True)
class TaskAnalysis:
    task: str
    world: str
    metric: str
    n_samples: int
    n_errors: int
    per_class: tuple[ClassScore, ...]
    """Ascending score, so the hardest classes come first."""
    confusions: tuple[ConfusionPair, ...]
    format_compliance: float
    """Percent of responses with exactly the <think>...</think> <answer>...</answer> layout."""
    no_answer_rate: float
    """Percent of samples without a complete answer tag (the scorer's ``no_answer``)."""
    mean_response_chars: float
    mean_response_words: float


def per_class_scores(rows: Sequence[Mapping[str, Any]], metric: str, where: str) -> tuple[ClassScore, ...]:
    by_class: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        by_class[row["target"]].append(sample_score(row, metric, where))
    scores = [ClassScore(name, len(v), sum(v) / len(v) * 100) for name, v in by_class.items()]
    return tuple(sorted(scores, key=lambda c: (c.score, c.name)))


def confusion_pairs(rows: Sequence[Mapping[str, Any]], world: str, top_k: int = TOP_CONFUSIONS) -> tuple[ConfusionPair, ...]:
    """(target, answer) pairs where the answer names another class: another shown option in the
    closed world, another class of the task in the open world (free text naming no class is not a
    confusion between classes)."""
    vocabulary = {normalise(row["target"]): row["target"] for row in rows}
    counts: Counter[tuple[str, str]] = Counter()
    for row in rows:
        answer = row.get("answer")
        if not isinstance(answer, str):
            continue
        known = {normalise(o): o for o in row.get("options") or []} if world == "closed" else vocabulary
        matched = known.get(normalise(answer))
        if matched is not None and normalise(matched) != normalise(row["target"]):
            counts[(row["target"], matched)] += 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(ConfusionPair(target, answer, count) for (target, answer), count in ranked[:top_k])


def analyse_task(task: str, world: str, rows: Sequence[Mapping[str, Any]], where: str, top_k: int = TOP_CONFUSIONS) -> TaskAnalysis:
    metric = PRIMARY_METRIC[world]
    responses = [row["response"] for row in rows if isinstance(row.get("response"), str)]
    n = len(rows)
    return TaskAnalysis(
        task=task,
        world=world,
        metric=metric,
        n_samples=n,
        n_errors=sum(1 for row in rows if row.get("error")),
        per_class=per_class_scores(rows, metric, where),
        confusions=confusion_pairs(rows, world, top_k),
        format_compliance=_percent(sum(1 for r in responses if RESPONSE_FORMAT.fullmatch(r)), len(responses)),
        no_answer_rate=_percent(sum(1 for row in rows if row.get("no_answer")), n),
        mean_response_chars=sum(len(r) for r in responses) / len(responses) if responses else 0.0,
        mean_response_words=sum(len(r.split()) for r in responses) / len(responses) if responses else 0.0,
    )


def _percent(part: int, whole: int) -> float:
    return part / whole * 100 if whole else 0.0


@dataclass(frozen=True)
class SplitGap:
    dataset: str
    world: str
    metric: str
    setting: str
    seen: float
    unseen: float

    @property
    def gap(self) -> float:
        return self.seen - self.unseen


def seen_unseen_gaps(run: Run) -> tuple[SplitGap, ...]:
    """Seen minus unseen per dataset, world, setting and metric where the run has both splits."""
    by_key = {(t.dataset, t.world, t.setting.label, t.split): t for t in run.tasks.values()}
    gaps = []
    for (dataset, world, setting, split), seen in sorted(by_key.items(), key=lambda kv: kv[0]):
        unseen = by_key.get((dataset, world, setting, "unseen"))
        if split != "seen" or unseen is None:
            continue
        for metric in sorted(m for m in seen.metrics if m in unseen.metrics and m != "no_answer"):
            gaps.append(SplitGap(dataset, world, metric, setting, seen.metrics[metric], unseen.metrics[metric]))
    return tuple(gaps)


@dataclass(frozen=True)
class RunAnalysis:
    run: Run
    tasks: tuple[TaskAnalysis, ...]
    split_gaps: tuple[SplitGap, ...]
    circular: tuple[CircularResult, ...]
    protocol_gaps: tuple[ProtocolGap, ...]
    missing_samples: tuple[str, ...]
    """Tasks without a samples file, so without a per-task analysis."""


def analyse_run(run: Run, *, shuffled: Run | None, n_resamples: int, seed: int, top_k: int = TOP_CONFUSIONS) -> RunAnalysis:
    """Everything ``finebench analyze`` reports; CircularEval numbers for tasks run with circular
    options, and the paper-vs-shuffled gap when a shuffled run of the same model is given."""
    tasks, missing, circular = [], [], []
    circular_names = set(circular_tasks(run))
    for name, task_run in run.tasks.items():
        path = samples_path(run.results_path, name)
        if not path.is_file():
            missing.append(name)
            continue
        rows = read_samples(path)
        tasks.append(analyse_task(name, task_run.world, rows, str(path), top_k))
        if name in circular_names:
            circular.append(circular_result(name, rows, str(path)))
    gaps = protocol_gaps(run, shuffled, n_resamples, seed) if shuffled is not None else []
    return RunAnalysis(run, tuple(tasks), seen_unseen_gaps(run), tuple(circular), tuple(gaps), tuple(missing))
